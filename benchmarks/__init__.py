"""Benchmarks for flashstatic: a slow FUSE disk, a SPECweb99-like file set, the disk-bound runner."""
