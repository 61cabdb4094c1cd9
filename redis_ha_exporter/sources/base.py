"""The protocol every data source follows: the commands it adds to a poll's pipeline, a pure
parse of their replies into a record, and the metric families built from that record.

A source never does I/O itself: `redis_ha_exporter.poll` sends what the sources ask for in one
pipelined round trip (plus a second one for sources whose `more` asks for it) and hands each
source its own replies, so sources are unit-tested from captured replies alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from redis_ha_exporter.metrics.model import FamilyBuilder, MetricDef
from redis_ha_exporter.snapshot import NodeKind, NodeSnapshot

R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")
Command = tuple[str | int | bytes, ...]  # a key is bytes: key names need not be UTF-8
# A reply as redis-py returns it with raw responses: bytes, int, list, None, or the
# ResponseError the server answered with (pipelines run with raise_on_error=False).
Reply = Any


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    """A setting a source declares for itself: `config` makes it a field of the settings,
    with its flag, environment variable, bounds and help, so it reaches `--help`,
    `check-config` and the README table like any other; the poll hands its value to the
    source through `PollOptions`.

    `check(value, earlier)` may raise ValueError; `earlier` holds the settings declared
    before it (a cross-check names the other setting with `described()`).
    """

    name: str  # the field name: `--slowlog-fetch` is `slowlog_fetch`
    type: Any  # the annotation: int, float, bool, list[str]
    default: T
    flag: str
    env: tuple[str, ...]
    help: str
    metavar: str | None = None
    default_text: str | None = None
    ge: float | None = None
    le: float | None = None
    check: Callable[[T, Mapping[str, Any]], T] | None = None
    # A value that makes the source send its commands, for tests that exercise every source
    # (the ACL test); None when the default already does.
    example: T | None = None

    def of(self, options: PollOptions) -> T:
        """This setting's value in a poll's options (its default when not given)."""
        return cast(T, options.values.get(self.name, self.default))

    def described(self) -> str:
        """How error messages name it: the flag and its environment variables."""
        return f"{self.flag} ({', '.join(self.env)})" if self.env else self.flag


@dataclass(frozen=True, slots=True)
class PollOptions:
    """The settings that shape what a poll asks for: the sources' own (`Setting.of`), and
    the Sentinel groups followed."""

    values: Mapping[str, object] = field(default_factory=dict)
    sentinel_masters: frozenset[str] = frozenset()  # empty: every group

    def follows(self, group: str) -> bool:
        return not self.sentinel_masters or group in self.sentinel_masters


@dataclass(frozen=True, slots=True)
class NodeView:
    """What a source may know about the node when it plans and parses a poll.

    `run_id` is "" while planning; sources parse after INFO, and then see this poll's
    (the slowlog needs it to tell a restart). `version` is `redis_version`, which Valkey keeps
    at 7.2.4 whatever its release: a Valkey feature is checked on `valkey` (its
    `valkey_version`, () on Redis).
    """

    instance: str
    kind: NodeKind
    version: tuple[int, ...] = ()
    polls: int = 0  # successful polls before this one
    options: PollOptions = field(default_factory=PollOptions)
    run_id: str = ""
    valkey: tuple[int, ...] = ()
    # Known to walks only (they run after the poll, from its snapshot): `master`, `slave`,
    # the replicas INFO lists and the keys of each database (dbN -> keys).
    role: str = ""
    replicas: int = 0
    keyspace: Mapping[str, int] = field(default_factory=dict)

    @property
    def redis(self) -> tuple[int, ...]:
        """Redis's own version; () on Valkey, whose redis_version says nothing of its
        features."""
        return () if self.valkey else self.version


def _no_more(node: NodeView, prev: Any, replies: Sequence[Reply]) -> Sequence[Command]:
    return ()


def no_commands(node: NodeView, prev: Any) -> Sequence[Command]:
    """A walk's source sends nothing in the poll's round trip."""
    return ()


def no_parse(node: NodeView, prev: Any, replies: Sequence[Reply]) -> Any:
    raise AssertionError("a walk's source is never parsed in a poll")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Run:
    """How a walk went: its round trips and commands, its seconds on the wire, and, when time
    stopped it with commands still to send, what limited it (its budget, or the next poll when
    the interval leaves less) as a log line names it; "" when it finished."""

    seconds: float
    rounds: int
    commands: int
    limit: str = ""

    @property
    def out_of_time(self) -> bool:
        return bool(self.limit)


@dataclass(frozen=True, slots=True)
class Walk(Generic[S, R]):
    """A source that needs many round trips (SCAN), run after the poll has published the
    node's snapshot, on the same connection, within its own time budget, so a slow walk
    never delays INFO. It stays pure: a state machine the walker drives.

    - `start(node, prev)`: its initial state, or None when it has nothing to do on this node
      (not configured, or a role it skips): its record is then dropped.
    - `due(node, prev)`: False to keep the previous record this poll (runs every N polls).
    - `step(node, state, replies)`: the replies of the last round ((): none yet) folded
      into the state, and the next round; () ends the walk.
    - `finish(node, prev, state, run)`: the record.
    - `stopped(record)`: why the record is partial ("" when whole), logged when it starts
      being so; the walker stops sending when the budget is spent, rounds are kept small.
    """

    budget: Setting[float]
    start: Callable[[NodeView, R | None], S | None]
    step: Callable[[NodeView, S, Sequence[Reply]], tuple[S, Sequence[Command]]]
    finish: Callable[[NodeView, R | None, S, Run], R]
    stopped: Callable[[R], str]
    due: Callable[[NodeView, R | None], bool] = lambda node, prev: True


@dataclass(frozen=True, slots=True)
class Source(Generic[R]):
    """One command family. `name` is what logs say when the node refuses it.

    - `commands(node, prev)`: what to pipeline this poll; none keeps the previous record.
    - `more(node, prev, replies)`: a second round trip in the same poll, when the first
      replies show it is needed (Sentinel groups, a slowlog burst); usually none.
    - `parse(node, prev, replies)`: pure; replies of both rounds in order, error replies
      other than the first included as exceptions.
    - `families(snap, record, builder)`: pure; the metric families of the record.
    - `templated(record, builder)`: families of the record alone whose every value is a
      number of its raw reply as it is spelled: the renderer fills these from a template of
      the reply instead (INFO, `info_template.py`), and runs this when it has none.
    - `from_snapshot(snap, builder)`: families the source owns but renders from other
      sources' records (a Sentinel's INFO section), present even when this source was
      refused.
    - `metrics`: every family it can emit, declared in its module.
    - `settings`: the options it takes (`Setting`), declared in its module.
    - `acl`: the ACL rules a least-privilege user needs for its commands.
    - `acl_valkey`: those only Valkey has (Redis refuses a rule naming a command it lacks).
    - `acl_keys`: those of an opt-in source that reads keys.
    - `walk`: for a source of many round trips (`Walk`); its `commands` are `no_commands`.

    When the node refuses the first command (NOPERM, unknown or renamed command) the poll
    logs it once and skips the source until the node reconnects. A `required` source's
    error fails the poll instead.
    """

    name: str
    record: type[R]
    kinds: frozenset[NodeKind]
    commands: Callable[[NodeView, R | None], Sequence[Command]]
    parse: Callable[[NodeView, R | None, Sequence[Reply]], R]
    families: Callable[[NodeSnapshot, R, FamilyBuilder], None]
    more: Callable[[NodeView, R | None, Sequence[Reply]], Sequence[Command]] = _no_more
    required: bool = False
    from_snapshot: Callable[[NodeSnapshot, FamilyBuilder], None] | None = None
    templated: Callable[[R, FamilyBuilder], None] | None = None
    metrics: tuple[MetricDef, ...] = ()
    settings: tuple[Setting[Any], ...] = ()
    acl: tuple[str, ...] = ()  # the ACL rules its commands need (README: least privilege)
    acl_valkey: tuple[str, ...] = ()
    # Those of an opt-in source that reads keys (key checks, Celery): a line of their own,
    # with read access to the keys, so the plain user has no key access at all.
    acl_keys: tuple[str, ...] = ()
    walk: Walk[Any, R] | None = None  # sent by the walker after the poll, not in it

    def previous(self, snap: NodeSnapshot) -> R | None:
        return snap.get(self.record)

    def add_families(
        self, snap: NodeSnapshot, builder: FamilyBuilder, filled: frozenset[type] = frozenset()
    ) -> None:
        """Its families of the snapshot; `templated` ones only when its record type is not in
        `filled` (the caller filled those from a template)."""
        if self.from_snapshot is not None and snap.kind in self.kinds:
            self.from_snapshot(snap, builder)
        record = snap.get(self.record)
        if record is not None:
            if self.templated is not None and self.record not in filled:
                self.templated(record, builder)
            self.families(snap, record, builder)


DATA: frozenset[NodeKind] = frozenset({"data"})
SENTINEL: frozenset[NodeKind] = frozenset({"sentinel"})
ANY_KIND: frozenset[NodeKind] = frozenset({"data", "sentinel"})

# Match the words, not only the code: replies name a refusal in several ways across versions
# and managed services (NOPERM, "no permissions", "unknown command", "not allowed").
_REFUSALS = (
    "NOPERM",
    "NO PERMISSIONS",
    "UNKNOWN COMMAND",
    "UNKNOWN SUBCOMMAND",
    "DISABLED",
    "NOT ALLOWED",
)


def is_refusal(reply: Reply) -> bool:
    """An error reply meaning "you may never run this here": an ACL denial, a command that
    a managed service removed or renamed, or one the server does not have."""
    if not isinstance(reply, Exception):
        return False
    text = str(reply).upper()
    return any(marker in text for marker in _REFUSALS)
