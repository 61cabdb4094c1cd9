"""Memory by key pattern, the runbook's `redis-cli --memkeys` as series: a sample of the keyspace
from `SCAN` and `MEMORY USAGE … SAMPLES`, each key counted in the first `--key-groups` glob it
matches, scaled up by the fraction sampled. On a replica where the master has one, every N
polls, within a strict time budget.

redis_key_group_keys{db="db0",group="session:*",instance="10.0.0.2:6379"} 51200
redis_key_group_memory_bytes{db="db0",group="session:*",instance="10.0.0.2:6379"} 9.8e+07
redis_key_group_sampled_ratio{db="db0",instance="10.0.0.2:6379"} 0.1

The figures are estimates: SCAN visits keys in hash-table order, which has nothing to do with
their names, so the first keys it returns are a fair sample; the fraction sampled says how
far to trust them. Redis 8's `INFO keysizes` (redis_db_keysizes_*) answers another question,
exactly and for free: how key sizes are distributed, by type, with no names.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import (
    DATA,
    Command,
    NodeView,
    Reply,
    Run,
    Setting,
    Source,
    Walk,
    no_commands,
    no_parse,
)
from redis_ha_exporter.sources.keys import BATCH
from redis_ha_exporter.sources.scan import KeyTask, Scan, parse_targets, targets_check

GROUPS = Setting(
    "key_groups",
    list[str],
    list[str](),
    "--key-groups",
    ("REDIS_EXPORTER_KEY_GROUPS",),
    "glob patterns (`[dbN=]book:*`) to estimate key count and memory of from a sample of the "
    "keyspace; a key counts in the first it matches, the rest in `(other)`",
    metavar="PATTERNS",
    default_text="none",
    check=targets_check,
    example=["db0=session:*,db0=book:*"],
)
MAX_KEYS = Setting(
    "key_groups_max_keys",
    int,
    10_000,
    "--key-groups-max-keys",
    ("REDIS_EXPORTER_KEY_GROUPS_MAX_KEYS",),
    "keys sampled per run, each sent MEMORY USAGE",
    metavar="N",
    ge=1,
    le=10_000_000,
)
SAMPLES = Setting(
    "key_groups_memory_samples",
    int,
    5,
    "--key-groups-memory-samples",
    ("REDIS_EXPORTER_KEY_GROUPS_MEMORY_SAMPLES",),
    "MEMORY USAGE's SAMPLES: nested values read to estimate a big list, set or hash",
    metavar="N",
    ge=0,
    le=10_000,
)
EVERY = Setting(
    "key_groups_every",
    int,
    10,
    "--key-groups-every",
    ("REDIS_EXPORTER_KEY_GROUPS_EVERY",),
    "sample once every N polls of the node",
    metavar="N",
    ge=1,
    le=1_000_000,
)
ON = Setting(
    "key_groups_on",
    Literal["prefer-replica", "replicas", "masters", "all"],
    "prefer-replica",
    "--key-groups-on",
    ("REDIS_EXPORTER_KEY_GROUPS_ON",),
    "`prefer-replica`: on replicas, and on a master only when it has none; `replicas`, "
    "`masters` or `all`",
    metavar="ROLE",
)
TOP = Setting(
    "key_groups_top_keys",
    int,
    0,
    "--key-groups-top-keys",
    ("REDIS_EXPORTER_KEY_GROUPS_TOP_KEYS",),
    "also export the N biggest keys of the sample by name (key names can be sensitive)",
    metavar="N",
    ge=0,
    le=100,
)
BUDGET = Setting(
    "key_groups_budget",
    float,
    1.0,
    "--key-groups-budget",
    ("REDIS_EXPORTER_KEY_GROUPS_BUDGET",),
    "seconds a sample may take (after the poll, on its connection); past it the sample is "
    "what was read so far, and the walk says it stopped early",
    metavar="SECONDS",
    ge=0.001,
    le=60,
)

GROUP_KEYS = metric(
    "key_group_keys",
    "gauge",
    "Estimated keys in the group: the sample's keys matching it, divided by the fraction of "
    "the database sampled.",
)
GROUP_MEMORY = metric(
    "key_group_memory_bytes",
    "gauge",
    "Estimated bytes the group's keys take: their sampled MEMORY USAGE divided by the "
    "fraction of the database sampled.",
)
SAMPLED = metric(
    "key_group_sampled_ratio",
    "gauge",
    "Fraction of the database's keys the last key-group sample read (1: every key).",
)
TOP_KEY = metric(
    "key_group_top_key_memory_bytes",
    "gauge",
    "MEMORY USAGE of the biggest keys the sample saw (--key-groups-top-keys).",
)

OTHER = "(other)"
MAX_NAME = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def printable(name: str) -> str:
    """A key name fit for a label: control characters spelt `\\xNN`, at most 200 characters."""
    text = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}", name)
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Redis's glob (`*`, `?`, `[abc]`, `[^a-z]`, `\\x`) as a regular expression."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("^")
                body = body[1:] if negate else body
                chars = "".join(re.escape(ch) if ch != "-" else "-" for ch in body)
                out.append(f"[{'^' if negate else ''}{chars}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True, slots=True)
class KeyGroupsRecord:
    """Per database: (group, estimated keys, estimated bytes), the fraction sampled; the
    biggest keys (db, group, key, bytes); `why` says what stopped the sample early."""

    groups: tuple[tuple[str, str, float, float], ...]
    sampled: tuple[tuple[str, float], ...]
    top: tuple[tuple[str, str, str, int], ...] = ()
    why: str = ""


@dataclass(slots=True)
class _State:
    scan: Scan
    groups: dict[int, list[tuple[str, re.Pattern[str]]]]
    samples: int
    bytes_seen: dict[tuple[int, str], int] = field(default_factory=dict)
    keys_seen: dict[tuple[int, str], int] = field(default_factory=dict)
    top: int = 0  # --key-groups-top-keys
    # The biggest keys so far, as a heap: (bytes, db, group, key)
    sizes: list[tuple[int, int, str, str]] = field(default_factory=list)


def runs_here(node: NodeView, on: str) -> bool:
    if on == "masters":
        return node.role == "master"
    if on == "replicas":
        return node.role == "slave"
    if on == "prefer-replica":
        return node.role == "slave" or (node.role == "master" and node.replicas == 0)
    return True


def start(node: NodeView, prev: KeyGroupsRecord | None) -> _State | None:
    options = node.options
    targets = parse_targets(GROUPS.of(options))
    if not targets or not runs_here(node, ON.of(options)):
        return None
    groups: dict[int, list[tuple[str, re.Pattern[str]]]] = {}
    for target in targets:
        groups.setdefault(target.db, []).append((target.name, glob_regex(target.name)))
    state: _State

    def make(db: int, key: bytes, named: bool) -> KeyTask:
        return _measure(state, db, key)

    scan = Scan(
        make,
        {},
        {db: ["*"] for db in groups},
        batch=BATCH.of(options),
        cap=MAX_KEYS.of(options),
    )
    state = _State(scan, groups, SAMPLES.of(options), top=TOP.of(options))
    return state


def due(node: NodeView, prev: KeyGroupsRecord | None) -> bool:
    return prev is None or node.polls % EVERY.of(node.options) == 0


def _measure(state: _State, db: int, key: bytes) -> KeyTask:
    (used,) = yield [("MEMORY", "USAGE", key, "SAMPLES", state.samples)]
    size = to_int(used)
    if size is None:  # gone since SCAN returned it
        return None
    name = key.decode("utf-8", "replace")
    group = next((g for g, regex in state.groups.get(db, []) if regex.fullmatch(name)), OTHER)
    state.keys_seen[(db, group)] = state.keys_seen.get((db, group), 0) + 1
    state.bytes_seen[(db, group)] = state.bytes_seen.get((db, group), 0) + size
    if state.top:
        # Only the biggest are kept, so a sample of many keys holds no list of them all.
        item = (size, db, group, name)
        if len(state.sizes) < state.top:
            heapq.heappush(state.sizes, item)
        elif item > state.sizes[0]:
            heapq.heapreplace(state.sizes, item)
    return size


def step(node: NodeView, state: _State, replies: Sequence[Reply]) -> tuple[_State, list[Command]]:
    return state, state.scan.round(replies)


def finish(
    node: NodeView, prev: KeyGroupsRecord | None, state: _State, run: Run
) -> KeyGroupsRecord:
    scan = state.scan
    if run.out_of_time:
        scan.stop()
    whole = {db for db in state.groups if not any(d == db for d, _p in scan.cut)}
    groups: list[tuple[str, str, float, float]] = []
    sampled: list[tuple[str, float]] = []
    for db, patterns in sorted(state.groups.items()):
        measured = sum(n for (d, _group), n in state.keys_seen.items() if d == db)
        total = node.keyspace.get(f"db{db}", 0)
        ratio = 1.0 if db in whole else min(measured / total, 1.0) if total else 0.0
        sampled.append((f"db{db}", ratio))
        scale = 1 / ratio if ratio else 0.0
        for group in [*(g for g, _r in patterns), OTHER]:
            keys = state.keys_seen.get((db, group), 0)
            used = state.bytes_seen.get((db, group), 0)
            groups.append((f"db{db}", group, keys * scale, used * scale))
    top = sorted(state.sizes, reverse=True)
    why = ""
    if run.out_of_time:
        why = f"{run.limit} stopped it after {sum(state.keys_seen.values())} keys"
    return KeyGroupsRecord(
        tuple(groups),
        tuple(sampled),
        tuple((f"db{db}", group, printable(name), size) for size, db, group, name in top),
        why,
    )


def stopped(record: KeyGroupsRecord) -> str:
    return record.why


def families(snap: NodeSnapshot, record: KeyGroupsRecord, b: FamilyBuilder) -> None:
    for db, group, keys, used in record.groups:
        b.add(GROUP_KEYS, round(keys), db=db, group=group)
        b.add(GROUP_MEMORY, round(used), db=db, group=group)
    for db, ratio in record.sampled:
        b.add(SAMPLED, ratio, db=db)
    for db, group, key, used in record.top:
        b.add(TOP_KEY, used, db=db, group=group, key=key)


SOURCE = Source(
    "key-groups",
    KeyGroupsRecord,
    DATA,
    no_commands,
    no_parse,
    families,
    metrics=declared(globals()),
    settings=(GROUPS, MAX_KEYS, SAMPLES, EVERY, ON, TOP, BUDGET),
    acl_keys=("+select", "+scan", "+memory|usage"),
    walk=Walk(BUDGET, start, step, finish, stopped, due),
)
