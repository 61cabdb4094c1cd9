"""redis-ha-exporter: a Prometheus exporter for Redis masters, replicas and Sentinels."""

from __future__ import annotations

# The one place the version is set: pyproject.toml reads it, and the Dockerfile's VERSION label
# is checked against it.
__version__ = "0.1.0"
