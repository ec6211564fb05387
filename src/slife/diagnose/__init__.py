"""Diagnostics of the learning machinery on tasks with known answers (``slife diagnose ...``)."""
