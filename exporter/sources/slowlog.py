"""SLOWLOG replies and the exactly-once accounting of new entries across polls."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_UNSAFE = re.compile(r"[^a-z0-9_.|:-]")
MAX_CMD_LEN = 64


@dataclass(frozen=True, slots=True)
class SlowlogEntry:
    id: int
    timestamp: int
    duration_us: int
    command: str


@dataclass(frozen=True, slots=True)
class SlowlogTally:
    """Cumulative counts since the exporter started.

    `last_id` is None before the first poll. `gap_known` is False while we cannot tell how
    many ids lie between the last one seen and the next (the log was empty when we looked).
    """

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


def advance(tally: SlowlogTally, entries: Sequence[SlowlogEntry], run_id: str) -> SlowlogTally:
    """Count entries newer than the last one seen, once.

    Entry ids grow for the life of a server process and survive SLOWLOG RESET, so "newer"
    is `id > last_id`. A new run_id (restart) or ids going backwards start a new sequence
    whose entries are all new. A gap between the last id seen and the oldest new id means
    entries fell off the log (slowlog-max-len, or more than we fetch) before we saw them.
    """
    newest = max((e.id for e in entries), default=None)
    run_id = run_id or tally.run_id
    if tally.last_id is None:
        # First poll: what is already in the log predates us and is not counted.
        if newest is None:
            return SlowlogTally(-1, False, run_id)
        return SlowlogTally(newest, True, run_id)
    last, gap_known = tally.last_id, tally.gap_known
    if run_id != tally.run_id and tally.run_id:
        last, gap_known = -1, True  # a new process numbers its entries from 0
    elif newest is not None and newest < last:
        last, gap_known = -1, False
    fresh = [e for e in entries if e.id > last]
    if not fresh:
        return SlowlogTally(last, gap_known, run_id, tally.entries, tally.seconds, tally.missed)
    counts = dict(tally.entries)
    seconds = dict(tally.seconds)
    for entry in fresh:
        counts[entry.command] = counts.get(entry.command, 0) + 1
        seconds[entry.command] = seconds.get(entry.command, 0.0) + entry.duration_us / 1e6
    top = max(e.id for e in fresh)
    missed = tally.missed
    if gap_known:
        missed += max(top - last - len(fresh), 0)
    else:
        missed += max(top - min(e.id for e in fresh) + 1 - len(fresh), 0)
    return SlowlogTally(top, True, run_id, counts, seconds, missed)
