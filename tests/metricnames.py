"""Every metric name the exporter can emit, for checking what dashboards and rules reference:
the compatibility floor's names plus every name the package declares (`metrics/names.py` and
each source's), with the sample suffixes of summaries and histograms, and the runtime
collectors' series."""

from __future__ import annotations

import json
from functools import cache

from redis_ha_exporter import sources
from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import MetricDef, declared
from tests.conftest import ROOT

RUNTIME_PREFIXES = ("process_", "python_")


def declared_defs() -> tuple[MetricDef, ...]:
    """Every MetricDef of the package: the exporter's own and each source's."""
    return (*declared(vars(n)), *sources.metric_defs())


@cache
def emitted() -> frozenset[str]:
    floor = json.loads((ROOT / "tests/fixtures/compat_floor.json").read_text())["nodes"]
    found: set[str] = {name for node in floor.values() for name in node}
    for defn in declared_defs():
        found.add(defn.name)
        if defn.type in ("summary", "histogram"):
            found |= {f"{defn.name}_sum", f"{defn.name}_count"}
        if defn.type == "histogram":
            found.add(f"{defn.name}_bucket")
    return frozenset(found)


def is_emitted(name: str) -> bool:
    """`name` is a series the exporter emits (cluster_* INFO fields are passed through)."""
    return (
        name in emitted()
        or name.startswith(RUNTIME_PREFIXES)
        or name.startswith("redis_cluster_")
        or name == "up"  # Prometheus' own per-target series
    )
