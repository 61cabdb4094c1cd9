"""SLOWLOG: entries new since the last poll, counted per command exactly once.

redis_slowlog_length{instance="10.0.0.1:6379"} 12
redis_slowlog_entries_total{cmd="debug",instance="10.0.0.1:6379"} 3
redis_slowlog_duration_seconds_total{cmd="debug",instance="10.0.0.1:6379"} 0.61
redis_slowlog_entries_missed_total{instance="10.0.0.1:6379"} 0
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Command, NodeView, Reply, Setting, Source
from redis_ha_exporter.sources.info import InfoRecord

_UNSAFE = re.compile(r"[^a-z0-9_.|:-]")
MAX_CMD_LEN = 64
# Entries the log gains between the two reads of one poll (the rest of the first round trip,
# our own first SLOWLOG GET among them, and other clients): read that many more, so the
# oldest new entries do not slide out of the second window.
SECOND_READ_MARGIN = 32

FETCH = Setting(
    "slowlog_fetch",
    int,
    # The newest id alone tells whether anything is new; the rest only when it is.
    1,
    "--slowlog-fetch",
    ("REDIS_EXPORTER_SLOWLOG_FETCH",),
    "entries read with each poll's first `SLOWLOG GET`; more are read in the same poll only "
    "when more than that are new",
    metavar="N",
    ge=1,
    le=10_000,
)


def _not_below_fetch(value: int, earlier: Mapping[str, Any]) -> int:
    fetch = earlier.get(FETCH.name)
    if fetch is not None and value < fetch:
        raise ValueError(f"{value} must be at least {FETCH.described()} ({fetch})")
    return value


FETCH_MAX = Setting(
    "slowlog_fetch_max",
    int,
    1024,
    "--slowlog-fetch-max",
    ("REDIS_EXPORTER_SLOWLOG_FETCH_MAX",),
    "ceiling of slowlog entries read in one poll when more than `--slowlog-fetch` are new; "
    "at least `--slowlog-fetch`",
    metavar="N",
    ge=1,
    le=100_000,
    check=_not_below_fetch,
)

SLOWLOG_LENGTH = metric("slowlog_length", "gauge", "Number of entries in the slowlog.")
SLOWLOG_LAST_ID = metric("slowlog_last_id", "gauge", "Id of the newest slowlog entry.")
SLOW_LAST_DURATION = metric(
    "last_slow_execution_duration_seconds",
    "gauge",
    "Duration of the newest slowlog entry, in seconds.",
)
SLOWLOG_ENTRIES = metric(
    "slowlog_entries_total", "counter", "Slowlog entries seen by the exporter, per command."
)
SLOWLOG_DURATION = metric(
    "slowlog_duration_seconds_total",
    "counter",
    "Execution time of slowlog entries seen, per command, in seconds.",
)
SLOWLOG_MISSED = metric(
    "slowlog_entries_missed_total",
    "counter",
    "Slowlog entries that fell off the log between two polls and were never seen.",
)


@dataclass(frozen=True, slots=True)
class SlowlogEntry:
    id: int
    timestamp: int
    duration_us: int
    command: str


@dataclass(frozen=True, slots=True)
class SlowlogRecord:
    """The slowlog as last read, and cumulative per-command counts since the exporter started.

    `last_id` is None before the first poll. `gap_known` is False while we cannot tell how
    many ids lie between the last one seen and the next (the log was empty when we looked).
    """

    length: int | None = None
    newest: SlowlogEntry | None = None
    last_id: int | None = None
    gap_known: bool = False
    run_id: str = ""
    entries: Mapping[str, int] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)
    missed: int = 0


def command_name(args: Any) -> str:
    """The command word only: arguments and client addresses never reach a label."""
    if not isinstance(args, (list, tuple)) or not args:
        return "unknown"
    first = args[0]
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
    name = _UNSAFE.sub("_", text.lower())[:MAX_CMD_LEN]
    return name or "unknown"


def parse_entries(reply: Any) -> list[SlowlogEntry]:
    """SLOWLOG GET reply -> entries; malformed entries are skipped, never raised on."""
    entries: list[SlowlogEntry] = []
    if not isinstance(reply, (list, tuple)):
        return entries
    for item in reply:
        if not isinstance(item, (list, tuple)) or len(item) < 4:
            continue
        try:
            entry_id, ts, duration = int(item[0]), int(item[1]), int(item[2])
        except (TypeError, ValueError):
            continue
        entries.append(SlowlogEntry(entry_id, ts, max(duration, 0), command_name(item[3])))
    return entries


def advance(
    tally: SlowlogRecord, entries: Sequence[SlowlogEntry], run_id: str, scale: float = 1e-6
) -> SlowlogRecord:
    """Count entries newer than the last one seen, once; `seconds` sums each entry's value
    times `scale` (microseconds to seconds here; COMMANDLOG's sizes are summed as they are).

    Entry ids grow for the life of a server process and survive SLOWLOG RESET, so "newer"
    is `id > last_id`. A new run_id (restart) or ids going backwards start a new sequence
    whose entries are all new. A gap between the last id seen and the oldest new id means
    entries left the log (slowlog-max-len) or lay beyond what we fetch before we saw them.
    Only the counting fields are set here; `parse` adds the log's length and newest entry.
    """
    newest = max((e.id for e in entries), default=None)
    run_id = run_id or tally.run_id
    if tally.last_id is None:
        # First poll: what is already in the log predates us and is not counted.
        if newest is None:
            return SlowlogRecord(last_id=-1, gap_known=False, run_id=run_id)
        return SlowlogRecord(last_id=newest, gap_known=True, run_id=run_id)
    last, gap_known = tally.last_id, tally.gap_known
    if run_id != tally.run_id and tally.run_id:
        last, gap_known = -1, True  # a new process numbers its entries from 0
    elif newest is not None and newest < last:
        last, gap_known = -1, False
    fresh = [e for e in entries if e.id > last]
    if not fresh:
        return replace(tally, last_id=last, gap_known=gap_known, run_id=run_id)
    counts = dict(tally.entries)
    seconds = dict(tally.seconds)
    for entry in fresh:
        counts[entry.command] = counts.get(entry.command, 0) + 1
        seconds[entry.command] = seconds.get(entry.command, 0.0) + entry.duration_us * scale
    top = max(e.id for e in fresh)
    missed = tally.missed
    if gap_known:
        missed += max(top - last - len(fresh), 0)
    else:
        missed += max(top - min(e.id for e in fresh) + 1 - len(fresh), 0)
    return SlowlogRecord(
        last_id=top, gap_known=True, run_id=run_id, entries=counts, seconds=seconds, missed=missed
    )


def commands(node: NodeView, prev: SlowlogRecord | None) -> Sequence[Command]:
    return [("SLOWLOG", "GET", FETCH.of(node.options)), ("SLOWLOG", "LEN")]


def second_read(
    prev: SlowlogRecord | None, reply: Reply, length_reply: Reply, fetch: int, ceiling: int
) -> int:
    """How many entries to read again in the same poll after a first `GET fetch` returned
    `reply` of a log `length_reply` long: 0 when that window held everything new.

    A burst leaves more entries new than one window holds; reading the rest, up to what is
    still in the log and the ceiling, keeps `missed` to entries that really left the log.
    """
    if prev is None or prev.last_id is None:
        return 0  # the first poll counts nothing: what is in the log predates us
    entries = parse_entries(reply)
    length = to_int(length_reply)
    if len(entries) < fetch or length is None:
        return 0  # the window held the whole log
    oldest, newest = min(e.id for e in entries), max(e.id for e in entries)
    if prev.last_id < 0:
        new = length  # the log was empty when we last looked: all of it is new
    elif oldest <= prev.last_id + 1:
        return 0  # the window reaches back to what we have seen
    else:
        # After a restart ids start again from 0; every entry in the log is then new.
        new = newest - prev.last_id if newest > prev.last_id else newest + 1
    wanted = min(new, length, ceiling)
    return wanted + SECOND_READ_MARGIN if wanted > len(entries) else 0


def more(node: NodeView, prev: SlowlogRecord | None, replies: Sequence[Reply]) -> Sequence[Command]:
    wanted = second_read(
        prev, replies[0], replies[1], FETCH.of(node.options), FETCH_MAX.of(node.options)
    )
    return [("SLOWLOG", "GET", wanted)] if wanted else []


def parse(node: NodeView, prev: SlowlogRecord | None, replies: Sequence[Reply]) -> SlowlogRecord:
    by_id = {e.id: e for reply in [replies[0], *replies[2:]] for e in parse_entries(reply)}
    entries = sorted(by_id.values(), key=lambda e: e.id)
    counted = advance(prev or SlowlogRecord(), entries, node.run_id)
    length = to_int(replies[1])
    return SlowlogRecord(
        length=length if length is not None else len(entries),
        newest=entries[-1] if entries else None,
        last_id=counted.last_id,
        gap_known=counted.gap_known,
        run_id=counted.run_id,
        entries=counted.entries,
        seconds=counted.seconds,
        missed=counted.missed,
    )


def families(snap: NodeSnapshot, record: SlowlogRecord, b: FamilyBuilder) -> None:
    if record.length is not None:
        b.add(SLOWLOG_LENGTH, record.length)
        newest = record.newest
        b.add(SLOWLOG_LAST_ID, newest.id if newest else 0)
        b.add(SLOW_LAST_DURATION, newest.duration_us / 1e6 if newest else 0)
    info = snap.get(InfoRecord)
    exact = info.slowlog_commands if info is not None else None
    if exact is not None:
        # Redis 8.8+ counts each command's slowlog entries itself: exact, since the server
        # started, whatever left the log. The server restarts to upgrade, so a rate() sees
        # the switch from our tally as the counter reset a restart is anyway.
        for cmd in sorted(exact):
            count, ms = exact[cmd]
            b.add(SLOWLOG_ENTRIES, count, cmd=cmd)
            b.add(SLOWLOG_DURATION, ms / 1e3, cmd=cmd)
        b.add(SLOWLOG_MISSED, 0)
        return
    if record.last_id is None:
        return
    for cmd in sorted(record.entries):
        b.add(SLOWLOG_ENTRIES, record.entries[cmd], cmd=cmd)
        b.add(SLOWLOG_DURATION, record.seconds.get(cmd, 0.0), cmd=cmd)
    b.add(SLOWLOG_MISSED, record.missed)


SOURCE = Source(
    "slowlog",
    SlowlogRecord,
    DATA,
    commands,
    parse,
    families,
    more=more,
    metrics=declared(globals()),
    settings=(FETCH, FETCH_MAX),
    acl=("+slowlog|get", "+slowlog|len"),
)
