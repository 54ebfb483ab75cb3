"""The only place that decides when the disk may be touched, and from where."""
