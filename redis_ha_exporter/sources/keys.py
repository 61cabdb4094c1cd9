"""Watched keys (`--check-keys` patterns, `--check-single-keys` names): each key's size by its
type, and its memory when asked, on a walk of its own time budget.

redis_key_size{db="db0",key="celery",instance="10.0.0.1:6379"} 12
redis_key_memory_usage_bytes{db="db0",key="celery",instance="10.0.0.1:6379"} 1432
redis_exporter_key_checks_truncated{instance="10.0.0.1:6379"} 0

A named key that is missing reads 0: a drained queue is an empty list, which Redis deletes,
and an alert on its size must see 0, not nothing. A pattern's keys are whatever exist now, so
a key gone from it simply has no series (a 0 for every key that ever matched would grow
without bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import decode, to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import (
    DATA,
    Command,
    NodeView,
    Run,
    Setting,
    Source,
    Walk,
    no_commands,
    no_parse,
)
from redis_ha_exporter.sources.scan import KeyTask, Scan, scan_step, split_targets, targets_check

CHECK_KEYS = Setting(
    "check_keys",
    list[str],
    list[str](),
    "--check-keys",
    ("REDIS_EXPORTER_CHECK_KEYS",),
    "key patterns whose keys' sizes to export, `[dbN=]pattern` separated by commas (db0 when not "
    "given); expanded with SCAN, never KEYS, within the key checks' time budget and key cap",
    metavar="PATTERNS",
    default_text="none",
    check=targets_check,
    example=["db0=app:*"],
)
CHECK_SINGLE_KEYS = Setting(
    "check_single_keys",
    list[str],
    list[str](),
    "--check-single-keys",
    ("REDIS_EXPORTER_CHECK_SINGLE_KEYS",),
    "keys whose sizes to export, `[dbN=]name` separated by commas; a missing one reads 0",
    metavar="KEYS",
    default_text="none",
    check=targets_check,
)
BATCH = Setting(
    "check_keys_batch_size",
    int,
    1000,
    "--check-keys-batch-size",
    ("REDIS_EXPORTER_CHECK_KEYS_BATCH_SIZE",),
    "SCAN's COUNT, and the most keys whose commands share a round trip",
    metavar="N",
    ge=1,
    le=100_000,
)
MAX_KEYS = Setting(
    "check_keys_max",
    int,
    1000,
    "--check-keys-max",
    ("REDIS_EXPORTER_CHECK_KEYS_MAX",),
    "the most keys patterns may add, each a series; past it the rest are left out and "
    "redis_exporter_key_checks_truncated is 1",
    metavar="N",
    ge=1,
    le=1_000_000,
)
BUDGET = Setting(
    "check_keys_budget",
    float,
    1.0,
    "--check-keys-budget",
    ("REDIS_EXPORTER_CHECK_KEYS_BUDGET",),
    "seconds the key checks may take per poll (after the poll, on its connection); past it "
    "they stop, keep what they have and set redis_exporter_key_checks_truncated",
    metavar="SECONDS",
    ge=0.001,
    le=60,
)
ON = Setting(
    "check_keys_on",
    Literal["all", "replicas", "masters"],
    "all",
    "--check-keys-on",
    ("REDIS_EXPORTER_CHECK_KEYS_ON",),
    "which nodes the key and stream checks run on: `all`, `replicas` (spares the master), "
    "`masters`",
    metavar="ROLE",
)
SKIP_MASTER = Setting(
    "skip_checkkeys_for_role_master",
    bool,
    False,
    "--skip-checkkeys-for-role-master",
    ("REDIS_EXPORTER_SKIP_CHECKKEYS_FOR_ROLE_MASTER",),
    "redis_exporter's spelling of --check-keys-on replicas",
    metavar="BOOL",
)
MEMORY = Setting(
    "check_keys_memory",
    bool,
    False,
    "--check-keys-memory",
    ("REDIS_EXPORTER_CHECK_KEYS_MEMORY",),
    "also export each checked key's `MEMORY USAGE` as redis_key_memory_usage_bytes",
    metavar="BOOL",
)

KEY_SIZE = metric(
    "key_size",
    "gauge",
    "The length or size of the key: LLEN, SCARD, ZCARD, HLEN, XLEN, STRLEN, or PFCOUNT of "
    "a HyperLogLog; 0 for a named key that does not exist.",
)
KEY_MEMORY = metric(
    "key_memory_usage_bytes", "gauge", "Bytes the key and its value take (MEMORY USAGE)."
)
TRUNCATED = metric(
    "exporter_key_checks_truncated",
    "gauge",
    "1 when the last key checks stopped early (--check-keys-budget or --check-keys-max): "
    "some keys matched by the patterns have no series.",
)

_SIZE = {
    "list": "LLEN",
    "set": "SCARD",
    "zset": "ZCARD",
    "hash": "HLEN",
    "stream": "XLEN",
    "string": "STRLEN",
}
# TYPE says `string` for a HyperLogLog: its value starts with this header (Redis's own
# check before a PF command), so PFCOUNT is sent only to a string that has it.
HLL_HEADER = b"HYLL"


@dataclass(frozen=True, slots=True)
class KeysRecord:
    """Each checked key that exists (named ones always): (db label, key, size, memory or
    None); `cut` the patterns not fully expanded and why."""

    keys: tuple[tuple[str, str, int, int | None], ...]
    cut: tuple[str, ...] = ()
    why: str = ""


def key_task(key: bytes, named: bool, memory: bool) -> KeyTask:
    """TYPE, then the type's size command (and MEMORY USAGE); a string's first bytes tell a
    HyperLogLog, whose size is its PFCOUNT. Returns (size, memory or None), or None for a
    key that is gone ((0, None) for a named one)."""
    (kind,) = yield [("TYPE", key)]
    size_command = _SIZE.get(decode(kind)) if not isinstance(kind, Exception) else None
    if size_command is None:
        return (0, None) if named and decode(kind) == "none" else None
    step: list[Command] = [(size_command, key)]
    if size_command == "STRLEN":
        step.append(("GETRANGE", key, 0, len(HLL_HEADER) - 1))
    if memory:
        step.append(("MEMORY", "USAGE", key))
    replies = yield step
    size = to_int(replies[0])
    used = to_int(replies[-1]) if memory else None
    if size_command == "STRLEN" and replies[1] == HLL_HEADER:
        (count,) = yield [("PFCOUNT", key)]
        size = to_int(count)
    if size is None:
        return None
    return (size, used)


def runs_here(node: NodeView, on: str, skip_master: bool) -> bool:
    """Whether a walk limited to `on` (`all`, `replicas`, `masters`) runs on this node."""
    if on == "replicas" or (skip_master and on == "all"):
        return node.role == "slave"
    if on == "masters":
        return node.role == "master"
    return True


def start(node: NodeView, prev: KeysRecord | None) -> Scan | None:
    options = node.options
    patterns = CHECK_KEYS.of(options)
    named = CHECK_SINGLE_KEYS.of(options)
    if not (patterns or named):
        return None
    if not runs_here(node, ON.of(options), SKIP_MASTER.of(options)):
        return None
    singles, globs = split_targets([*named, *patterns])
    # A pattern without glob characters names one key: checked as a named key (0 if gone).
    memory = MEMORY.of(options)

    def make(db: int, key: bytes, is_named: bool) -> KeyTask:
        return key_task(key, is_named, memory)

    return Scan(make, singles, globs, batch=BATCH.of(options), cap=MAX_KEYS.of(options))


def finish(node: NodeView, prev: KeysRecord | None, scan: Scan, run: Run) -> KeysRecord:
    if run.out_of_time:
        scan.stop()
    keys: list[tuple[str, str, int, int | None]] = []
    for db, key, result in scan.results:
        if result is not None:
            size, used = result
            keys.append((f"db{db}", decode(key), size, used))
    cut = tuple(f"db{db}={pattern}" for db, pattern in dict.fromkeys(scan.cut))
    reason = (
        run.limit
        if run.out_of_time
        else f"its cap of {MAX_KEYS.of(node.options)} keys (--check-keys-max)"
        if scan.at_cap
        else "an error reply to SCAN"
    )
    why = ""
    if cut:
        why = f"patterns {', '.join(cut)} not fully expanded: {reason}"
    elif run.out_of_time:
        why = f"named keys left unread: {reason}"
    return KeysRecord(tuple(keys), cut, why)


def stopped(record: KeysRecord) -> str:
    return record.why


def families(snap: NodeSnapshot, record: KeysRecord, b: FamilyBuilder) -> None:
    for db, key, size, used in record.keys:
        b.add(KEY_SIZE, size, db=db, key=key)
        if used is not None:
            b.add(KEY_MEMORY, used, db=db, key=key)
    b.add(TRUNCATED, int(bool(record.why)))


SOURCE = Source(
    "check-keys",
    KeysRecord,
    DATA,
    no_commands,
    no_parse,
    families,
    metrics=declared(globals()),
    settings=(CHECK_KEYS, CHECK_SINGLE_KEYS, BATCH, MAX_KEYS, BUDGET, ON, SKIP_MASTER, MEMORY),
    acl_keys=(
        "+select",
        "+scan",
        "+type",
        "+llen",
        "+scard",
        "+zcard",
        "+hlen",
        "+xlen",
        "+strlen",
        "+getrange",
        "+pfcount",
        "+memory|usage",
    ),
    walk=Walk(BUDGET, start, scan_step, finish, stopped),
)
