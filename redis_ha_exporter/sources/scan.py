"""The key walks' common part: `[dbN=]name` lists as redis_exporter spells them, and a pure
engine that expands patterns with `SCAN … MATCH … COUNT` (never `KEYS`) and runs each key's
own few commands, pipelined with the next `SCAN` in the same round trip.

Each key's work is a generator: it yields the commands of its next step and receives their
replies, and returns its result. The engine keeps one database per round (`SELECT` first),
bounds the keys in flight, and stops expanding patterns at a key cap; the walker stops it at
the time budget. What was not expanded is named in `cut`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis_ha_exporter.replies import decode, to_int
from redis_ha_exporter.sources.base import Command, Reply

# A key's work: yields the commands of each step, is sent their replies, returns its result.
KeyTask = Generator[list[Command], list[Reply], Any]
# db, key, named (True) or matched by a pattern -> its work, or None when it needs none
MakeTask = Callable[[int, bytes, bool], KeyTask | None]

_DB = re.compile(r"db(\d+)=(.*)", re.DOTALL)
MAX_DB = 1 << 20


@dataclass(frozen=True, slots=True)
class Target:
    """A configured entry: `db3=user_count` is db 3, `user_count` db 0."""

    db: int
    name: str

    @property
    def spelt(self) -> str:
        return f"db{self.db}={self.name}"


def parse_targets(items: Sequence[str]) -> list[Target]:
    """redis_exporter's comma-separated `[dbN=]name` entries (several flags allowed); raises
    ValueError naming a bad entry."""
    out: list[Target] = []
    for item in items:
        for part in item.split(","):
            entry = part.strip()
            if not entry:
                continue
            match = _DB.fullmatch(entry)
            db, name = (int(match[1]), match[2].strip()) if match else (0, entry)
            if not name:
                raise ValueError(f"{entry!r} names no key")
            if db > MAX_DB:
                raise ValueError(f"{entry!r}: no such database")
            out.append(Target(db, name))
    return list(dict.fromkeys(out))


def targets_check(items: list[str], earlier: object) -> list[str]:
    """A `Setting.check`: the entries, validated and spelt one per item."""
    return [t.spelt if t.db else t.name for t in parse_targets(items)]


def has_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


def glob_escape(text: str) -> str:
    """`text` matched literally by SCAN's MATCH (a key prefix holding `*` or `[`)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def split_targets(items: Sequence[str]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """The entries by database: names, and patterns (a name without glob characters is a
    named key, read even when it is missing)."""
    singles: dict[int, list[str]] = {}
    patterns: dict[int, list[str]] = {}
    for target in parse_targets(items):
        into = patterns if has_glob(target.name) else singles
        into.setdefault(target.db, []).append(target.name)
    return singles, patterns


@dataclass(slots=True)
class _Active:
    key: bytes
    task: KeyTask
    sent: int  # commands of its current step in the round


@dataclass(slots=True)
class Scan:
    """The engine's state. `results` holds (db, key, result) of each finished key, named
    keys first; `matched` counts each pattern's keys, `cut` names the patterns left partly
    or wholly unexpanded (the key cap, an error reply, or `stop()` at the time budget).

    Past `cap` keys given work, a pattern's further keys go to `count` when there is one
    (key groups count every key but size a sample), else expansion stops there.
    """

    make: MakeTask
    singles: dict[int, list[str]]
    patterns: dict[int, list[str]]
    batch: int = 1000
    cap: int = 1000
    count: Callable[[int, bytes], None] | None = None
    scan_type: str | None = None  # SCAN's TYPE filter (Redis 6+)
    results: list[tuple[int, bytes, Any]] = field(default_factory=list)
    matched: dict[tuple[int, str], int] = field(default_factory=dict)
    cut: list[tuple[int, str]] = field(default_factory=list)
    at_cap: bool = False
    _dbs: list[int] = field(default_factory=list)
    _db: int | None = None
    _pending: list[str] = field(default_factory=list)  # this db's patterns still to expand
    _cursor: bytes = b"0"
    _scanning: str | None = None  # the pattern the last round's SCAN expanded
    _active: list[_Active] = field(default_factory=list)
    _queued: list[Command] = field(default_factory=list)  # the active keys' next steps
    _seen: set[bytes] = field(default_factory=set)
    _given: int = 0

    def __post_init__(self) -> None:
        self._dbs = sorted(set(self.singles) | set(self.patterns), reverse=True)

    def round(self, replies: Sequence[Reply]) -> list[Command]:
        """The last round's replies folded in; the next round, [] when all is done."""
        if replies and self._db is not None:
            self._fold(replies)
        while True:
            if self._db is None:
                if not self._dbs:
                    return []
                self._enter(self._dbs.pop())
            commands = self._next()
            if commands:
                return commands
            self._db = None

    def stop(self) -> None:
        """Out of time: the patterns being or still to be expanded are cut."""
        if self._db is not None:
            self.cut += [(self._db, p) for p in self._pending]
        for db in reversed(self._dbs):
            self.cut += [(db, p) for p in self.patterns.get(db, [])]
        self._dbs, self._db, self._active, self._pending = [], None, [], []

    def _enter(self, db: int) -> None:
        self._db, self._seen, self._cursor = db, set(), b"0"
        self._pending = list(self.patterns.get(db, []))
        for name in self.singles.get(db, []):
            key = name.encode()
            if key not in self._seen:
                self._seen.add(key)
                self._start(db, key, True)

    def _start(self, db: int, key: bytes, named: bool) -> None:
        task = self.make(db, key, named)
        if task is None:
            return
        try:
            commands = next(task)
        except StopIteration as done:
            self.results.append((db, key, done.value))
            return
        self._active.append(_Active(key, task, len(commands)))
        self._queued += commands

    def _next(self) -> list[Command]:
        assert self._db is not None
        if self._pending and self.at_cap and self.count is None:
            self.cut += [(self._db, p) for p in self._pending if (self._db, p) not in self.cut]
            self._pending = []
        out: list[Command] = [("SELECT", self._db)]
        self._scanning = None
        if self._pending and len(self._active) < 2 * self.batch:
            self._scanning = self._pending[0]
            cursor = self._cursor.decode()
            scan: Command = ("SCAN", cursor, "MATCH", self._scanning, "COUNT", self.batch)
            out.append((*scan, "TYPE", self.scan_type) if self.scan_type else scan)
        out += self._queued
        self._queued = []
        return out if len(out) > 1 else []

    def _fold(self, replies: Sequence[Reply]) -> None:
        assert self._db is not None
        db, pattern, offset = self._db, self._scanning, 1
        found: list[bytes] = []
        if pattern is not None:
            found = self._scanned(replies[1] if len(replies) > 1 else None, pattern)
            offset = 2
        active, self._active = self._active, []
        for item in active:
            mine = list(replies[offset : offset + item.sent])
            offset += item.sent
            try:
                commands = item.task.send(mine)
            except StopIteration as done:
                self.results.append((db, item.key, done.value))
                continue
            item.sent = len(commands)
            self._active.append(item)
            self._queued += commands
        for key in found:
            if key in self._seen:
                continue
            self._seen.add(key)
            self.matched[(db, pattern or "")] = self.matched.get((db, pattern or ""), 0) + 1
            if self._given < self.cap:
                self._given += 1
                self._start(db, key, False)
            else:
                self.at_cap = True
                if self.count is not None:
                    self.count(db, key)
                elif (db, pattern or "") not in self.cut:
                    # Even on the pattern's last SCAN page: a key of it was left out.
                    self.cut.append((db, pattern or ""))

    def _scanned(self, reply: Reply, pattern: str) -> list[bytes]:
        """A SCAN reply's keys; its cursor is the next one, and 0 ends the pattern. An error
        or a malformed reply ends the pattern as cut."""
        assert self._db is not None
        self.matched.setdefault((self._db, pattern), 0)
        if (
            not isinstance(reply, (list, tuple))
            or len(reply) != 2
            or to_int(reply[0]) is None
            or not isinstance(reply[1], (list, tuple))
        ):
            self.cut.append((self._db, self._pending.pop(0)))
            self._cursor = b"0"
            return []
        cursor = decode(reply[0]).encode()
        if cursor == b"0":
            self._pending.pop(0)
        self._cursor = cursor
        return [k if isinstance(k, bytes) else decode(k).encode() for k in reply[1]]


def scan_step(node: object, scan: Scan, replies: Sequence[Reply]) -> tuple[Scan, list[Command]]:
    """`Walk.step` of a walk whose state is the engine itself."""
    return scan, scan.round(replies)
