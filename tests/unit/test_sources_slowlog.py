"""redis_ha_exporter.sources.slowlog: tolerant parsing and exactly-once counting across polls."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_ha_exporter.sources.slowlog import (
    MAX_CMD_LEN,
    SlowlogEntry,
    advance,
    command_name,
    parse_entries,
)
from redis_ha_exporter.sources.slowlog import SlowlogRecord as SlowlogTally
from tests.unit.captured import FLAVORS, load_json, wire

RUN = "a" * 40
RESTARTED = "b" * 40


def entries(
    ids: Iterable[int], command: str = "get", duration_us: int = 1000
) -> list[SlowlogEntry]:
    """The log as SLOWLOG GET returns it: newest first."""
    return [
        SlowlogEntry(i, 1_700_000_000 + i, duration_us, command) for i in sorted(ids, reverse=True)
    ]


def polls(*logs: list[SlowlogEntry], run_ids: Iterable[str] | None = None) -> SlowlogTally:
    tally = SlowlogTally()
    for log, run_id in zip(logs, run_ids or [RUN] * len(logs), strict=True):
        tally = advance(tally, log, run_id)
    return tally


# -- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
def test_parse_entries_reads_a_captured_reply(flavor: str) -> None:
    raw = load_json(f"slowlog_{flavor}.json")
    parsed = parse_entries(wire(raw))
    assert [e.id for e in parsed] == [item[0] for item in raw]
    assert [e.timestamp for e in parsed] == [item[1] for item in raw]
    assert [e.duration_us for e in parsed] == [item[2] for item in raw]
    assert [e.command for e in parsed] == [item[3][0].lower() for item in raw]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_ids_survive_slowlog_reset(flavor: str) -> None:
    # The capture ran CONFIG SET (id 0), then SLOWLOG RESET: the log restarts at id 1.
    raw = load_json(f"slowlog_{flavor}.json")
    assert min(item[0] for item in raw) == 1
    assert raw[-1][3] == ["SLOWLOG", "RESET"]


def test_parse_entries_skips_malformed_items() -> None:
    reply: list[Any] = [
        [b"7", b"1700000000", b"15", [b"SET", b"k", b"v"]],
        [6, 1700000000, "x", [b"GET"]],  # duration not a number
        [5, 1700000000],  # too short
        b"not a list",
        None,
        [4, None, 3, [b"DEL"]],  # timestamp missing
        [3, 1700000000, -5, []],  # negative duration, no args
    ]
    assert parse_entries(reply) == [
        SlowlogEntry(7, 1700000000, 15, "set"),
        SlowlogEntry(3, 1700000000, 0, "unknown"),
    ]


@pytest.mark.parametrize("reply", [None, b"ERR", 5, {}, "text"])
def test_parse_entries_of_a_non_list_reply_is_empty(reply: Any) -> None:
    assert parse_entries(reply) == []


_LEAF = st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.text(max_size=8))
_NESTED = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=5), max_leaves=12)
# An entry-shaped item: id, timestamp, duration, args, then anything.
_ITEM = st.lists(_LEAF, min_size=3, max_size=3).flatmap(
    lambda head: st.lists(_LEAF, max_size=3).map(lambda args: [*head, args])
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_NESTED, st.lists(st.one_of(_ITEM, _NESTED), max_size=4)))
def test_parse_entries_never_raises_on_nested_lists(reply: Any) -> None:
    for entry in parse_entries(reply):
        assert entry.duration_us >= 0
        assert entry.command and len(entry.command) <= MAX_CMD_LEN


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_LEAF, st.lists(_LEAF, max_size=3)), max_size=4))
def test_command_name_is_always_label_safe(args: list[Any]) -> None:
    name = command_name(args)
    assert 0 < len(name) <= MAX_CMD_LEN
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_.|:-")


def test_command_name_is_the_lowercased_command_word_only() -> None:
    assert command_name([b"SET", b"user:1", b"secret-value"]) == "set"
    assert command_name([b"CONFIG", b"SET", b"requirepass", b"x"]) == "config"
    assert command_name([b"Client|List"]) == "client|list"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b'EV AL"\n{}', "ev_al____"),
        ("ÆØÅ".encode(), "___"),
        (b"\xff\xfe", "__"),
        (b"X" * 200, "x" * MAX_CMD_LEN),
        (b"", "unknown"),
    ],
)
def test_command_name_sanitises_odd_characters(first: bytes, expected: str) -> None:
    assert command_name([first, b"arg"]) == expected


@pytest.mark.parametrize("args", [None, [], b"GET", "GET", 5])
def test_command_name_of_missing_args_is_unknown(args: Any) -> None:
    assert command_name(args) == "unknown"


# -- counting across polls -------------------------------------------------------------------


def test_first_poll_is_a_baseline_and_counts_nothing() -> None:
    tally = polls(entries(range(1, 6)))
    assert (tally.last_id, tally.entries, tally.seconds, tally.missed) == (5, {}, {}, 0)


def test_new_entries_are_counted_exactly_once_across_polls() -> None:
    log1 = entries(range(1, 6))
    log2 = entries([6, 7], "set", 2500) + log1
    log3 = entries([8], "get", 4000) + log2
    tally = polls(log1, log2, log2, log3, log3)
    assert dict(tally.entries) == {"set": 2, "get": 1}
    assert tally.seconds["set"] == pytest.approx(2 * 2500 / 1e6)
    assert tally.seconds["get"] == pytest.approx(4000 / 1e6)
    assert (tally.last_id, tally.missed) == (8, 0)


def test_slowlog_reset_does_not_double_count() -> None:
    before = entries(range(1, 8))
    # RESET empties the log; the server keeps numbering from where it was.
    tally = polls(before, before, [], [], entries([8, 9]), entries([8, 9]))
    assert sum(tally.entries.values()) == 2
    assert tally.missed == 0


def test_restart_counts_entries_of_the_new_process() -> None:
    tally = polls(
        entries(range(10, 20)),
        entries(range(0, 3)),
        run_ids=[RUN, RESTARTED],
    )
    assert sum(tally.entries.values()) == 3
    assert (tally.last_id, tally.run_id, tally.missed) == (2, RESTARTED, 0)


def test_restart_with_more_entries_than_before_is_still_detected() -> None:
    tally = polls(entries(range(0, 3)), entries(range(0, 8)), run_ids=[RUN, RESTARTED])
    assert sum(tally.entries.values()) == 8


def test_id_gap_counts_the_missed_entries() -> None:
    # Entries 6, 7 and 8 fell off the log (slowlog-max-len) before the second poll.
    tally = polls(entries(range(1, 6)), entries([9, 10]))
    assert sum(tally.entries.values()) == 2
    assert tally.missed == 3


def test_gap_when_more_new_entries_than_fetched() -> None:
    tally = polls(entries([100]), entries(range(200, 328)))
    assert sum(tally.entries.values()) == 128
    assert tally.missed == 327 - 100 - 128


def test_empty_first_poll_then_entries_counts_them_without_inventing_misses() -> None:
    tally = polls([], entries(range(51, 56)))
    assert sum(tally.entries.values()) == 5
    assert tally.missed == 0


def test_empty_first_poll_then_a_gap_inside_the_new_entries_is_missed() -> None:
    tally = polls([], entries([51, 52, 55]))
    assert sum(tally.entries.values()) == 3
    assert tally.missed == 2


def test_ids_going_backwards_without_run_id_start_a_new_sequence() -> None:
    tally = polls(entries(range(50, 60)), entries(range(0, 4)), run_ids=["", ""])
    assert sum(tally.entries.values()) == 4


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_log_after_an_empty_baseline_counts_every_command(flavor: str) -> None:
    raw = load_json(f"slowlog_{flavor}.json")
    tally = polls([], parse_entries(wire(raw)))
    expected: dict[str, int] = {}
    for item in raw:
        expected[item[3][0].lower()] = expected.get(item[3][0].lower(), 0) + 1
    assert dict(tally.entries) == expected
    assert sum(tally.seconds.values()) == pytest.approx(sum(item[2] for item in raw) / 1e6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=12), st.integers(1, 8))
def test_entries_are_never_counted_twice(steps: list[int], window: int) -> None:
    """However the log is sampled, counted + missed equals the ids created after the baseline."""
    next_id, tally = 0, SlowlogTally()
    log: list[SlowlogEntry] = []
    baseline: int | None = None
    for new in steps:
        log = entries(range(next_id, next_id + new)) + log
        next_id += new
        log = log[:window]  # slowlog-max-len
        tally = advance(tally, log, RUN)
        if baseline is None:
            baseline = next_id
    assert baseline is not None
    counted = sum(tally.entries.values())
    created_since = next_id - baseline
    if baseline == 0:
        # Empty baseline: ids before the first one seen are unknowable, never overcounted.
        assert counted + tally.missed <= created_since
    else:
        assert counted + tally.missed == created_since
