"""PUBSUB NUMSUB for the channels named by `--pubsub-channel`, and SHARDNUMSUB for the same
names where the server has sharded pub/sub (Redis and Valkey 7.0+): who listens on the
channels an application depends on. A configured channel nobody listens on reads 0.

redis_pubsub_channel_subscribers{channel="orders",instance="10.0.0.1:6379"} 3
redis_pubsub_shard_channel_subscribers{channel="orders",instance="10.0.0.1:6379"} 0

The totals (`redis_pubsub_channels`, `redis_pubsub_patterns`, redis_exporter's names) are INFO
fields and come with the INFO source; asking PUBSUB for them again would add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import decode, to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Command, NodeView, Reply, Setting, Source

CHANNELS = Setting(
    "pubsub_channel",
    list[str],
    list[str](),
    "--pubsub-channel",
    ("REDIS_EXPORTER_PUBSUB_CHANNEL",),
    "a pub/sub channel whose subscribers to count with `PUBSUB NUMSUB` (and `SHARDNUMSUB` on "
    "7.0+); repeatable, and a configured channel reads 0 when nobody listens",
    metavar="CHANNEL",
    default_text="none",
    example=["orders", "news"],
)
# Each channel is a label value: a bound keeps a long list from exploding cardinality.
MAX_CHANNELS = 1000

SUBSCRIBERS = metric(
    "pubsub_channel_subscribers", "gauge", "Clients subscribed to the channel (PUBSUB NUMSUB)."
)
SHARD_SUBSCRIBERS = metric(
    "pubsub_shard_channel_subscribers",
    "gauge",
    "Clients subscribed to the shard channel (PUBSUB SHARDNUMSUB).",
)


@dataclass(frozen=True, slots=True)
class PubsubRecord:
    """Subscribers per configured channel, in the order configured; `shard` is None where
    the server has no sharded pub/sub."""

    channels: tuple[tuple[str, int], ...]
    shard: tuple[tuple[str, int], ...] | None


def _channels(node: NodeView) -> list[str]:
    return list(dict.fromkeys(CHANNELS.of(node.options)))[:MAX_CHANNELS]


def _has_shards(node: NodeView) -> bool:
    return node.version >= (7,)


def commands(node: NodeView, prev: PubsubRecord | None) -> Sequence[Command]:
    channels = _channels(node)
    if not channels:
        return ()
    out: list[Command] = [("PUBSUB", "NUMSUB", *channels)]
    if _has_shards(node):
        out.append(("PUBSUB", "SHARDNUMSUB", *channels))
    return out


def counts(reply: Reply, channels: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """A `[channel, count, ...]` reply as (channel, count) for each configured channel;
    a channel the reply leaves out, or answers with junk, counts 0."""
    found: dict[str, int] = {}
    if isinstance(reply, (list, tuple)):
        for name, count in zip(reply[0::2], reply[1::2], strict=False):
            found[decode(name)] = max(to_int(count) or 0, 0)
    return tuple((channel, found.get(channel, 0)) for channel in channels)


def parse(node: NodeView, prev: PubsubRecord | None, replies: Sequence[Reply]) -> PubsubRecord:
    channels = _channels(node)
    shard = None
    if len(replies) > 1 and not isinstance(replies[1], Exception):
        shard = counts(replies[1], channels)
    return PubsubRecord(counts(replies[0], channels), shard)


def families(snap: NodeSnapshot, record: PubsubRecord, b: FamilyBuilder) -> None:
    for channel, count in record.channels:
        b.add(SUBSCRIBERS, count, channel=channel)
    for channel, count in record.shard or ():
        b.add(SHARD_SUBSCRIBERS, count, channel=channel)


SOURCE = Source(
    "pubsub",
    PubsubRecord,
    DATA,
    commands,
    parse,
    families,
    metrics=declared(globals()),
    settings=(CHANNELS,),
    acl=("+pubsub|numsub", "+pubsub|shardnumsub"),
)
