"""The Celery figures against real brokers, written by the real kombu and Celery: queue lengths
equal to kombu's own count over its priority lists, 0 once drained, unacknowledged messages
while a consumer holds them, queues found from kombu's bindings, a global key prefix, the
result backend's keys without TTL, and replicas left alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Connection, Exchange, Queue

from tests.conftest import FLAVORS, polling, wait_until
from tests.promtext import parse_series, value
from tests.topology import ServerProcess, Topology, start_standalone

PRIORITIES = [0, 0, 2, 3, 5, 6, 9, 9, 9, 1]


@pytest.fixture(params=FLAVORS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_standalone(request.param, tmp_path / "broker")
    yield server
    server.stop()


def _lengths(text: str) -> dict[str, float]:
    return {
        s.labels["queue"]: s.value
        for s in parse_series(text)
        if s.name == "redis_celery_queue_length"
    }


def _publish(url: str, queue: Queue, priorities: list[int], **options: Any) -> int:
    """Messages through kombu with these priorities; kombu's own count of the queue after."""
    with Connection(url, transport_options=options) as conn:
        producer = conn.Producer()
        for n, priority in enumerate(priorities):
            producer.publish(
                {"n": n},
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                priority=priority,
                declare=[queue],
            )
        channel = conn.default_channel
        return int(channel._size(queue.name))


@pytest.mark.parametrize("prefix", ["", "app1:"])
def test_queue_length_is_kombus_count_over_its_priorities_and_zero_once_drained(
    broker: ServerProcess, run_exporter: Any, prefix: str
) -> None:
    url = f"redis://{broker.address}/0"
    options = {"global_keyprefix": prefix} if prefix else {}
    work = Queue("work", Exchange("work", type="direct"), routing_key="work")
    kombu_count = _publish(url, work, PRIORITIES, **options)
    assert kombu_count == len(PRIORITIES)
    client = redis.Redis(port=broker.port)
    assert client.llen(f"{prefix}work") < kombu_count  # the priority lists hold the rest
    flags = ["--celery-key-prefix", prefix] if prefix else []
    exporter = polling(run_exporter, broker.address, "--celery-queue", "work,idle", *flags)
    text = exporter.after_polls(broker.address)
    assert _lengths(text) == {"work": kombu_count, "idle": 0}
    assert value(text, "redis_celery_unacked") == 0
    assert value(text, "redis_celery_unacked_oldest_age_seconds") == 0
    # Drained by a kombu consumer that acknowledges each message.
    with Connection(url, transport_options=options) as conn:
        queue = conn.SimpleQueue(work)
        for _ in PRIORITIES:
            queue.get(timeout=5).ack()
        assert conn.default_channel._size("work") == 0
        queue.close()
    text = exporter.after_polls(broker.address)
    assert _lengths(text) == {"work": 0, "idle": 0}


def test_messages_a_consumer_holds_are_unacked_until_acknowledged(
    broker: ServerProcess, run_exporter: Any
) -> None:
    url = f"redis://{broker.address}/0"
    work = Queue("work", Exchange("work", type="direct"), routing_key="work")
    _publish(url, work, [0, 0, 0])
    exporter = polling(run_exporter, broker.address, "--celery-queue", "work")
    with Connection(url) as conn:
        queue = conn.SimpleQueue(work)
        held = [queue.get(timeout=5), queue.get(timeout=5)]

        def unacked() -> str | None:
            text = exporter.metrics()
            return text if value(text, "redis_celery_unacked") == 2 else None

        text = wait_until(unacked, timeout=10, what="two unacked messages")
        assert _lengths(text) == {"work": 1}
        age = value(text, "redis_celery_unacked_oldest_age_seconds")
        assert age is not None and 0 <= age < 30
        for message in held:
            message.ack()
        queue.close()
    text = exporter.after_polls(broker.address)
    assert value(text, "redis_celery_unacked") == 0


def test_queues_come_from_kombus_bindings(broker: ServerProcess, run_exporter: Any) -> None:
    url = f"redis://{broker.address}/0"
    for name, count in (("emails", 2), ("reports", 3)):
        queue = Queue(name, Exchange("tasks", type="direct"), routing_key=name)
        _publish(url, queue, [0] * count)
    exporter = polling(run_exporter, broker.address, "--celery-queues-from-bindings")
    text = exporter.after_polls(broker.address)
    assert _lengths(text) == {"emails": 2, "reports": 3}


def test_result_keys_without_ttl_are_counted(broker: ServerProcess, run_exporter: Any) -> None:
    backend = f"redis://{broker.address}/1"
    expiring = Celery("expiring", broker=f"redis://{broker.address}/0", backend=backend)
    forever = Celery("forever", broker=f"redis://{broker.address}/0", backend=backend)
    forever.conf.result_expires = None
    for n in range(30):
        expiring.backend.store_result(str(uuid.uuid4()), {"n": n}, "SUCCESS")
    for n in range(20):
        forever.backend.store_result(str(uuid.uuid4()), {"n": n}, "SUCCESS")
    client = redis.Redis(port=broker.port, db=1)
    keys = list(client.scan_iter("celery-task-meta-*"))
    assert len(keys) == 50
    assert sum(1 for k in keys if client.ttl(k) == -1) == 20
    exporter = polling(run_exporter, broker.address, "--celery-results", "--celery-results-db", "1")
    text = exporter.after_polls(broker.address)
    assert value(text, "redis_celery_result_keys") == 50
    assert value(text, "redis_celery_result_keys_sampled") == 50
    assert value(text, "redis_celery_result_keys_without_ttl") == 20
    memory = sum(int(client.memory_usage(k) or 0) for k in keys)
    assert value(text, "redis_celery_result_memory_bytes") == pytest.approx(memory, rel=0.2)
    # A sample smaller than the keys: every key counted, the rest estimated from the sample.
    sampled = polling(
        run_exporter,
        broker.address,
        "--celery-results",
        "--celery-results-db",
        "1",
        "--celery-results-sample",
        "10",
    )
    text = sampled.after_polls(broker.address)
    assert value(text, "redis_celery_result_keys") == 50
    assert value(text, "redis_celery_result_keys_sampled") == 10
    without = value(text, "redis_celery_result_keys_without_ttl")
    assert without is not None and without % 5 == 0 and 0 <= without <= 50


@pytest.mark.parametrize("flavor", FLAVORS[:1])
def test_replicas_are_not_asked(flavor: Any, tmp_path: Path, run_exporter: Any) -> None:
    topo = Topology(flavor, tmp_path / "topo", password=None, replicas=1, sentinels=0).start()
    try:
        group = next(iter(topo.groups.values()))
        master, replica = group.master, group.replicas[0]
        redis.Redis(port=master.port).rpush("celery", "m1", "m2")
        exporter = polling(
            run_exporter, [master.address, replica.address], "--celery-queue", "celery"
        )
        text = exporter.after_polls(master.address)
        assert value(text, "redis_celery_queue_length", instance=master.address) == 2
        assert value(text, "redis_celery_queue_length", instance=replica.address) is None
        stats = redis.Redis(port=replica.port).info("commandstats")
        assert "cmdstat_llen" not in stats
    finally:
        topo.stop()
