"""redis_ha_exporter.sources.latency_histogram: LATENCY HISTOGRAM replies as Prometheus
histograms, from captured Redis 7.0, Valkey 8.1 and Valkey 9.1 replies."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_ha_exporter.sources.base import NodeView, PollOptions
from redis_ha_exporter.sources.latency_histogram import (
    EXCLUDE,
    MAX_COMMANDS,
    LatencyHistogramRecord,
    commands,
    parse_histograms,
)
from tests.unit.captured import (
    FLAVORS,
    captured_exposition,
    exposition,
    info_text,
    load_json,
    raw_fields,
    snapshot,
    wire,
    with_records,
)

NAME = "redis_commands_latencies_usec"


def captured(flavor: str) -> Any:
    for command, reply in load_json(f"commands_{flavor}_master.json"):
        if command[:2] == ["LATENCY", "HISTOGRAM"]:
            return reply
    raise AssertionError(f"no LATENCY HISTOGRAM captured for {flavor}")


def test_redis_7_and_valkey_are_asked_redis_6_and_excluded_nodes_are_not() -> None:
    assert commands(NodeView("n", "data", (7, 0, 15)), None) == [("LATENCY", "HISTOGRAM")]
    assert commands(NodeView("n", "data", (7, 2, 4), valkey=(9, 1, 2)), None)
    assert commands(NodeView("n", "data", (6, 2, 14)), None) == ()
    excluded = PollOptions({EXCLUDE.name: True})
    assert commands(NodeView("n", "data", (7, 0, 15), options=excluded), None) == ()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_histograms_are_read_per_command_with_their_calls(flavor: str) -> None:
    raw = captured(flavor)
    parsed = parse_histograms(wire(raw))
    expected = {}
    for cmd, body in zip(raw[0::2], raw[1::2], strict=True):
        fields = dict(zip(body[0::2], body[1::2], strict=True))
        bins = fields["histogram_usec"]
        expected[cmd] = (fields["calls"], tuple(zip(bins[0::2], bins[1::2], strict=True)))
    assert parsed == expected
    for calls, buckets in parsed.values():
        counts = [count for _, count in buckets]
        assert counts == sorted(counts) and counts[-1] == calls  # cumulative, as sent


@pytest.mark.parametrize("flavor", FLAVORS)
def test_each_command_renders_cumulative_buckets_inf_sum_and_count(flavor: str) -> None:
    expo = captured_exposition(flavor, "master")
    assert expo.types[NAME] == "histogram"
    usec = {}
    for key, value in raw_fields(info_text(flavor, "master")).items():
        if key.startswith("cmdstat_"):
            stats = dict(part.split("=", 1) for part in value.split(","))
            usec[key.removeprefix("cmdstat_")] = float(stats["usec"])
    parsed = parse_histograms(wire(captured(flavor)))
    assert parsed
    for cmd, (calls, buckets) in parsed.items():
        for bound, count in buckets:
            assert expo.value(f"{NAME}_bucket", cmd=cmd, le=str(bound)) == count
        assert expo.value(f"{NAME}_bucket", cmd=cmd, le="+Inf") == calls
        assert expo.value(f"{NAME}_count", cmd=cmd) == calls
        assert expo.value(f"{NAME}_sum", cmd=cmd) == usec.get(cmd, 0.0)
    assert {s.labels["cmd"] for s in expo.series if s.name == f"{NAME}_count"} == set(parsed)


def test_resp3_maps_are_read_like_flat_lists() -> None:
    reply = {b"get": {b"calls": 3, b"histogram_usec": {1: 1, 8: 3}}}
    assert parse_histograms(reply) == {"get": (3, ((1, 1), (8, 3)))}


def test_malformed_commands_are_skipped_and_the_rest_kept() -> None:
    reply: list[Any] = [
        b"get", [b"calls", 2, b"histogram_usec", [1, 2]],
        b"set", [b"calls", b"x", b"histogram_usec", [1, 2]],
        b"del", [b"calls", 1, b"histogram_usec", [b"one", 1]],
        b"", [b"calls", 1, b"histogram_usec", []],
        b"ping", 5,
    ]  # fmt: skip
    assert parse_histograms(reply) == {"get": (2, ((1, 2),))}


def test_commands_beyond_the_cap_are_dropped() -> None:
    reply: list[Any] = []
    for i in range(MAX_COMMANDS + 10):
        reply += [f"c{i}".encode(), [b"calls", 1, b"histogram_usec", [1, 1]]]
    assert len(parse_histograms(reply)) == MAX_COMMANDS


def test_a_node_without_histograms_renders_no_family() -> None:
    snap = with_records(snapshot("redis70", "master"), LatencyHistogramRecord())
    assert NAME not in exposition(snap).types


REPLY = st.recursive(
    st.none() | st.integers() | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.binary(max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


@given(REPLY)
def test_parse_never_raises(reply: Any) -> None:
    parse_histograms(reply)
