"""What one poll of one node costs the renderer, from the captured master replies: INFO's lines
from the builders against from INFO's template, and the whole node body either way; hot (back
to back) and cold (after 10 ms asleep), medians in microseconds.

    python -m bench.render_info [--runs 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from redis_ha_exporter.exposition import NodeBodies
from redis_ha_exporter.metrics.model import FamilyBuilder, Packed, Plans, merge
from redis_ha_exporter.metrics.node import node_families
from redis_ha_exporter.sources import ALL, info
from redis_ha_exporter.sources.info import InfoRecord, parse_info
from redis_ha_exporter.sources.info_probe import Templates
from tests.unit.captured import FLAVORS, snapshot

COLD_SLEEP = 0.01


def median_us(call: Callable[[], object], runs: int, cold: bool) -> float:
    times = []
    for _ in range(runs):
        if cold:
            time.sleep(COLD_SLEEP)
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def cases(flavor: str) -> dict[str, Callable[[], object]]:
    snap = snapshot(flavor, "master")
    record = snap.get(InfoRecord)
    assert record is not None
    raw, instance = record.raw, snap.instance
    templates = Templates()
    plans: Plans = {}
    found = templates.fill(raw, instance, None)
    assert found is not None
    template = found[1]
    bodies = NodeBodies(ALL)
    current = bodies.packed(snap, True, None)[1]

    def info_builder() -> Packed:
        b = FamilyBuilder(instance)
        sections = parse_info(raw)
        parsed = InfoRecord.of(sections, raw)
        info.templated(sections, b)
        info.families(snap, parsed, b)
        return b.packed()

    def info_template() -> Packed:
        filled = templates.fill(raw, instance, template)
        assert filled is not None
        b = FamilyBuilder(instance)
        info.families(snap, record, b)
        return merge(filled[0], b.packed(), plans)

    return {
        "parse_info (in the poll)": lambda: parse_info(raw),
        "INFO: parse_info + builder + packing": info_builder,
        "INFO: template fill alone": lambda: templates.fill(raw, instance, template),
        "INFO: template fill + builder part + merge": info_template,
        "node body, builders only": lambda: node_families(snap, ALL, include_data=True).packed(),
        "node body, as the renderer makes it": lambda: bodies.packed(snap, True, current),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=1000, help="calls per figure (cold: 10 ms each)"
    )
    args = parser.parse_args()
    for flavor in FLAVORS:
        print(f"{flavor} master   hot µs   cold µs")
        for name, call in cases(flavor).items():
            hot = median_us(call, args.runs, cold=False)
            cold = median_us(call, max(args.runs // 5, 50), cold=True)
            print(f"  {name:<44} {hot:7.0f} {cold:9.0f}")


if __name__ == "__main__":
    main()
