"""redis_ha_exporter.sources.pubsub: PUBSUB NUMSUB / SHARDNUMSUB for the configured channels."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from redis_ha_exporter import sources
from redis_ha_exporter.poll import poll
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import NodeView, PollOptions
from redis_ha_exporter.sources.pubsub import (
    CHANNELS,
    MAX_CHANNELS,
    PubsubRecord,
    commands,
    counts,
    parse,
)
from redis_ha_exporter.wire import ReplyError
from tests.unit.captured import FLAVORS, exposition, snapshot, with_records
from tests.unit.fake_client import FakeClient, captured_replies, data_answer


def _node(channels: list[str], version: tuple[int, ...] = (7, 0, 15)) -> NodeView:
    return NodeView("n", "data", version, 0, PollOptions({CHANNELS.name: channels}))


def test_nothing_is_asked_without_configured_channels() -> None:
    assert commands(NodeView("n", "data", (7, 0)), None) == ()


def test_numsub_and_shardnumsub_name_each_channel_once() -> None:
    assert commands(_node(["orders", "news", "orders"]), None) == [
        ("PUBSUB", "NUMSUB", "orders", "news"),
        ("PUBSUB", "SHARDNUMSUB", "orders", "news"),
    ]


def test_servers_before_7_have_no_sharded_pubsub() -> None:
    assert commands(_node(["orders"], (6, 2, 14)), None) == [("PUBSUB", "NUMSUB", "orders")]


def test_the_channel_list_is_bounded() -> None:
    (numsub, _) = commands(_node([f"c{i}" for i in range(MAX_CHANNELS + 5)]), None)
    assert len(numsub) == 2 + MAX_CHANNELS


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_replies_give_every_example_channel_a_count(flavor: str) -> None:
    channels = list(CHANNELS.example or [])
    node = _node(channels)
    replies = [captured_replies(flavor, "master")[c] for c in commands(node, None)]
    record = parse(node, None, replies)
    # Nobody subscribed on the capture servers: every configured channel reads 0, not absent.
    assert record.channels == tuple((c, 0) for c in channels)
    assert record.shard == tuple((c, 0) for c in channels)


def test_counts_follow_the_configured_channels_whatever_the_reply() -> None:
    reply: Any = [b"news", 3, b"orders", b"2", b"stranger", 9, b"odd"]
    assert counts(reply, ["orders", "news", "idle"]) == (("orders", 2), ("news", 3), ("idle", 0))
    assert counts([b"orders", b"junk", b"news", -4], ["orders", "news"]) == (
        ("orders", 0),
        ("news", 0),
    )
    assert counts(ReplyError("ERR"), ["orders"]) == (("orders", 0),)


def test_a_refused_shardnumsub_leaves_only_the_plain_counts() -> None:
    node = _node(["orders"])
    record = parse(node, None, [[b"orders", 1], ReplyError("unknown subcommand")])
    assert record == PubsubRecord((("orders", 1),), None)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_counts_are_exported_per_channel_with_hostile_names_escaped(flavor: str) -> None:
    record = PubsubRecord((("orders", 2), ('we"ird\n', 0)), (("orders", 1),))
    exp = exposition(with_records(snapshot(flavor, "master"), record))
    assert exp.types["redis_pubsub_channel_subscribers"] == "gauge"
    assert exp.value("redis_pubsub_channel_subscribers", channel="orders") == 2
    assert exp.value("redis_pubsub_channel_subscribers", channel='we"ird\n') == 0
    assert exp.value("redis_pubsub_shard_channel_subscribers", channel="orders") == 1
    assert exp.value("redis_pubsub_shard_channel_subscribers", channel='we"ird\n') is None


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_poll_with_channels_asks_pubsub_in_the_same_round_trip(flavor: str) -> None:
    fake = FakeClient(data_answer(flavor))
    options = PollOptions({CHANNELS.name: ["orders", "news"]})
    prev = NodeSnapshot("127.0.0.1:6379", "data", version=(7, 0, 15))
    snap = asyncio.run(poll(fake, prev, sources.ALL, options))
    (round_trip,) = fake.pipelines
    assert ("PUBSUB", "NUMSUB", "orders", "news") in round_trip
    record = snap.get(PubsubRecord)
    assert record is not None and record.channels == (("orders", 0), ("news", 0))
