"""Benchmarks of the exporter, beside redis_exporter where it applies (`make bench`); never part of
pass/fail, never shipped."""
