"""The pub/sub source against real servers: subscribers counted per configured channel, plain
and sharded, a channel nobody listens on reading 0, and the counts following unsubscribes."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.client import PubSub

from tests.conftest import FLAVORS, wait_until
from tests.promtext import value
from tests.topology import Flavor, ServerProcess, start_standalone


@pytest.fixture(params=FLAVORS)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    flavor: Flavor = request.param
    server = start_standalone(flavor, tmp_path / "node")
    yield server
    server.stop()


def _confirmed(sub: PubSub) -> bool:
    return sub.get_message(timeout=0.1) is not None


def _subscribers(text: str, channel: str, shard: bool = False) -> float | None:
    name = "redis_pubsub_shard_channel_subscribers" if shard else "redis_pubsub_channel_subscribers"
    return value(text, name, channel=channel)


def test_subscribers_are_counted_per_configured_channel(
    node: ServerProcess, run_exporter: Any
) -> None:
    clients = [redis.Redis(port=node.port) for _ in range(3)]
    subscriptions = [c.pubsub() for c in clients]
    try:
        subscriptions[0].subscribe("orders")
        subscriptions[1].subscribe("orders", "news")
        subscriptions[2].ssubscribe("orders")
        for sub in subscriptions:  # the confirmations: the server has registered them
            wait_until(partial(_confirmed, sub), 5, what="a subscription confirmed")
        exporter = run_exporter(
            "--redis-addr",
            node.address,
            "--pubsub-channel",
            "orders",
            "--pubsub-channel",
            "idle",
            "--poll-interval",
            "0.3",
            "--poll-timeout",
            "0.2",
            "--metrics-min-age",
            "0",
        )
        exporter.wait_up(node.address)

        def counted() -> bool:
            text = exporter.metrics()
            return _subscribers(text, "orders") == 2 and _subscribers(text, "idle") == 0

        wait_until(counted, 10, what="two subscribers of orders, none of idle")
        text = exporter.metrics()
        assert _subscribers(text, "orders", shard=True) == 1
        assert _subscribers(text, "idle", shard=True) == 0
        assert _subscribers(text, "news") is None, "only configured channels are asked about"
        # INFO's totals come from the INFO source, once.
        assert value(text, "redis_pubsub_channels", instance=node.address) == 2

        subscriptions[1].unsubscribe("orders")
        wait_until(
            lambda: _subscribers(exporter.metrics(), "orders") == 1, 10, what="one subscriber left"
        )
        assert "refused" not in exporter.logs()
    finally:
        for sub in subscriptions:
            sub.close()
        for client in clients:
            client.close()
