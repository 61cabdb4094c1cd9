"""One module per command family; `ALL` is the registry a poll runs, INFO first."""

from __future__ import annotations

from typing import Any

from redis_ha_exporter.sources import config, info, latency, sentinel, slowlog
from redis_ha_exporter.sources.base import Source

ALL: tuple[Source[Any], ...] = (
    info.SOURCE,  # first: every other source parses after it and may read it
    config.SOURCE,
    slowlog.SOURCE,
    latency.SOURCE,
    sentinel.SOURCE,
)
