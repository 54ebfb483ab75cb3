"""Flash's caches: pathname translation (with the response headers it carries) and small bodies."""
