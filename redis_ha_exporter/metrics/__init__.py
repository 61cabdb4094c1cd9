"""Snapshot -> metric families. Pure functions: no I/O, no clocks except where passed in."""
