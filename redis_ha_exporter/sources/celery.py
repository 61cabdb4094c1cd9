"""Celery on a Redis broker, as kombu lays it out: each queue's length summed over its priority
lists, and the messages workers hold unacknowledged and the age of the oldest, on a walk of its
own time budget, on masters only (the result backend is `celery_results`).

redis_celery_queue_length{queue="celery",instance="10.0.0.1:6379"} 42
redis_celery_unacked{instance="10.0.0.1:6379"} 3
redis_celery_unacked_oldest_age_seconds{instance="10.0.0.1:6379"} 12.5

kombu keeps a queue's priority-p messages in the list `queue + "\\x06\\x16" + p` for each step
p but 0, whose messages are in `queue` itself; counting `queue` alone misses them. A queue
with no message has no list at all, and reads 0. Replicas are not asked: a queue is read from
where it is written.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import decode, to_int, to_number
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
from redis_ha_exporter.sources.scan import KeyTask, Scan, glob_escape

_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


def _queue_names(value: list[str], earlier: Mapping[str, Any]) -> list[str]:
    out = [name for item in value for name in (p.strip() for p in item.split(",")) if name]
    for name in out:
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a queue name (1 to 200 printable characters)")
    return list(dict.fromkeys(out))


def _steps(value: list[str], earlier: Mapping[str, Any]) -> list[str]:
    steps = [p.strip() for item in value for p in item.split(",") if p.strip()]
    numbers = [to_int(s) for s in steps]
    if not steps or any(n is None or not 0 <= n <= 255 for n in numbers):
        raise ValueError(f"{','.join(steps)!r} is not a list of priorities from 0 to 255")
    return [str(n) for n in sorted({n for n in numbers if n is not None})]


def _separator(value: str, earlier: Mapping[str, Any]) -> str:
    try:
        return codecs.decode(value, "unicode_escape")
    except UnicodeDecodeError:
        raise ValueError(f"{value!r} is not a valid escaped string") from None


QUEUES = Setting(
    "celery_queue",
    list[str],
    list[str](),
    "--celery-queue",
    ("REDIS_EXPORTER_CELERY_QUEUE",),
    "a Celery queue whose length to export (its kombu priority lists included); repeatable, "
    "and a configured queue reads 0 when it is empty",
    metavar="NAME",
    default_text="none",
    check=_queue_names,
    example=["celery"],
)
FROM_BINDINGS = Setting(
    "celery_queues_from_bindings",
    bool,
    False,
    "--celery-queues-from-bindings",
    ("REDIS_EXPORTER_CELERY_QUEUES_FROM_BINDINGS",),
    "also export every queue kombu has bound (its `_kombu.binding.*` sets)",
    metavar="BOOL",
)
DB = Setting(
    "celery_db",
    int,
    0,
    "--celery-db",
    ("REDIS_EXPORTER_CELERY_DB",),
    "the database of the broker (the number in its URL)",
    metavar="N",
    ge=0,
    le=1 << 20,
)
PREFIX = Setting(
    "celery_key_prefix",
    str,
    "",
    "--celery-key-prefix",
    ("REDIS_EXPORTER_CELERY_KEY_PREFIX",),
    "kombu's `global_keyprefix` transport option, if set: prefixed to every key read",
    metavar="PREFIX",
)
STEPS = Setting(
    "celery_priority_steps",
    list[str],
    ["0", "3", "6", "9"],
    "--celery-priority-steps",
    ("REDIS_EXPORTER_CELERY_PRIORITY_STEPS",),
    "kombu's `priority_steps` transport option: each step but 0 is a list of its own",
    metavar="STEPS",
    default_text="`0,3,6,9`",
    check=_steps,
)
SEPARATOR = Setting(
    "celery_priority_separator",
    str,
    "\x06\x16",
    "--celery-priority-separator",
    ("REDIS_EXPORTER_CELERY_PRIORITY_SEPARATOR",),
    "kombu's `sep` transport option between a queue's name and its priority, backslash-escaped",
    metavar="TEXT",
    default_text="`\\x06\\x16`",
    check=_separator,
)
BUDGET = Setting(
    "celery_budget",
    float,
    1.0,
    "--celery-budget",
    ("REDIS_EXPORTER_CELERY_BUDGET",),
    "seconds the Celery figures may take per poll (after the poll, on its connection); "
    "past it they stop and keep what they have",
    metavar="SECONDS",
    ge=0.001,
    le=60,
)
# Each queue is a label value: a bound keeps a broker with runaway queue names in check.
MAX_QUEUES = 1000

QUEUE_LENGTH = metric(
    "celery_queue_length",
    "gauge",
    "Messages waiting in the Celery queue, its kombu priority lists included (0 when empty).",
)
UNACKED = metric(
    "celery_unacked",
    "gauge",
    "Messages delivered to Celery workers and not yet acknowledged (kombu's unacked hash).",
)
UNACKED_AGE = metric(
    "celery_unacked_oldest_age_seconds",
    "gauge",
    "Seconds since the oldest unacknowledged message was delivered, by the server's clock "
    "(0 when none); kombu redelivers it past its visibility_timeout.",
)


@dataclass(frozen=True, slots=True)
class CeleryRecord:
    """Queue lengths in the order configured (then bound), and the unacked figures; `why`
    says what the walk did not finish."""

    queues: tuple[tuple[str, int], ...]
    unacked: int | None = None
    oldest_age: float | None = None
    why: str = ""


@dataclass(slots=True)
class _State:
    queues: list[str]
    phase: str = "start"
    bindings: Scan | None = None
    lengths: dict[str, int] = field(default_factory=dict)
    unacked: int | None = None
    oldest_age: float | None = None
    asked: list[str] = field(default_factory=list)  # the queue round's lists, in order
    read: bool = False  # the queue round's replies came


def _prefix(node: NodeView) -> str:
    return PREFIX.of(node.options)


def start(node: NodeView, prev: CeleryRecord | None) -> _State | None:
    options = node.options
    queues = QUEUES.of(options)
    if not (queues or FROM_BINDINGS.of(options)):
        return None
    if node.role != "master":
        return None
    return _State(list(queues))


def _bindings_task(key: bytes) -> KeyTask:
    (members,) = yield [("SMEMBERS", key)]
    return members


def step(node: NodeView, state: _State, replies: Sequence[Reply]) -> tuple[_State, list[Command]]:
    options, prefix = node.options, _prefix(node)
    db = DB.of(options)
    if state.phase == "start":
        if FROM_BINDINGS.of(options):
            state.phase = "bindings"
            state.bindings = Scan(
                lambda _db, key, _named: _bindings_task(key),
                {},
                {db: [glob_escape(prefix) + "_kombu.binding.*"]},
                batch=BATCH.of(options),
                cap=MAX_QUEUES,
            )
            return state, state.bindings.round(())
        state.phase = "queues"
        return state, _queue_round(state, node)
    if state.phase == "bindings":
        assert state.bindings is not None
        more = state.bindings.round(replies)
        if more:
            return state, more
        separator = SEPARATOR.of(options)
        for _db, _key, members in state.bindings.results:
            for member in members if isinstance(members, (list, tuple, set)) else ():
                name = decode(member).rsplit(separator, 1)[-1]
                if name and name not in state.queues and _NAME.fullmatch(name):
                    state.queues.append(name)
        state.phase = "queues"
        return state, _queue_round(state, node)
    _fold_queues(state, replies)
    return state, []


def _lists(node: NodeView, queue: str) -> list[str]:
    """The lists kombu keeps a queue's messages in, one per priority step."""
    prefix, separator = _prefix(node), SEPARATOR.of(node.options)
    steps = STEPS.of(node.options)
    return [prefix + queue + (separator + step if step != "0" else "") for step in steps]


def _queue_round(state: _State, node: NodeView) -> list[Command]:
    prefix = _prefix(node)
    state.queues = state.queues[:MAX_QUEUES]
    out: list[Command] = [("SELECT", DB.of(node.options)), ("TIME",)]
    state.asked = []
    for queue in state.queues:
        for key in _lists(node, queue):
            out.append(("LLEN", key))
            state.asked.append(queue)
    out += [
        ("HLEN", prefix + "unacked"),
        ("ZRANGE", prefix + "unacked_index", 0, 0, "WITHSCORES"),
    ]
    return out


def _fold_queues(state: _State, replies: Sequence[Reply]) -> None:
    if len(replies) != 2 + len(state.asked) + 2:
        return
    state.read = True
    now = _server_time(replies[1])
    for queue, reply in zip(state.asked, replies[2:], strict=False):
        state.lengths[queue] = state.lengths.get(queue, 0) + max(to_int(reply) or 0, 0)
    state.unacked = to_int(replies[-2])
    oldest = replies[-1]
    state.oldest_age = 0.0 if state.unacked is not None else None
    if isinstance(oldest, (list, tuple)) and len(oldest) == 2 and now is not None:
        delivered = to_number(decode(oldest[1]))
        if delivered is not None:
            state.oldest_age = max(now - delivered, 0.0)


def _server_time(reply: Reply) -> float | None:
    if isinstance(reply, (list, tuple)) and len(reply) == 2:
        seconds, micros = to_int(reply[0]), to_int(reply[1])
        if seconds is not None and micros is not None:
            return seconds + micros / 1e6
    return None


def finish(node: NodeView, prev: CeleryRecord | None, state: _State, run: Run) -> CeleryRecord:
    why = ""
    if run.out_of_time:
        why = f"{run.limit} stopped it while reading {state.phase}"
    queues = tuple((q, state.lengths.get(q, 0)) for q in state.queues)
    if not state.read:
        queues = ()  # not reached: no figure rather than a false 0
    return CeleryRecord(queues, state.unacked, state.oldest_age, why)


def stopped(record: CeleryRecord) -> str:
    return record.why


def families(snap: NodeSnapshot, record: CeleryRecord, b: FamilyBuilder) -> None:
    for queue, length in record.queues:
        b.add(QUEUE_LENGTH, length, queue=queue)
    if record.unacked is not None:
        b.add(UNACKED, record.unacked)
    if record.oldest_age is not None:
        b.add(UNACKED_AGE, record.oldest_age)


SOURCE = Source(
    "celery",
    CeleryRecord,
    DATA,
    no_commands,
    no_parse,
    families,
    metrics=declared(globals()),
    settings=(
        QUEUES,
        FROM_BINDINGS,
        DB,
        PREFIX,
        STEPS,
        SEPARATOR,
        BUDGET,
    ),
    acl_keys=("+time", "+llen", "+hlen", "+zrange", "+smembers"),
    walk=Walk(BUDGET, start, step, finish, stopped),
)
