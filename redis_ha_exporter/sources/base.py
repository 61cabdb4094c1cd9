"""The protocol every data source follows: the commands it adds to a poll's pipeline, a pure
parse of their replies into a record, and the metric families built from that record.

A source never does I/O itself: `redis_ha_exporter.poll` sends what the sources ask for in one
pipelined round trip (plus a second one for sources whose `more` asks for it) and hands each
source its own replies, so sources are unit-tested from captured replies alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.snapshot import InfoRecord, InfoSections, NodeKind, NodeSnapshot

R = TypeVar("R")
Command = tuple[str | int, ...]
# A reply as redis-py returns it with raw responses: bytes, int, list, None, or the
# ResponseError the server answered with (pipelines run with raise_on_error=False).
Reply = Any


@dataclass(frozen=True, slots=True)
class PollOptions:
    """The settings that shape what a poll asks for."""

    slowlog_fetch: int = 128
    slowlog_fetch_max: int = 1024
    config_refresh_polls: int = 6
    sentinel_masters: frozenset[str] = frozenset()  # empty: every group

    def follows(self, group: str) -> bool:
        return not self.sentinel_masters or group in self.sentinel_masters


@dataclass(frozen=True, slots=True)
class NodeView:
    """What a source may know about the node when it plans and parses a poll.

    `info` is empty while planning; sources parse after INFO, and then see this poll's INFO
    (for example the slowlog needs `run_id` to tell a restart).
    """

    instance: str
    kind: NodeKind
    version: tuple[int, ...] = ()
    polls: int = 0  # successful polls before this one
    options: PollOptions = field(default_factory=PollOptions)
    info: InfoSections = field(default_factory=dict)

    def field(self, name: str) -> str:
        return InfoRecord(self.info).field(name)


def _no_more(node: NodeView, prev: Any, replies: Sequence[Reply]) -> Sequence[Command]:
    return ()


@dataclass(frozen=True, slots=True)
class Source(Generic[R]):
    """One command family. `name` is what logs say when the node refuses it.

    - `commands(node, prev)`: what to pipeline this poll; none keeps the previous record.
    - `more(node, prev, replies)`: a second round trip in the same poll, when the first
      replies show it is needed (Sentinel groups, a slowlog burst); usually none.
    - `parse(node, prev, replies)`: pure; replies of both rounds in order, error replies
      other than the first included as exceptions.
    - `families(snap, record, builder)`: pure; the metric families of the record.

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

    def previous(self, snap: NodeSnapshot) -> R | None:
        return snap.get(self.record)

    def add_families(self, snap: NodeSnapshot, builder: FamilyBuilder) -> None:
        record = snap.get(self.record)
        if record is not None:
            self.families(snap, record, builder)


DATA: frozenset[NodeKind] = frozenset({"data"})
SENTINEL: frozenset[NodeKind] = frozenset({"sentinel"})
ANY_KIND: frozenset[NodeKind] = frozenset({"data", "sentinel"})

# redis-py strips the error code (NOPERM, ERR) from the message, so match the text too.
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
