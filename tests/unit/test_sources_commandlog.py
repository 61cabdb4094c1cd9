"""redis_ha_exporter.sources.commandlog: COMMANDLOG's three logs counted per type and command,
exactly once, from captured Valkey 8.1 and 9.1 replies."""

from __future__ import annotations

from typing import Any

import pytest

from redis_ha_exporter.sources.base import Command, NodeView, PollOptions, Reply
from redis_ha_exporter.sources.commandlog import (
    TYPES,
    CommandlogRecord,
    commands,
    more,
    parse,
)
from redis_ha_exporter.sources.slowlog import FETCH, SECOND_READ_MARGIN
from tests.unit.captured import captured_exposition, load_json, wire

VALKEY = ("valkey81", "valkey91")
V81 = NodeView("n", "data", (7, 2, 4), 1, valkey=(8, 1, 0), run_id="r1")


def captured(flavor: str) -> dict[Command, Reply]:
    """The master's COMMANDLOG replies as captured, by command."""
    out: dict[Command, Reply] = {}
    for command, reply in load_json(f"commands_{flavor}_master.json"):
        if command[0] == "COMMANDLOG":
            out[tuple(command)] = wire(reply)
    return out


def entry(entry_id: int, value: int, *args: str) -> list[Any]:
    return [entry_id, 1_800_000_000, value, [a.encode() for a in args], b"127.0.0.1:1", b""]


def replies(logs: dict[str, list[list[Any]]], lengths: dict[str, int] | None = None) -> list[Reply]:
    """First-round replies: GET and LEN of each type, in `commands`' order."""
    out: list[Reply] = []
    for kind in TYPES:
        log = logs.get(kind, [])
        out += [log, (lengths or {}).get(kind, len(log))]
    return out


def step(prev: CommandlogRecord | None, logs: dict[str, list[list[Any]]]) -> CommandlogRecord:
    first = replies(logs)
    assert not more(V81, prev, first)
    return parse(V81, prev, first)


def test_redis_and_valkey_before_8_1_are_sent_nothing() -> None:
    assert commands(NodeView("n", "data", (7, 0, 15)), None) == ()
    assert commands(NodeView("n", "data", (8, 2, 0)), None) == ()  # Redis 8: no COMMANDLOG
    assert commands(NodeView("n", "data", (7, 2, 4), valkey=(8, 0, 2)), None) == ()
    assert commands(NodeView("n", "sentinel", (7, 2, 4), valkey=(9, 1, 2)), None) == ()


def test_valkey_8_1_is_asked_for_each_log_in_one_round() -> None:
    planned = commands(V81, None)
    assert planned == [
        ("COMMANDLOG", "GET", FETCH.default, "slow"),
        ("COMMANDLOG", "LEN", "slow"),
        ("COMMANDLOG", "GET", FETCH.default, "large-request"),
        ("COMMANDLOG", "LEN", "large-request"),
        ("COMMANDLOG", "GET", FETCH.default, "large-reply"),
        ("COMMANDLOG", "LEN", "large-reply"),
    ]


@pytest.mark.parametrize("flavor", VALKEY)
def test_the_captured_commands_are_the_ones_planned(flavor: str) -> None:
    assert set(captured(flavor)) == set(commands(V81, None))


def test_first_poll_is_a_baseline_and_counts_nothing() -> None:
    record = step(None, {"slow": [entry(4, 900, "GET", "k")]})
    assert record.lengths == {"slow": 1, "large-request": 0, "large-reply": 0}
    assert all(not t.entries for t in record.tallies.values())


def test_new_entries_are_counted_once_per_type_and_command_in_the_log_units() -> None:
    record = step(None, {"slow": [entry(4, 900, "GET", "k")], "large-reply": []})
    record = step(
        record,
        {
            "slow": [entry(5, 1500, "DEBUG", "SLEEP", "0"), entry(4, 900, "GET", "k")],
            "large-reply": [entry(0, 4096, "HGETALL", "h")],
        },
    )
    record = step(record, {"slow": [entry(5, 1500, "DEBUG")], "large-reply": [entry(0, 4096, "X")]})
    slow, reply = record.tallies["slow"], record.tallies["large-reply"]
    assert dict(slow.entries) == {"debug": 1} and slow.seconds["debug"] == pytest.approx(0.0015)
    assert dict(reply.entries) == {"hgetall": 1} and reply.seconds["hgetall"] == 4096
    assert slow.missed == reply.missed == 0


def test_an_entry_that_left_the_log_between_polls_is_missed() -> None:
    record = step(None, {"large-request": [entry(3, 2000, "SET")]})
    record = step(record, {"large-request": [entry(6, 3000, "SET")]})
    assert record.tallies["large-request"].entries == {"set": 1}
    assert record.tallies["large-request"].missed == 2  # ids 4 and 5


def test_a_restart_counts_the_new_process_entries() -> None:
    record = step(None, {"slow": [entry(9, 100, "GET")]})
    restarted = NodeView("n", "data", (7, 2, 4), 2, valkey=(8, 1, 0), run_id="r2")
    record = parse(restarted, record, replies({"slow": [entry(0, 100, "SET")]}))
    assert record.tallies["slow"].entries == {"set": 1}


def test_a_burst_is_read_again_in_the_same_poll_and_counted_whole() -> None:
    record = step(None, {"large-reply": [entry(10, 1, "GET")]})
    burst = [entry(i, 100, "LRANGE") for i in range(30, 10, -1)]  # ids 11..30
    first = replies({"large-reply": burst[:1]}, {"large-reply": 20})
    asked = more(V81, record, first)
    assert asked == [("COMMANDLOG", "GET", 20 + SECOND_READ_MARGIN, "large-reply")]
    record = parse(V81, record, [*first, burst])
    tally = record.tallies["large-reply"]
    assert tally.entries == {"lrange": 20} and tally.seconds["lrange"] == 2000
    assert tally.missed == 0


def test_a_larger_first_read_needs_no_second() -> None:
    node = NodeView("n", "data", (7, 2, 4), 1, PollOptions({FETCH.name: 64}), valkey=(9, 1, 0))
    log = [entry(i, 5, "GET") for i in range(5, 0, -1)]
    prev = parse(node, None, replies({"slow": log[-1:]}))
    assert more(node, prev, replies({"slow": log})) == []


def test_an_error_reply_to_one_log_leaves_the_others_counted() -> None:
    record = step(None, {})
    first = replies({"slow": [entry(0, 10, "GET")]})
    first[2], first[3] = Exception("ERR boom"), Exception("ERR boom")
    record = parse(V81, record, first)
    assert record.tallies["slow"].entries == {"get": 1}
    assert "large-request" not in record.lengths


@pytest.mark.parametrize("flavor", VALKEY)
def test_captured_logs_render_with_redis_exporter_names(flavor: str) -> None:
    exp = captured_exposition(flavor, "master")
    logs = captured(flavor)
    for kind, name in (
        ("slow", "redis_commandlog_slow_length"),
        ("large-request", "redis_commandlog_large_request_length"),
        ("large-reply", "redis_commandlog_large_reply_length"),
    ):
        assert exp.value(name) == logs[("COMMANDLOG", "LEN", kind)]
        assert exp.types[name] == "gauge"
    (reply_entry,) = logs[("COMMANDLOG", "GET", FETCH.default, "large-reply")]
    cmd = reply_entry[3][0].decode().lower()
    assert exp.value("redis_commandlog_entries_total", type="large-reply", cmd=cmd) == 1
    assert exp.value("redis_commandlog_reply_bytes_total", cmd=cmd) == reply_entry[2]
    assert exp.types["redis_commandlog_entries_total"] == "counter"
    assert exp.value("redis_commandlog_entries_missed_total", type="slow") is not None
    assert exp.value("redis_commandlog_execution_slower_than") is not None


def test_redis_renders_no_commandlog_series() -> None:
    exp = captured_exposition("redis70", "master")
    assert not [s for s in exp.series if s.name.startswith("redis_commandlog")]
