"""redis-ha-exporter: a Prometheus exporter for Redis masters, replicas and Sentinels."""

from __future__ import annotations

__version__ = "0.1.0"
