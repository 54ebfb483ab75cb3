"""Sans-IO HTTP semantics: pure functions of a request and a file's metadata.

Nothing in this package opens a file, touches a socket or reads a clock implicitly.
"""
