"""Every metric name the exporter can emit, for checking what dashboards and rules reference:
the compatibility floor's names plus every name declared in redis_ha_exporter/metrics/names.py, with
the sample suffixes of summaries and the runtime collectors' series."""

from __future__ import annotations

import json
from functools import cache

from redis_ha_exporter.metrics import names as n
from tests.conftest import ROOT

RUNTIME_PREFIXES = ("process_", "python_")


@cache
def emitted() -> frozenset[str]:
    floor = json.loads((ROOT / "tests/fixtures/compat_floor.json").read_text())["nodes"]
    found: set[str] = {name for node in floor.values() for name in node}
    defs = [v for v in vars(n).values() if isinstance(v, n.MetricDef)]
    for value in vars(n).values():
        if isinstance(value, dict):
            defs += [d for d in value.values() if isinstance(d, n.MetricDef)]
    for defn in defs:
        found.add(defn.name)
        if defn.type in ("summary", "histogram"):
            found |= {f"{defn.name}_sum", f"{defn.name}_count"}
    found |= {f"{n.NAMESPACE}_{m}" for m in (*n.INFO_GAUGES.values(), *n.INFO_COUNTERS.values())}
    found.add("redis_latest_fork_seconds")
    return frozenset(found)


def is_emitted(name: str) -> bool:
    """`name` is a series the exporter emits (cluster_* INFO fields are passed through)."""
    return (
        name in emitted()
        or name.startswith(RUNTIME_PREFIXES)
        or name.startswith("redis_cluster_")
        or name == "up"  # Prometheus' own per-target series
    )
