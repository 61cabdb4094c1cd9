"""redis_ha_exporter.sources.latency: LATENCY LATEST replies."""

from __future__ import annotations

from typing import Any

import pytest

from redis_ha_exporter.sources.latency import LatencyEvent, parse_latency
from tests.unit.captured import FLAVORS, captured_exposition, load_json, wire


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_latency_latest_gives_one_event_per_row(flavor: str) -> None:
    raw = load_json(f"latency_{flavor}.json")
    # Valkey 8 appends sum and count columns to Redis 7.0's four; the first three are shared.
    assert len(raw[0]) == (4 if flavor.startswith("redis") else 6)
    valkey = flavor.startswith("valkey")
    assert parse_latency(wire(raw)) == tuple(
        LatencyEvent(r[0], r[1], r[2], *((r[4], r[5]) if valkey else (None, None))) for r in raw
    )


@pytest.mark.parametrize("flavor", FLAVORS)
def test_valkey_spike_counts_and_sums_are_counters_and_redis_has_none(flavor: str) -> None:
    raw = load_json(f"latency_{flavor}.json")
    exp = captured_exposition(flavor, "master")
    for row in raw:
        if flavor.startswith("valkey"):
            assert exp.types["redis_latency_spikes_total"] == "counter"
            assert exp.value("redis_latency_spikes_total", event_name=row[0]) == row[5]
            assert exp.value(
                "redis_latency_spikes_duration_seconds_total", event_name=row[0]
            ) == pytest.approx(row[4] / 1e3)
        else:
            assert "redis_latency_spikes_total" not in exp.types


def test_a_row_with_unreadable_sum_or_count_keeps_its_latest_spike() -> None:
    (event,) = parse_latency([[b"fork", 1700000000, 7, 9, b"x", 2]])
    assert (event.latest_ms, event.sum_ms, event.count) == (7, None, None)


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
