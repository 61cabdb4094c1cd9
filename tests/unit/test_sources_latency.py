"""redis_ha_exporter.sources.latency: LATENCY LATEST replies."""

from __future__ import annotations

from typing import Any

import pytest

from redis_ha_exporter.sources.latency import LatencyEvent, parse_latency
from tests.unit.captured import FLAVORS, load_json, wire


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_latency_latest_gives_one_event_per_row(flavor: str) -> None:
    raw = load_json(f"latency_{flavor}.json")
    # Valkey 8 appends sum and count columns to Redis 7.0's four; the first three are shared.
    assert len(raw[0]) == (4 if flavor.startswith("redis") else 6)
    assert parse_latency(wire(raw)) == tuple(LatencyEvent(r[0], r[1], r[2]) for r in raw)


def test_parse_latency_skips_short_and_non_numeric_rows() -> None:
    reply: list[Any] = [
        [b"command", 1700000000, 25, 30],
        [b"fork", b"1700000001", b"7"],
        [b"short", 1],
        [b"bad", b"when", 3],
        None,
    ]
    assert parse_latency(reply) == (
        LatencyEvent("command", 1700000000, 25),
        LatencyEvent("fork", 1700000001, 7),
    )


@pytest.mark.parametrize("reply", [None, b"ERR", 5])
def test_parse_latency_of_a_non_list_reply_is_empty(reply: Any) -> None:
    assert parse_latency(reply) == ()
