"""redis_ha_exporter.poll: what one poll sends (and in how many round trips), and what it keeps."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import pytest

from redis_ha_exporter import sources
from redis_ha_exporter.poll import poll
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import Command, NodeView, PollOptions, Reply
from redis_ha_exporter.sources.commandlog import CommandlogRecord
from redis_ha_exporter.sources.config import REFRESH_POLLS, ConfigRecord
from redis_ha_exporter.sources.info import InfoRecord, parse_info
from redis_ha_exporter.sources.latency import LatencyRecord
from redis_ha_exporter.sources.latency_histogram import LatencyHistogramRecord
from redis_ha_exporter.sources.sentinel import SentinelRecord, groups_of
from redis_ha_exporter.sources.slowlog import FETCH, SECOND_READ_MARGIN, SlowlogRecord
from redis_ha_exporter.wire import ReplyError
from tests.unit.captured import FLAVORS, info_text, load_json, raw_fields, render, wire
from tests.unit.fake_client import (
    SENTINEL_MYID,
    Answer,
    FakeClient,
    data_answer,
    info_bytes,
    master_entry,
    sentinel_answer,
    unknown_command,
)

INSTANCE = "127.0.0.1:53709"
V7 = (7, 0, 15)
LOADING = "LOADING Redis is loading the dataset in memory"
# What one poll of a data node sends with the default settings: every data source's commands.
DATA_ROUND: tuple[Command, ...] = tuple(
    command
    for source in sources.ALL
    if "data" in source.kinds
    for command in source.commands(NodeView(INSTANCE, "data", V7), None)
)


def data_round(flavor: str) -> tuple[Command, ...]:
    """DATA_ROUND for the captured server of `flavor` (Valkey 8.1+ adds COMMANDLOG's)."""
    info = InfoRecord.of(parse_info(info_text(flavor, "master")))
    node = NodeView(INSTANCE, "data", info.version, valkey=info.valkey)
    return tuple(
        command
        for source in sources.ALL
        if "data" in source.kinds
        for command in source.commands(node, None)
    )


def run(fake: FakeClient, prev: NodeSnapshot, options: PollOptions | None = None) -> NodeSnapshot:
    return asyncio.run(poll(fake, prev, sources.ALL, options or PollOptions()))


def known(**fields: Any) -> NodeSnapshot:
    """A data node polled before, as far as the poll needs to know."""
    return NodeSnapshot(INSTANCE, "data", version=V7, **fields)


def stored(snap: NodeSnapshot) -> NodeSnapshot:
    """The snapshot as the poller keeps it for the next poll (it counts the polls)."""
    return replace(snap, polls=snap.polls + 1)


def failing(word: str, error: Exception, base: Answer | None = None) -> Answer:
    """Answers `error` to the commands that start with `word` ("LATENCY", "LATENCY LATEST")."""
    answer = base or data_answer()
    words = tuple(word.split())

    def wrapped(command: Command) -> Reply:
        return error if command[: len(words)] == words else answer(command)

    return wrapped


# -- a data node ----------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
def test_first_poll_of_an_unknown_node_sends_info_server_then_one_pipeline(flavor: str) -> None:
    fake = FakeClient(data_answer(flavor))
    snap = run(fake, NodeSnapshot(INSTANCE, "unknown"))
    assert fake.pipelines == [(("INFO", "server"),), data_round(flavor)]
    assert (snap.kind, snap.up) == ("data", True)
    assert snap.version == ((7, 2, 4) if flavor.startswith("valkey") else V7)
    assert snap.valkey == {"valkey81": (8, 1, 8), "valkey91": (9, 1, 2)}.get(flavor, ())
    records = {InfoRecord, ConfigRecord, SlowlogRecord, LatencyRecord, LatencyHistogramRecord}
    if snap.valkey:
        records.add(CommandlogRecord)
    assert set(snap.records) == records
    config = snap.get(ConfigRecord)
    assert config is not None
    assert config.values["maxmemory"] == "67108864"
    slowlog = snap.get(SlowlogRecord)
    assert slowlog is not None
    assert slowlog.length == len(load_json(f"slowlog_{flavor}.json"))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_known_data_node_is_polled_in_one_round_trip_of_at_most_six_commands(
    flavor: str,
) -> None:
    """Six on Redis; Valkey 8.1+ adds two per COMMANDLOG type (GET and LEN), six more."""
    first = run(FakeClient(data_answer(flavor)), NodeSnapshot(INSTANCE, "unknown"))
    fake = FakeClient(data_answer(flavor))
    run(fake, replace(stored(first), polls=first.polls + 6))  # a CONFIG refresh poll
    assert fake.pipelines == [data_round(flavor)]
    assert len(fake.commands) <= (6 + 6 if first.valkey >= (8, 1) else 6)


def test_config_is_reread_every_refresh_polls_and_the_previous_record_kept_between() -> None:
    options = PollOptions({REFRESH_POLLS.name: 3})
    snap, reread = known(), []
    for _ in range(7):
        fake = FakeClient(data_answer())
        new = run(fake, snap, options)
        reread.append(any(c[0] == "CONFIG" for c in fake.commands))
        if not reread[-1]:
            assert len(fake.commands) == 5
            assert new.get(ConfigRecord) is snap.get(ConfigRecord) is not None
        snap = stored(new)
    assert reread == [True, False, False, True, False, False, True]


DENIED = "this user has no permissions to run the '{}' command"
REFUSALS = [
    ("config", "CONFIG", ConfigRecord, ReplyError("NOPERM " + DENIED.format("config|get"))),
    ("latency", "LATENCY LATEST", LatencyRecord, unknown_command(("LATENCY", "LATEST"))),
    ("slowlog", "SLOWLOG", SlowlogRecord, ReplyError("NOPERM " + DENIED.format("slowlog|get"))),
]


@pytest.mark.parametrize(("name", "word", "record", "error"), REFUSALS)
def test_a_refused_source_is_logged_once_and_not_sent_again(
    caplog: pytest.LogCaptureFixture, name: str, word: str, record: type, error: Exception
) -> None:
    caplog.set_level(logging.DEBUG, logger="redis_ha_exporter.poll")
    answer = failing(word, error)
    first = run(FakeClient(answer), known())
    assert first.refused == frozenset({name})
    assert record not in first.records
    assert InfoRecord in first.records

    fake = FakeClient(answer)
    second = run(fake, stored(first), PollOptions({REFRESH_POLLS.name: 1}))
    assert [c for c in fake.commands if " ".join(map(str, c)).startswith(word)] == []
    assert second.refused == frozenset({name})
    assert len(fake.commands) == 6 - (2 if word == "SLOWLOG" else 1)
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    assert f"refused {word} " in lines[0].getMessage()
    assert f"without {name} " in lines[0].getMessage()


def test_a_passing_error_keeps_the_previous_record_and_refuses_nothing() -> None:
    first = run(FakeClient(data_answer()), known())
    error = ReplyError(LOADING)
    answer = failing("LATENCY", error, failing("SLOWLOG", error))
    second = run(FakeClient(answer), stored(first))
    assert second.refused == frozenset()
    assert second.get(LatencyRecord) is first.get(LatencyRecord) is not None
    assert second.get(SlowlogRecord) is first.get(SlowlogRecord) is not None

    fake = FakeClient(data_answer())
    run(fake, stored(second))
    assert ("LATENCY", "LATEST") in fake.commands
    assert ("SLOWLOG", "LEN") in fake.commands


@pytest.mark.parametrize("prev", [NodeSnapshot(INSTANCE, "unknown"), known()])
def test_an_error_reply_to_info_fails_the_poll(prev: NodeSnapshot) -> None:
    fake = FakeClient(failing("INFO", ReplyError(LOADING)))
    with pytest.raises(ReplyError, match="LOADING"):
        run(fake, prev)
    assert len(fake.pipelines) == 1


# -- a Sentinel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_sentinel_is_asked_sentinel_commands_only_and_groups_in_a_second_round(
    flavor: str,
) -> None:
    fake = FakeClient(sentinel_answer(flavor))
    snap = run(fake, NodeSnapshot(INSTANCE, "unknown"))
    assert fake.pipelines == [
        (("INFO", "server"),),
        (("INFO",), ("SENTINEL", "MASTERS"), ("SENTINEL", "MYID")),
        tuple(("SENTINEL", what, "mymaster") for what in ("REPLICAS", "SENTINELS", "CKQUORUM")),
    ]
    assert snap.kind == "sentinel"
    assert set(snap.records) == {InfoRecord, SentinelRecord}
    record = snap.get(SentinelRecord)
    assert record is not None
    assert record.myid == SENTINEL_MYID
    (group,) = record.groups
    assert (group.name, len(group.replicas), len(group.sentinels)) == ("mymaster", 1, 1)
    assert group.ckquorum_ok
    assert group.ckquorum_message.startswith("OK 2 usable Sentinels")


def test_a_sentinel_older_than_6_2_is_not_asked_its_myid() -> None:
    old = info_bytes("redis70", "sentinel").replace(
        b"redis_version:7.0.15", b"redis_version:6.0.20"
    )
    fake = FakeClient(sentinel_answer(info=old))
    snap = run(fake, NodeSnapshot(INSTANCE, "sentinel", version=(6, 0, 20)))
    assert fake.pipelines[0] == (("INFO",), ("SENTINEL", "MASTERS"))
    assert ("SENTINEL", "MYID") not in fake.commands
    record = snap.get(SentinelRecord)
    assert record is not None
    assert record.myid == ""
    assert [g.name for g in record.groups] == ["mymaster"]


def test_a_sentinel_is_asked_only_about_the_followed_groups() -> None:
    info = info_bytes("redis70", "sentinel").replace(b"sentinel_masters:1", b"sentinel_masters:2")
    info += b"master1:name=cache,status=ok,address=127.0.0.1:6390,slaves=1,sentinels=2\r\n"
    answer = sentinel_answer(info=info, extra_masters=[master_entry("redis70", "cache", 6390)])
    fake = FakeClient(answer)
    options = PollOptions(sentinel_masters=frozenset({"cache"}))
    snap = run(fake, NodeSnapshot(INSTANCE, "sentinel", version=V7), options)
    assert all("mymaster" not in command for command in fake.commands)
    assert fake.pipelines[-1] == tuple(
        ("SENTINEL", what, "cache") for what in ("REPLICAS", "SENTINELS", "CKQUORUM")
    )
    assert [g.name for g in groups_of(snap)] == ["cache"]
    # The INFO lines of the groups not followed are left out where the series are made.
    text = render(replace(stored(snap), last_success_at=1.0))
    assert f'redis_sentinel_master_status{{instance="{INSTANCE}",master_name="cache"' in text
    assert 'master_name="mymaster"' not in text


# -- a slowlog burst and a change of kind ------------------------------------------------------


def slowlog_entries(ids: range) -> list[Any]:
    """SLOWLOG GET entries like the captured DEBUG SLEEP one, with these ids, newest first."""
    template = next(e for e in wire(load_json("slowlog_redis70.json")) if e[3][0] == b"DEBUG")
    return [[i, *template[1:]] for i in ids]


def burst_answer(newest: int, between_reads: int = 0) -> Answer:
    """A log holding ids 1..newest (slowlog-max-len is large), gaining `between_reads`
    entries after the first SLOWLOG GET."""
    base = data_answer()
    reads: list[int] = []

    def answer(command: Command) -> Reply:
        if command[:2] == ("SLOWLOG", "GET"):
            top = newest + (between_reads if reads else 0)
            reads.append(top)
            return slowlog_entries(range(top, max(top - int(command[2]), 0), -1))
        if command == ("SLOWLOG", "LEN"):
            return newest
        return base(command)

    return answer


def with_slowlog(last_id: int) -> NodeSnapshot:
    """A node whose slowlog was last read up to `last_id`, in this server process."""
    run_id = raw_fields(info_text("redis70", "master"))["run_id"]
    return known(
        polls=1,
        records={SlowlogRecord: SlowlogRecord(last_id=last_id, gap_known=True, run_id=run_id)},
    )


def test_a_slowlog_burst_is_read_in_a_second_round_and_every_entry_counted_once() -> None:
    fetch = FETCH.default
    fake = FakeClient(burst_answer(500))
    record = run(fake, with_slowlog(100)).get(SlowlogRecord)
    assert ("SLOWLOG", "GET", fetch) in fake.pipelines[0]
    assert len(fake.pipelines) == 2
    ((word, sub, n),) = fake.pipelines[1]
    assert (word, sub) == ("SLOWLOG", "GET")
    assert int(n) >= 400
    assert record is not None
    assert record.entries == {"debug": 400}
    assert record.missed == 0
    assert (record.last_id, record.length) == (500, 500)


def test_entries_logged_between_the_two_reads_of_a_burst_are_not_missed() -> None:
    record = run(FakeClient(burst_answer(500, between_reads=20)), with_slowlog(100)).get(
        SlowlogRecord
    )
    assert record is not None
    assert (record.entries, record.missed, record.last_id) == ({"debug": 420}, 0, 520)


@pytest.mark.parametrize(("newest", "entries"), [(450, {}), (451, {"debug": 1})])
def test_no_or_one_new_slowlog_entry_needs_no_second_round(
    newest: int, entries: dict[str, int]
) -> None:
    fake = FakeClient(burst_answer(newest))
    record = run(fake, with_slowlog(450)).get(SlowlogRecord)
    assert ("SLOWLOG", "GET", 1) in fake.pipelines[0]
    assert len(fake.pipelines) == 1
    assert record is not None
    assert (record.entries, record.missed, record.last_id) == (entries, 0, newest)


def test_two_new_slowlog_entries_are_read_in_a_second_round_of_the_same_poll() -> None:
    fake = FakeClient(burst_answer(452))
    record = run(fake, with_slowlog(450)).get(SlowlogRecord)
    assert len(fake.pipelines) == 2
    ((_, _, n),) = fake.pipelines[1]
    assert 2 <= int(n) <= 2 + SECOND_READ_MARGIN
    assert record is not None
    assert (record.entries, record.missed) == ({"debug": 2}, 0)


def test_entries_after_a_log_seen_empty_are_all_read_and_counted() -> None:
    # Ids start at 0 and the log was empty at the last poll: the newest id alone cannot say
    # how many are new, the length can.
    run_id = raw_fields(info_text("redis70", "master"))["run_id"]
    empty_seen = SlowlogRecord(last_id=-1, gap_known=False, run_id=run_id)
    fake = FakeClient(burst_answer(3))
    record = run(fake, known(polls=1, records={SlowlogRecord: empty_seen})).get(SlowlogRecord)
    assert len(fake.pipelines) == 2
    assert record is not None
    assert (record.entries, record.missed, record.last_id) == ({"debug": 3}, 0, 3)


def test_a_larger_first_window_reaching_back_to_the_last_id_needs_no_second_round() -> None:
    fake = FakeClient(burst_answer(500))
    record = run(fake, with_slowlog(450), PollOptions({FETCH.name: 128})).get(SlowlogRecord)
    assert len(fake.pipelines) == 1
    assert record is not None
    assert (record.entries, record.missed) == ({"debug": 50}, 0)


@pytest.mark.parametrize("version", [V7, ()], ids=["version-known", "version-unknown"])
def test_a_data_node_now_answering_as_a_sentinel_becomes_one_with_nothing_refused(
    caplog: pytest.LogCaptureFixture, version: tuple[int, ...]
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.poll")
    data = stored(run(FakeClient(failing("LATENCY", unknown_command(("LATENCY",)))), known()))
    assert data.refused == frozenset({"latency", "latency histogram"})
    before = replace(data, version=version)
    fake = FakeClient(sentinel_answer())
    snap = run(fake, before)
    assert snap.kind == "sentinel"
    assert snap.refused == frozenset()
    assert set(snap.records) == {InfoRecord, SentinelRecord}
    assert fake.pipelines[-2:] == [
        (("INFO",), ("SENTINEL", "MASTERS"), ("SENTINEL", "MYID")),
        tuple(("SENTINEL", what, "mymaster") for what in ("REPLICAS", "SENTINELS", "CKQUORUM")),
    ]
    if version:  # otherwise INFO server told the kind before anything was planned
        assert f"node {INSTANCE} is now a sentinel node" in caplog.messages
