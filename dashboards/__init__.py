"""Grafana dashboards for redis-ha-exporter, generated from Python with grafana-foundation-sdk:
`python -m dashboards.generate` writes the JSON files beside this module."""
