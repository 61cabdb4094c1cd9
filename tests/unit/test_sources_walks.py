"""The walks' pure parts: `[dbN=]name` lists, the SCAN engine driven with hand-written replies
(cursors, the key cap, the time budget, one database per round), each key's steps, Redis's
glob as a regular expression, and key names made fit for a label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from redis_ha_exporter.sources import celery, key_groups, keys
from redis_ha_exporter.sources.base import Command, NodeView, PollOptions, Reply, Run
from redis_ha_exporter.sources.scan import KeyTask, Scan, parse_targets, targets_check

ResponseError = type("ResponseError", (Exception,), {})


def test_targets_are_parsed_as_redis_exporter_spells_them() -> None:
    targets = parse_targets(["db3=user_count, app:*", "db0=app:*,other"])
    assert [(t.db, t.name) for t in targets] == [(3, "user_count"), (0, "app:*"), (0, "other")]
    assert targets_check(["db3=a,b"], {}) == ["db3=a", "b"]
    with pytest.raises(ValueError, match="names no key"):
        parse_targets(["db1="])


def _sizes(key: bytes, named: bool) -> KeyTask:
    (size,) = yield [("LLEN", key)]
    return size


def _drive(scan: Scan, answer: Any, rounds: int = 50) -> list[list[Command]]:
    """Run the engine against `answer(command) -> reply`; the rounds it sent."""
    sent: list[list[Command]] = []
    commands = scan.round(())
    while commands and len(sent) < rounds:
        sent.append(commands)
        commands = scan.round([answer(c) for c in commands])
    return sent


def _server(keys_by_db: dict[int, list[bytes]], page: int = 2) -> Any:
    """SCAN over `keys_by_db` `page` keys at a time (cursor = offset), LLEN = len(key)."""
    current = {"db": 0}

    def answer(command: Command) -> Reply:
        if command[0] == "SELECT":
            current["db"] = int(command[1])
            return b"OK"
        if command[0] == "SCAN":
            found = keys_by_db.get(current["db"], [])
            start = int(command[1])
            pattern = str(command[3]).rstrip("*").encode()
            chunk = [k for k in found[start : start + page] if k.startswith(pattern)]
            following = start + page if start + page < len(found) else 0
            return [str(following).encode(), chunk]
        if command[0] == "LLEN":
            key = command[1]
            assert isinstance(key, bytes)
            return len(key)
        raise AssertionError(command)

    return answer


def test_scan_expands_patterns_one_database_per_round_and_runs_named_keys_first() -> None:
    scan = Scan(
        lambda db, key, named: _sizes(key, named),
        {0: ["named"]},
        {0: ["a*"], 2: ["b*"]},
        batch=2,
    )
    server = _server({0: [b"a1", b"a22", b"x", b"a333"], 2: [b"b1"]})
    sent = _drive(scan, server)
    assert all(r[0][0] == "SELECT" and sum(c[0] == "SELECT" for c in r) == 1 for r in sent)
    assert next(c for r in sent for c in r if c[0] == "SCAN")[1] == "0"
    assert scan.results == [
        (0, b"named", 5),
        (0, b"a1", 2),
        (0, b"a22", 3),
        (0, b"a333", 4),
        (2, b"b1", 2),
    ]
    assert scan.matched == {(0, "a*"): 3, (2, "b*"): 1}
    assert scan.cut == []


def test_scan_stops_giving_work_at_the_cap_and_names_the_pattern_cut() -> None:
    scan = Scan(lambda db, key, named: _sizes(key, named), {}, {0: ["k*"]}, batch=2, cap=3)
    server = _server({0: [f"k{n}".encode() for n in range(10)]})
    _drive(scan, server)
    assert len(scan.results) == 3 and scan.at_cap
    assert scan.cut == [(0, "k*")]


def test_scan_past_the_cap_counts_every_key_when_asked() -> None:
    counted: list[bytes] = []
    scan = Scan(
        lambda db, key, named: _sizes(key, named),
        {},
        {0: ["k*"]},
        batch=2,
        cap=3,
        count=lambda db, key: counted.append(key),
    )
    _drive(scan, _server({0: [f"k{n}".encode() for n in range(10)]}))
    assert len(scan.results) == 3 and len(counted) == 7
    assert scan.matched == {(0, "k*"): 10} and scan.cut == []


def test_stopping_at_the_budget_cuts_what_was_being_and_still_to_be_expanded() -> None:
    scan = Scan(lambda db, key, named: _sizes(key, named), {}, {0: ["a*", "b*"], 1: ["c*"]})
    server = _server({0: [b"a1", b"a2", b"a3"]}, page=1)
    commands = scan.round(())
    scan.round([server(c) for c in commands])
    scan.stop()
    assert scan.cut == [(0, "a*"), (0, "b*"), (1, "c*")]


def test_an_error_reply_to_scan_cuts_the_pattern_and_goes_on() -> None:
    scan = Scan(lambda db, key, named: _sizes(key, named), {}, {0: ["a*", "b*"]})

    def answer(command: Command) -> Reply:
        if command[0] == "SCAN" and command[3] == "a*":
            return ResponseError("ERR something")
        return _server({0: [b"b1"]})(command)

    _drive(scan, answer)
    assert scan.cut == [(0, "a*")] and scan.results == [(0, b"b1", 2)]


def _run_task(task: KeyTask, answer: Any) -> Any:
    commands = next(task)
    try:
        while True:
            commands = task.send([answer(c) for c in commands])
    except StopIteration as done:
        return done.value


def test_a_hyperloglog_is_told_by_its_header_and_only_it_gets_pfcount() -> None:
    values = {b"hll": b"HYLL\x01rest", b"plain": b"HYLx"}
    asked: list[Command] = []

    def answer(command: Command) -> Reply:
        asked.append(command)
        key = command[1]
        if command[0] == "TYPE":
            return b"string"
        if command[0] == "STRLEN":
            return len(values[key])  # type: ignore[index]
        if command[0] == "GETRANGE":
            return values[key][:4]  # type: ignore[index]
        if command[0] == "PFCOUNT":
            return 42
        raise AssertionError(command)

    assert _run_task(keys.key_task(b"hll", False, False), answer) == (42, None)
    assert _run_task(keys.key_task(b"plain", False, False), answer) == (4, None)
    assert [c for c in asked if c[0] == "PFCOUNT"] == [("PFCOUNT", b"hll")]


def test_a_missing_key_reads_zero_when_named_and_nothing_when_matched() -> None:
    def answer(command: Command) -> Reply:
        return b"none"

    assert _run_task(keys.key_task(b"gone", True, True), answer) == (0, None)
    assert _run_task(keys.key_task(b"gone", False, True), answer) is None


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("book:*", "book:1", True),
        ("book:*", "books:1", False),
        ("h?llo", "hello", True),
        ("h[ae]llo", "hallo", True),
        ("h[^e]llo", "hello", False),
        ("h[a-b]llo", "hbllo", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("celery-task-meta-*", "celery-task-meta-1f0", True),
        ("x.y", "xzy", False),
    ],
)
def test_key_group_globs_follow_redis(pattern: str, name: str, matches: bool) -> None:
    assert bool(key_groups.glob_regex(pattern).fullmatch(name)) == matches


def test_key_names_are_made_printable_and_bounded() -> None:
    assert key_groups.printable("a\nb\x7f") == "a\\x0ab\\x7f"
    assert len(key_groups.printable("k" * 500)) == 200


def _node(role: str, replicas: int = 0, **values: object) -> NodeView:
    return NodeView("n", "data", (7, 0), 3, PollOptions(values), role=role, replicas=replicas)


def test_key_groups_prefer_a_replica_and_keys_follow_check_keys_on() -> None:
    assert key_groups.runs_here(_node("slave"), "prefer-replica")
    assert not key_groups.runs_here(_node("master", replicas=1), "prefer-replica")
    assert key_groups.runs_here(_node("master", replicas=0), "prefer-replica")
    assert not key_groups.runs_here(_node("master", replicas=0), "replicas")
    assert key_groups.runs_here(_node("master", replicas=1), "all")
    assert keys.runs_here(_node("slave"), "replicas", False)
    assert not keys.runs_here(_node("master"), "replicas", False)
    assert not keys.runs_here(_node("master"), "all", True)
    assert keys.runs_here(_node("master"), "masters", False)


def test_celery_counts_every_priority_list_and_only_on_masters() -> None:
    node = _node("master", celery_queue=["work"], celery_priority_steps=["0", "3", "6", "9"])
    assert celery.start(_node("slave", celery_queue=["work"]), None) is None
    state = celery.start(node, None)
    assert state is not None
    state, commands = celery.step(node, state, ())
    lists = [c[1] for c in commands if c[0] == "LLEN"]
    assert lists == ["work", "work\x06\x163", "work\x06\x166", "work\x06\x169"]
    replies: list[Reply] = [b"OK", [b"1000", b"500000"], 2, 1, 0, 4, 3, [b"tag", b"990.5"]]
    state, commands = celery.step(node, state, replies)
    record = celery.finish(node, None, state, Run(0.01, 1, len(replies)))
    assert record.queues == (("work", 7),)
    assert record.unacked == 3 and record.oldest_age == pytest.approx(10.0)


def test_celery_reports_no_queue_figure_it_did_not_read() -> None:
    node = _node("master", celery_queue=["work"])
    state = celery.start(node, None)
    assert state is not None
    state, _ = celery.step(node, state, ())
    limit = "its time budget of 1s (--celery-budget)"
    record = celery.finish(node, None, state, Run(0.5, 0, 0, limit))
    assert record.queues == () and "--celery-budget" in record.why


@pytest.mark.parametrize("bad", [["a,b"], ["-1"], ["300"]])
def test_celery_priority_steps_are_checked(bad: Sequence[str]) -> None:
    with pytest.raises(ValueError, match="priorities"):
        celery.STEPS.check(list(bad), {})  # type: ignore[misc]
