"""redis_ha_exporter.runtime: snapshots and events in, pollers and watchers reconciled; no network
I/O (pollers and event watchers are never started)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Sequence

import pytest

from redis_ha_exporter.config import OPTIONS, load_settings
from redis_ha_exporter.events import SentinelEvents
from redis_ha_exporter.poller import NodePoller
from redis_ha_exporter.runtime import Runtime, _Event, _Published
from redis_ha_exporter.sharding import shard_of
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.sentinel import SentinelGroupView
from tests.promtext import parse_series
from tests.unit.sentinels import data_node, sentinel, view

SEED = "127.0.0.1:26379"
PEERS = ("127.0.0.1:26380", "127.0.0.1:26381")
MASTER = "127.0.0.1:6379"
REPLICAS = ("127.0.0.1:6380", "127.0.0.1:6381")
STATIC = "127.0.0.1:7000"  # a --redis-addr outside any group
TUNNEL = "127.0.0.1:7001"  # another name for STATIC (a port forward)
GROUP_NODES = {SEED, *PEERS, MASTER, *REPLICAS}


@pytest.fixture(autouse=True)
def stopped(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Nothing connects: pollers and watchers are created but never started. Yields the
    instances whose poller or watcher was stopped, in order."""
    for declared in OPTIONS.values():
        for env in declared.env:
            monkeypatch.delenv(env, raising=False)
    calls: list[str] = []

    async def stop(self: NodePoller | SentinelEvents) -> None:
        calls.append(self.spec.instance)

    for cls in (NodePoller, SentinelEvents):
        monkeypatch.setattr(cls, "start", lambda self: None)
        monkeypatch.setattr(cls, "stop", stop)
    yield calls


def new_runtime(static: Sequence[str] = (STATIC,), shard: int = 0, total: int = 1) -> Runtime:
    settings = load_settings(
        {
            "sentinel_addr": [SEED],
            "redis_addr": list(static),
            "poll_interval": 1.0,
            "poll_timeout": 0.5,
            "shard": shard,
            "total_shards": total,
        }
    )
    runtime = Runtime(settings)
    runtime._rediscover()
    return runtime


def group(
    master: str = MASTER, replicas: Iterable[str] = REPLICAS, epoch: int = 0
) -> SentinelGroupView:
    return view(master=master, replicas=replicas, sentinels=PEERS, epoch=epoch)


def publish(runtime: Runtime, snap: NodeSnapshot, poller: NodePoller | None = None) -> None:
    """`snap` as published by `poller`, by default the current poller of its instance."""
    runtime._apply([_Published(poller or runtime.pollers[snap.instance], snap)])


def discovered(static: Sequence[str] = (STATIC,), shard: int = 0, total: int = 1) -> Runtime:
    runtime = new_runtime(static, shard, total)
    publish(runtime, sentinel(SEED, group()))
    return runtime


def poked(runtime: Runtime) -> set[str]:
    return {i for i, p in runtime.pollers.items() if p._poke.is_set()}


def unpoke(runtime: Runtime) -> None:
    for poller in runtime.pollers.values():
        poller._poke.clear()


def test_rediscover_creates_a_poller_for_the_seed_and_the_static_target() -> None:
    async def scenario() -> None:
        runtime = new_runtime()
        assert set(runtime.pollers) == {SEED, STATIC}
        seed = runtime.pollers[SEED].spec
        assert (seed.kind, seed.static, seed.groups) == ("sentinel", True, ())
        assert set(runtime._watchers) == {SEED}
        assert runtime.store.expected == {SEED, STATIC}

    asyncio.run(scenario())


def test_a_sentinel_snapshot_adds_pollers_for_master_replicas_and_peers() -> None:
    async def scenario() -> None:
        runtime = new_runtime()
        snap = sentinel(SEED, group())
        publish(runtime, snap)
        assert set(runtime.pollers) == GROUP_NODES | {STATIC}
        assert runtime.store.nodes[SEED] is snap
        kinds = {i: (p.spec.kind, p.spec.groups) for i, p in runtime.pollers.items()}
        assert kinds[MASTER] == kinds[REPLICAS[1]] == ("data", ("mymaster",))
        assert kinds[PEERS[0]] == kinds[SEED] == ("sentinel", ("mymaster",))
        assert kinds[STATIC] == ("unknown", ())
        assert set(runtime._watchers) == {SEED, *PEERS}
        assert runtime.store.groups["mymaster"].master_address == MASTER

    asyncio.run(scenario())


def test_a_replica_no_longer_listed_loses_its_poller_and_its_series(
    stopped: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.runtime")

    async def scenario() -> None:
        runtime = discovered()
        publish(runtime, data_node(REPLICAS[1], "slave", "mymaster", run_id="r2"))
        assert REPLICAS[1] in runtime.store.nodes
        publish(runtime, sentinel(SEED, group(replicas=REPLICAS[:1])))
        await asyncio.sleep(0)  # the stop runs as its own task
        assert REPLICAS[1] not in runtime.pollers
        assert REPLICAS[1] not in runtime.store.nodes
        assert REPLICAS[1] not in runtime.store.expected
        assert REPLICAS[0] in runtime.pollers
        assert stopped == [REPLICAS[1]]

    asyncio.run(scenario())
    assert (
        f"node {REPLICAS[1]} is no longer part of the topology; dropping its series"
        in caplog.messages
    )


def test_a_peer_sentinel_no_longer_listed_loses_its_poller_and_its_watcher(
    stopped: list[str],
) -> None:
    async def scenario() -> None:
        runtime = discovered()
        publish(
            runtime, sentinel(SEED, view(master=MASTER, replicas=REPLICAS, sentinels=PEERS[:1]))
        )
        await asyncio.sleep(0)
        assert PEERS[1] not in runtime.pollers
        assert set(runtime._watchers) == {SEED, PEERS[0]}
        assert stopped == [PEERS[1], PEERS[1]]  # its poller and its event watcher

    asyncio.run(scenario())


def test_a_snapshot_from_a_poller_no_longer_current_is_ignored() -> None:
    async def scenario() -> None:
        runtime = discovered()
        gone = runtime.pollers[REPLICAS[1]]
        publish(runtime, sentinel(SEED, group(replicas=REPLICAS[:1])))
        generation = runtime.store.generation
        publish(runtime, data_node(REPLICAS[1], "slave", "mymaster", run_id="r2"), gone)
        assert REPLICAS[1] not in runtime.store.nodes
        assert REPLICAS[1] not in runtime.pollers
        assert runtime.store.generation == generation

    asyncio.run(scenario())


ALIAS = REPLICAS[1]  # announced without a runid; the same server as the master


def test_a_second_name_of_one_server_is_dropped_and_logged_once(
    stopped: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.runtime")

    async def scenario() -> None:
        runtime = discovered()
        publish(runtime, data_node(MASTER, "master", "mymaster", run_id="r1"))
        first_alias_poller = runtime.pollers[ALIAS]
        for _ in range(2):
            poller = runtime.pollers.get(ALIAS, first_alias_poller)
            publish(runtime, data_node(ALIAS, "master", "mymaster", run_id="r1"), poller)
            assert ALIAS not in runtime.pollers
            assert ALIAS not in runtime.store.nodes
            assert MASTER in runtime.pollers
            publish(runtime, sentinel(SEED, group()))
        await asyncio.sleep(0)
        assert ALIAS in stopped

    asyncio.run(scenario())
    same = [m for m in caplog.messages if "is the same server as" in m]
    assert same == [f"node {ALIAS} is the same server as {MASTER}; polling it once, as {MASTER}"]


@pytest.mark.parametrize(
    ("static", "canonical", "alias"),
    [((STATIC,), MASTER, ALIAS), ((STATIC, TUNNEL), STATIC, TUNNEL)],
    ids=["announced-without-runid", "configured-twice"],
)
def test_a_dropped_second_name_stays_dropped_at_the_next_sentinel_poll(
    caplog: pytest.LogCaptureFixture, static: tuple[str, ...], canonical: str, alias: str
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.runtime")

    async def scenario() -> None:
        runtime = discovered(static)
        publish(runtime, data_node(canonical, "master", run_id="r1"))
        publish(runtime, data_node(alias, "master", run_id="r1"))
        assert alias not in runtime.pollers
        caplog.clear()
        publish(runtime, sentinel(SEED, group()))
        assert alias not in runtime.pollers
        assert not [m for m in caplog.messages if "discovered" in m]

    asyncio.run(scenario())


def test_a_sentinel_event_pokes_the_sentinel_pollers_only() -> None:
    async def scenario() -> None:
        runtime = discovered()
        unpoke(runtime)
        runtime._apply([_Event(SEED, "+sdown", f"slave {REPLICAS[0]} @ mymaster")])
        assert poked(runtime) == {SEED, *PEERS}

    asyncio.run(scenario())


def test_a_new_settled_master_pokes_every_poller_of_the_group() -> None:
    async def scenario() -> None:
        runtime = discovered()
        unpoke(runtime)
        publish(runtime, sentinel(SEED, group()))
        assert poked(runtime) == set()  # nothing changed
        failed_over = group(REPLICAS[0], (MASTER, REPLICAS[1]), epoch=1)
        publish(runtime, sentinel(SEED, failed_over))
        assert poked(runtime) == GROUP_NODES
        state = runtime.store.groups["mymaster"]
        assert (state.master_address, state.failovers) == (REPLICAS[0], 1)

    asyncio.run(scenario())


def test_the_discovery_task_survives_an_exception_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.runtime")
    batches: list[list[_Published | _Event]] = []

    async def scenario() -> None:
        runtime = new_runtime()
        handled = [asyncio.Event(), asyncio.Event()]

        def apply(batch: list[_Published | _Event]) -> None:
            batches.append(batch)
            handled[len(batches) - 1].set()
            if len(batches) == 1:
                raise RuntimeError("boom")

        monkeypatch.setattr(runtime, "_apply", apply)
        task = asyncio.create_task(runtime._consume())
        runtime._on_event(SEED, "+sdown", "first")
        runtime._on_event(SEED, "+sdown", "queued with it")
        await asyncio.wait_for(handled[0].wait(), timeout=1.0)
        runtime._on_event(SEED, "+odown", "second")
        await asyncio.wait_for(handled[1].wait(), timeout=1.0)
        assert not task.done()
        task.cancel()

    asyncio.run(scenario())
    assert batches == [  # what queued up meanwhile is applied as one batch
        [_Event(SEED, "+sdown", "first"), _Event(SEED, "+sdown", "queued with it")],
        [_Event(SEED, "+odown", "second")],
    ]
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage() == "discovery failed; keeping the current node set"
    assert failure.exc_info is not None
    assert isinstance(failure.exc_info[1], RuntimeError)


# -- sharding --------------------------------------------------------------------------------------

# With 2 shards: mymaster, the seed and the second peer hash to 0; the first peer and STATIC to 1.
SPLIT = {"mymaster": 0, SEED: 0, PEERS[0]: 1, PEERS[1]: 0, STATIC: 1}


def test_the_names_split_over_two_shards_as_these_tests_assume() -> None:
    assert {key: shard_of(key, 2) for key in SPLIT} == SPLIT


async def exported_instances(runtime: Runtime) -> set[str]:
    body = (await runtime.renderer.arender()).decode()
    return {s.labels["instance"] for s in parse_series(body) if "instance" in s.labels}


async def group_series(runtime: Runtime) -> set[str]:
    """The groups with series of their own (no instance label)."""
    body = (await runtime.renderer.arender()).decode()
    return {
        s.labels["master_name"]
        for s in parse_series(body)
        if "master_name" in s.labels and "instance" not in s.labels
    }


def test_each_shard_polls_every_sentinel_but_exports_only_its_own_nodes_and_groups() -> None:
    async def scenario() -> None:
        zero, one = discovered(shard=0, total=2), discovered(shard=1, total=2)
        for runtime in (zero, one):
            for peer in PEERS:
                publish(runtime, sentinel(peer, group()))
            assert set(runtime._watchers) == {SEED, *PEERS}
        assert set(zero.pollers) == GROUP_NODES
        assert zero.store.unexported == {PEERS[0]}
        assert zero.store.expected == GROUP_NODES
        assert set(zero.store.groups) == {"mymaster"}
        assert set(one.pollers) == {SEED, *PEERS, STATIC}
        assert one.store.unexported == {SEED, PEERS[1]}
        assert one.store.expected == {SEED, *PEERS, STATIC}
        assert one.store.groups == {}
        assert await exported_instances(zero) == {SEED, PEERS[1]}  # data nodes not polled yet
        assert await exported_instances(one) == {PEERS[0]}
        assert await group_series(zero) == {"mymaster"}
        assert await group_series(one) == set()

    asyncio.run(scenario())


def test_a_shard_says_once_which_groups_and_nodes_another_shard_has(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.runtime")

    async def scenario() -> None:
        runtime = new_runtime(shard=1, total=2)
        await runtime.start()
        for _ in range(3):
            publish(runtime, sentinel(SEED, group()))
        await runtime.stop()

    asyncio.run(scenario())
    assert (
        caplog.messages.count(
            "shard 1 of 2: polling the Sentinel groups that hash to it, static targets: "
            f"{STATIC}, and every Sentinel for discovery"
        )
        == 1
    )
    assert (
        caplog.messages.count("group mymaster belongs to shard 0 of 2: not polling its nodes") == 1
    )
    for other in (SEED, PEERS[1]):
        line = f"Sentinel {other} belongs to shard 0 of 2: polled for discovery only"
        assert caplog.messages.count(line) == 1


def test_a_static_target_found_to_be_a_group_node_moves_to_the_groups_shard_for_good(
    stopped: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.runtime")
    # STATIC is another name of the master, whose group hashes to the other shard.
    announced = view(master=MASTER, replicas=REPLICAS, sentinels=PEERS, runids={MASTER: "r1"})

    async def scenario() -> None:
        runtime = new_runtime(shard=1, total=2)
        publish(runtime, sentinel(SEED, announced))
        assert STATIC in runtime.pollers
        publish(runtime, data_node(STATIC, "master", run_id="r1"))
        await asyncio.sleep(0)
        assert runtime.specs[STATIC].groups == ("mymaster",)
        assert STATIC not in runtime.pollers
        assert STATIC not in runtime.store.nodes
        assert stopped == [STATIC]
        moved = f"node {STATIC} now belongs to another shard; dropping its series"
        assert caplog.messages.count(moved) == 1
        caplog.clear()
        for _ in range(3):  # without its poll, it must not come back as an ungrouped node
            publish(runtime, sentinel(SEED, announced))
            assert STATIC not in runtime.pollers
            assert MASTER not in runtime.pollers
        assert not [m for m in caplog.messages if "discovered" in m or moved == m]

    asyncio.run(scenario())
    assert stopped == [STATIC]


def test_stop_leaves_pollers_that_do_not_stop_within_its_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def never(self: NodePoller | SentinelEvents) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(NodePoller, "stop", never)
    monkeypatch.setattr("redis_ha_exporter.runtime.STOP_TIMEOUT", 0.2)

    async def stop() -> float:
        runtime = new_runtime()
        started = asyncio.get_running_loop().time()
        await runtime.stop()
        return asyncio.get_running_loop().time() - started

    took = asyncio.run(stop())
    assert 0.2 <= took < 2
    assert "did not stop within 0.2s; exiting without them" in caplog.text


def test_a_role_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.runtime")

    async def scenario() -> None:
        runtime = discovered()
        for role in ("master", "master", "slave", "slave"):
            publish(runtime, data_node(MASTER, role, "mymaster", run_id="r0"))

    asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records if "changed role" in r.getMessage()]
    assert lines == [f"node {MASTER} changed role: master -> replica"]
