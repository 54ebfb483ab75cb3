"""The only place that emits response messages or touches sockets."""
