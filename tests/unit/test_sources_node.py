"""exporter.sources.node: LATENCY LATEST and CONFIG GET replies."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.sources.node import CONFIG_PARAMS, LatencyEvent, parse_config, parse_latency
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


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_config_get_holds_every_requested_parameter(flavor: str) -> None:
    raw = load_json(f"config_{flavor}.json")
    config = parse_config([wire(raw)])
    assert set(config) == set(CONFIG_PARAMS)
    assert config == dict(zip(raw[0::2], raw[1::2], strict=True))
    assert config["maxmemory"] == str(64 * 1024 * 1024)
    assert config["maxmemory-policy"] == "allkeys-lru"


def test_parse_config_merges_one_reply_per_parameter() -> None:
    # Redis < 7 needs one CONFIG GET per parameter; an error reply contributes nothing.
    replies: list[Any] = [[b"maxmemory", b"0"], [b"databases", b"16"], Exception("ERR"), None]
    assert parse_config(replies) == {"maxmemory": "0", "databases": "16"}
