"""redis_ha_exporter.store: whole-snapshot replacement, generations, freshness, readiness and the
nodes polled but not exported."""

from __future__ import annotations

from redis_ha_exporter.snapshot import AUTH_FAILED, GroupState, NodeSnapshot
from redis_ha_exporter.store import Store


def snap(
    instance: str = "10.0.0.1:6379", *, polls: int = 1, success: float | None = 100.0
) -> NodeSnapshot:
    return NodeSnapshot(
        instance, "data", up=success is not None, polls=polls, last_success_at=success
    )


def test_every_replacement_bumps_the_generation() -> None:
    store = Store(interval=10.0)
    store.put(snap())
    store.put(snap())
    assert store.generation == 2
    store.remove("10.0.0.1:6379")
    store.remove("10.0.0.1:6379")  # already gone: nothing changed
    assert store.generation == 3
    assert store.nodes == {}


def test_setting_equal_groups_keeps_the_generation() -> None:
    store = Store(interval=10.0)
    store.set_groups({"g": GroupState("g")})
    store.set_groups({"g": GroupState("g")})
    assert store.generation == 1
    store.set_groups({"g": GroupState("g", failovers=1)})
    assert store.generation == 2


def test_data_goes_stale_after_three_intervals() -> None:
    store = Store(interval=10.0)
    assert store.is_fresh(snap(success=100.0), now=130.0)
    assert not store.is_fresh(snap(success=100.0), now=130.1)
    assert not store.is_fresh(snap(success=None), now=100.0)


def test_stale_limit_follows_the_interval_multiple() -> None:
    store = Store(interval=5.0, stale_after_intervals=2)
    assert store.is_fresh(snap(success=0.0), now=10.0)
    assert not store.is_fresh(snap(success=0.0), now=10.5)


def test_ready_once_every_expected_node_was_polled() -> None:
    store = Store(interval=10.0)
    store.expected = frozenset({"a:1", "b:2"})
    assert not store.ready()
    store.put(snap("a:1"))
    store.put(snap("b:2", polls=0))
    assert not store.ready()
    store.put(snap("b:2", success=None))  # polled, even if it failed
    assert store.ready()


def test_ready_stays_ready_when_a_node_is_discovered_later() -> None:
    store = Store(interval=10.0)
    store.expected = frozenset({"a:1"})
    store.put(snap("a:1"))
    assert store.ready()
    store.expected = frozenset({"a:1", "c:3"})  # found through a Sentinel, not polled yet
    assert store.ready()


def test_changing_the_unexported_nodes_bumps_the_generation() -> None:
    store = Store(interval=10.0)
    assert store.unexported == frozenset()
    store.unexported = frozenset({"a:1"})
    store.unexported = frozenset({"a:1"})
    assert store.generation == 1  # a cached body without a:1's series is out of date


def test_ready_counts_the_sentinels_polled_but_not_exported() -> None:
    store = Store(interval=10.0)
    store.expected = frozenset({"a:1", "s:26379"})
    store.unexported = frozenset({"s:26379"})
    store.put(snap("a:1"))
    assert not store.ready()
    store.put(snap("s:26379"))
    assert store.ready()


def down(instance: str, error: str) -> NodeSnapshot:
    return NodeSnapshot(instance, "unknown", up=False, polls=1, error=error)


def test_a_node_that_is_down_keeps_it_ready_but_refused_credentials_do_not() -> None:
    store = Store(interval=10.0)
    store.expected = frozenset({"a:1", "b:2"})
    store.put(snap("a:1"))
    store.put(down("b:2", "connection failed: Connection refused"))
    assert store.not_ready() == []  # redis_up 0 for b:2 is the exporter doing its job
    refused = f"{AUTH_FAILED}: the server refused the password: check --redis-password"
    store.put(down("b:2", refused))
    assert store.not_ready() == [f"node b:2: {refused}"]
    store.put(snap("b:2"))
    assert store.not_ready() == []


def test_with_sentinels_one_must_answer_as_a_sentinel() -> None:
    store = Store(interval=10.0)
    store.expected = store.seeds = frozenset({"s:26379", "t:6379"})
    store.put(down("s:26379", "connection failed: Connection refused"))
    store.put(NodeSnapshot("t:6379", "data", up=True, polls=1, role="slave"))
    assert store.not_ready() == [
        "no --sentinel-addr answers as a Sentinel: s:26379 is down: connection failed: "
        "Connection refused",
        "no --sentinel-addr answers as a Sentinel: t:6379 is not a Sentinel but a data node "
        "(replica)",
    ]
    store.put(NodeSnapshot("s:26379", "sentinel", up=True, polls=1))
    assert store.not_ready() == []
