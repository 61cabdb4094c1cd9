"""Sentinel-driven topology against real Sentinels: discovery from one address, requested and
real failovers, two groups, a lost Sentinel and a forgotten replica."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, wait_until
from tests.promtext import parse_series, value
from tests.topology import Topology

PASSWORD = "disc-Pw-5520"
INTERVAL = 1.0


def _topology(flavor: str, base: Path, **kwargs: Any) -> Topology:
    return Topology(flavor, base, password=PASSWORD, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=FLAVORS)
def topo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    with _topology(request.param, tmp_path).start() as t:
        yield t


def _exporter(run_exporter: Any, *sentinels: str) -> Any:
    args = []
    for address in sentinels:
        args += ["--sentinel-addr", address]
    return run_exporter(
        *args,
        "--poll-interval",
        str(INTERVAL),
        "--poll-timeout",
        "0.5",
        # Failover delays are read from /metrics: a coalesced body (up to 1 s old by default)
        # would add its age to what the pollers took.
        "--metrics-min-age",
        "0",
        env={"REDIS_PASSWORD": PASSWORD},
    )


def _infos(text: str) -> dict[str, dict[str, str]]:
    return {
        s.labels["instance"]: s.labels
        for s in parse_series(text)
        if s.name == "redis_instance_info"
    }


def _masters(text: str) -> set[str]:
    return {i for i, labels in _infos(text).items() if labels["role"] == "master"}


def _text_when(exporter: Any, check: Any, timeout: float, what: str) -> str:
    """The first /metrics body for which `check(body)` holds."""

    def attempt() -> str | None:
        text: str = exporter.metrics()
        return text if check(text) else None

    result: str = wait_until(attempt, timeout, what=what)
    return result


def _all_seen(exporter: Any, topo: Topology) -> str | None:
    text = exporter.metrics()
    expected = {s.address for s in topo.all_servers()}
    return text if set(_infos(text)) >= expected else None


class SwitchWatcher:
    """Records when a Sentinel publishes +switch-master (the test's own subscription)."""

    def __init__(self, port: int) -> None:
        self.client = redis.Redis(port=port)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe("+switch-master")
        self.at: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self.at is None:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None and message["type"] == "message":
                self.at = time.monotonic()

    def close(self) -> None:
        self.at = self.at or 0.0
        self._thread.join(2)
        self.pubsub.close()
        self.client.close()


def test_one_sentinel_address_discovers_every_node(topo: Topology, run_exporter: Any) -> None:
    exporter = _exporter(run_exporter, topo.sentinels[0].address)
    text = wait_until(lambda: _all_seen(exporter, topo), 20, what="all 6 nodes")
    infos = _infos(text)
    group = topo.groups["mymaster"]
    assert infos[group.master.address]["role"] == "master"
    for replica in group.replicas:
        assert infos[replica.address]["role"] == "slave"
    for sentinel in topo.sentinels:
        assert infos[sentinel.address]["redis_mode"] == "sentinel"
    assert {labels["master_name"] for labels in infos.values()} == {"mymaster"}
    assert value(text, "redis_sentinel_group_masters", master_name="mymaster") == 1
    assert value(text, "redis_sentinel_group_replicas_up", master_name="mymaster") == 2
    assert value(text, "redis_sentinel_group_sentinels_up", master_name="mymaster") == 3
    assert value(text, "redis_sentinel_group_master_agreement", master_name="mymaster") == 1
    assert value(text, "redis_sentinel_failovers_total", master_name="mymaster") == 0
    status, page, _ = exporter.get("/")
    assert status == 200 and b"mymaster" in page and group.master.address.encode() in page


def _follow_switch(exporter: Any, topo: Topology, watcher: SwitchWatcher) -> tuple[str, float]:
    """Wait for the Sentinels' new master to show role=master; return it and the delay
    from +switch-master to /metrics."""
    wait_until(lambda: watcher.at is not None, 30, interval=0.02, what="+switch-master")
    new = topo.sentinel_master_address("mymaster")
    wait_until(
        lambda: new in _masters(exporter.metrics()),
        INTERVAL * 3,
        interval=0.02,
        what=f"{new} shown as master",
    )
    assert watcher.at is not None
    return new, time.monotonic() - watcher.at


def test_requested_failover_is_followed_within_one_interval(
    topo: Topology, run_exporter: Any
) -> None:
    exporter = _exporter(run_exporter, topo.sentinels[0].address)
    wait_until(lambda: _all_seen(exporter, topo), 20, what="all 6 nodes")
    old = topo.groups["mymaster"].master.address
    watcher = SwitchWatcher(topo.sentinels[1].port)
    try:
        with redis.Redis(port=topo.sentinels[2].port) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")
        new, delay = _follow_switch(exporter, topo, watcher)
    finally:
        watcher.close()
    print(f"+switch-master to role=master on /metrics: {delay * 1000:.0f} ms")
    assert new != old
    assert delay <= INTERVAL
    # Sentinel demotes the old master on its next check of it (up to ~10 s later); until
    # then it really is a second writable master, and we say so rather than hide it.
    text = _text_when(exporter, lambda t: _masters(t) == {new}, 20, "old master demoted")
    assert _infos(text)[old]["role"] == "slave"
    assert value(text, "redis_sentinel_group_masters", master_name="mymaster") == 1
    time.sleep(3 * INTERVAL)  # every Sentinel has announced it by now: still counted once
    assert value(exporter.metrics(), "redis_sentinel_failovers_total", master_name="mymaster") == 1
    # The log names the master the settled Sentinels agree on, never the old one.
    (line,) = [x for x in exporter.logs().splitlines() if "failover of mymaster observed" in x]
    assert f"master is now {new} " in line, line


def test_frozen_master_fails_over_and_rejoins_as_replica(topo: Topology, run_exporter: Any) -> None:
    exporter = _exporter(run_exporter, topo.sentinels[0].address)
    wait_until(lambda: _all_seen(exporter, topo), 20, what="all 6 nodes")
    master = topo.groups["mymaster"].master
    watcher = SwitchWatcher(topo.sentinels[1].port)
    master.pause()
    try:
        new, delay = _follow_switch(exporter, topo, watcher)
        print(f"+switch-master to role=master on /metrics (SIGSTOP): {delay * 1000:.0f} ms")
        assert delay <= INTERVAL
        text = exporter.metrics()
        assert _masters(text) == {new}
        assert value(text, "redis_up", instance=master.address) == 0
        assert value(text, "redis_sentinel_failovers_total", master_name="mymaster") == 1
    finally:
        watcher.close()
        master.resume()

    def rejoined() -> bool:
        text = exporter.metrics()
        role = _infos(text).get(master.address, {}).get("role")
        return value(text, "redis_up", instance=master.address) == 1 and role == "slave"

    wait_until(rejoined, 30, what="old master back as a replica")
    text = exporter.metrics()
    assert _masters(text) == {new}
    assert value(text, "redis_sentinel_failovers_total", master_name="mymaster") == 1


@pytest.mark.parametrize("flavor", FLAVORS)
def test_two_groups_on_the_same_sentinels_keep_their_labels_apart(
    flavor: str, tmp_path: Path, run_exporter: Any
) -> None:
    with _topology(flavor, tmp_path, groups=("mymaster", "cache"), replicas=1).start() as topo:
        exporter = _exporter(run_exporter, topo.sentinels[0].address)
        text = wait_until(lambda: _all_seen(exporter, topo), 20, what="all nodes of both groups")
        infos = _infos(text)
        for name, group in topo.groups.items():
            for node in [group.master, *group.replicas]:
                assert infos[node.address]["master_name"] == name
            assert value(text, "redis_sentinel_group_masters", master_name=name) == 1
            assert value(text, "redis_sentinel_group_replicas_up", master_name=name) == 1
            assert value(text, "redis_sentinel_group_sentinels_up", master_name=name) == 3
        for sentinel in topo.sentinels:
            assert infos[sentinel.address]["master_name"] == "cache,mymaster"
        only_cache = run_exporter(
            "--sentinel-addr",
            topo.sentinels[1].address,
            "--sentinel-master",
            "cache",
            "--poll-interval",
            str(INTERVAL),
            "--poll-timeout",
            "0.5",
            env={"REDIS_PASSWORD": PASSWORD},
        )
        cache = topo.groups["cache"]
        wanted = {n.address for n in [cache.master, *cache.replicas, *topo.sentinels]}
        text = wait_until(
            lambda: (t := only_cache.metrics()) and set(_infos(t)) >= wanted and t,
            20,
            what="cache group only",
        )
        mymaster = topo.groups["mymaster"]
        assert set(_infos(text)) == wanted
        polled = {s.labels.get("instance") for s in parse_series(text)}
        assert not polled & {n.address for n in [mymaster.master, *mymaster.replicas]}
        # Not a single series speaks of the other group, Sentinel's own INFO included.
        others = [s for s in parse_series(text) if s.labels.get("master_name") == "mymaster"]
        assert others == []
        assert not [
            s for s in parse_series(text) if "mymaster" in s.labels.get("master_address", "")
        ]


def test_losing_the_configured_sentinel_keeps_discovery_going(
    topo: Topology, run_exporter: Any
) -> None:
    seed = topo.sentinels[0]
    exporter = _exporter(run_exporter, seed.address)
    wait_until(lambda: _all_seen(exporter, topo), 20, what="all 6 nodes")
    seed.stop()
    text = _text_when(
        exporter,
        lambda t: value(t, "redis_sentinel_group_sentinels_up", master_name="mymaster") == 2,
        10,
        "sentinels_up drops to 2",
    )
    assert value(text, "redis_up", instance=seed.address) == 0
    # The other Sentinels, found through the lost one, still steer the exporter.
    watcher = SwitchWatcher(topo.sentinels[1].port)
    try:
        with redis.Redis(port=topo.sentinels[2].port) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")
        _follow_switch(exporter, topo, watcher)
    finally:
        watcher.close()


def test_a_replica_the_sentinels_forget_disappears(topo: Topology, run_exporter: Any) -> None:
    exporter = _exporter(run_exporter, topo.sentinels[0].address)
    wait_until(lambda: _all_seen(exporter, topo), 20, what="all 6 nodes")
    gone = topo.groups["mymaster"].replicas[1]
    gone.stop()
    for sentinel in topo.sentinels:
        with redis.Redis(port=sentinel.port) as client:
            client.execute_command("SENTINEL", "RESET", "mymaster")
    wait_until(
        lambda: f'instance="{gone.address}"' not in exporter.metrics(),
        15,
        what="forgotten replica's series gone",
    )
    text = exporter.metrics()
    assert value(text, "redis_up", instance=topo.groups["mymaster"].master.address) == 1


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinels_with_their_own_password(flavor: str, tmp_path: Path, run_exporter: Any) -> None:
    sentinel_secret = "sent-Pw-8812"
    with _topology(flavor, tmp_path, replicas=1, sentinel_password=sentinel_secret).start() as topo:
        secret_file = tmp_path / "sentinel-pw"
        secret_file.write_text(sentinel_secret + "\n")
        exporter = run_exporter(
            "--sentinel-addr",
            topo.sentinels[0].address,
            "--sentinel-password-file",
            str(secret_file),
            "--poll-interval",
            str(INTERVAL),
            "--poll-timeout",
            "0.5",
            env={"REDIS_PASSWORD": PASSWORD},
        )
        text = wait_until(lambda: _all_seen(exporter, topo), 20, what="all nodes")
        for server in topo.all_servers():
            assert value(text, "redis_up", instance=server.address) == 1
        assert sentinel_secret not in exporter.logs() + text
        # Without it, the Sentinel says why it refuses, and nothing else is found.
        refused = run_exporter(
            "--sentinel-addr",
            topo.sentinels[0].address,
            "--poll-interval",
            str(INTERVAL),
            "--poll-timeout",
            "0.5",
            env={"REDIS_PASSWORD": PASSWORD},
        )
        text = _text_when(
            refused,
            lambda t: value(t, "redis_up", instance=topo.sentinels[0].address) == 0,
            10,
            "Sentinel refusing the exporter",
        )
        assert "authentication failed" in text


def test_one_server_under_two_names_is_one_node(topo: Topology, run_exporter: Any) -> None:
    # The master given as `localhost`, which the Sentinels call 127.0.0.1; the seed Sentinel
    # given as `localhost`, which its peers list as 127.0.0.1.
    master, seed = topo.groups["mymaster"].master, topo.sentinels[0]
    local_master, local_seed = f"localhost:{master.port}", f"localhost:{seed.port}"
    exporter = run_exporter(
        "--redis-addr",
        local_master,
        "--sentinel-addr",
        local_seed,
        "--poll-interval",
        str(INTERVAL),
        "--poll-timeout",
        "0.5",
        env={"REDIS_PASSWORD": PASSWORD},
    )

    def settled() -> str | None:
        text: str = exporter.metrics()
        infos = _infos(text)
        expected = {local_master, local_seed}
        expected |= {r.address for r in topo.groups["mymaster"].replicas}
        expected |= {s.address for s in topo.sentinels[1:]}
        return text if set(infos) == expected else None

    text = wait_until(settled, 20, what="each server once, under its configured name")
    instances = {s.labels.get("instance") for s in parse_series(text)}
    assert master.address not in instances and seed.address not in instances
    assert _infos(text)[local_master]["master_name"] == "mymaster"
    assert _infos(text)[local_seed]["master_name"] == "mymaster"
    assert value(text, "redis_sentinel_group_masters", master_name="mymaster") == 1
    assert value(text, "redis_sentinel_group_replicas_up", master_name="mymaster") == 2
    assert value(text, "redis_sentinel_group_sentinels_up", master_name="mymaster") == 3
    logs = exporter.logs()
    for alias, name in ((master.address, local_master), (seed.address, local_seed)):
        assert logs.count(f"node {alias} is the same server as {name}") == 1, logs
