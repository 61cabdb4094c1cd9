"""`--shard I --total-shards N` against real Sentinels: two shards together export exactly the
series of one unsharded exporter, each node's series from one shard only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.sharding import shard_of
from tests.conftest import FLAVORS, ExporterProcess, wait_until
from tests.metricnames import RUNTIME_PREFIXES
from tests.promtext import parse_series
from tests.topology import ServerProcess, Topology, start_standalone

PASSWORD = "shard-Pw-3391"
INTERVAL = 0.5
# Two groups that land in different shards of two (asserted below, so that the test cannot
# pass with both groups in one shard).
GROUPS = ("cache", "orders")
# The exporter's own series, the same in every process whatever it polls.
PROCESS_WIDE = {n.BUILD_INFO.name, n.TARGET_SCRAPE_ERRORS.name}

Identity = tuple[str, frozenset[tuple[str, str]]]


@pytest.fixture(params=FLAVORS)
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Topology, str]]:
    """Two Sentinel groups on three Sentinels, and a standalone node given as --redis-addr."""
    topology = Topology(
        request.param, tmp_path / "ha", password=PASSWORD, groups=GROUPS, replicas=1
    )
    with topology.start() as topo:
        static: ServerProcess = start_standalone(request.param, tmp_path, password=PASSWORD)
        try:
            yield topo, static.address
        finally:
            static.stop()


def identities(exporter: ExporterProcess) -> set[Identity]:
    """Every series as name and labels, without the process-wide ones."""
    return {
        (s.name, frozenset(s.labels.items()))
        for s in parse_series(exporter.metrics())
        if s.name not in PROCESS_WIDE and not s.name.startswith(RUNTIME_PREFIXES)
    }


def instances(series: set[Identity]) -> set[str]:
    return {value for _, labels in series for key, value in labels if key == "instance"}


def up(series: set[Identity]) -> set[str]:
    return instances({s for s in series if s[0] == "redis_up"})


def test_two_shards_export_the_unsharded_series_between_them_without_overlap(
    servers: tuple[Topology, str], run_exporter: Any
) -> None:
    topo, static = servers
    assert {group: shard_of(group, 2) for group in GROUPS} == {"cache": 0, "orders": 1}
    args = ["--sentinel-addr", topo.sentinels[0].address, "--redis-addr", static]
    args += ["--poll-interval", str(INTERVAL), "--poll-timeout", "0.4"]
    env = {"REDIS_PASSWORD": PASSWORD}
    whole = run_exporter(*args, env=env)
    shards = [
        run_exporter(*args, "--total-shards", "2", "--shard", str(i), env=env) for i in (0, 1)
    ]
    everything = {s.address for s in topo.all_servers()} | {static}
    wait_until(lambda: up(identities(whole)) == everything, 20, what="unsharded: every node")
    wait_until(
        lambda: up(identities(shards[0])) | up(identities(shards[1])) == everything,
        20,
        what="the shards: every node between them",
    )

    def compared() -> tuple[set[Identity], list[set[Identity]]] | None:
        # Series come and go with what the servers report (a command run for the first time
        # adds a commandstats series), so compare scrapes taken together until they settle.
        parts = [identities(shards[0]), identities(shards[1])]
        expected = identities(whole)
        return (expected, parts) if parts[0] | parts[1] == expected else None

    try:
        expected, parts = wait_until(compared, 20, what="the shards' union = unsharded")
    except AssertionError:
        parts = [identities(shards[0]), identities(shards[1])]
        expected = identities(whole)
        missing, extra = expected - (parts[0] | parts[1]), (parts[0] | parts[1]) - expected
        raise AssertionError(
            f"missing {sorted(missing)[:20]}, extra {sorted(extra)[:20]}"
        ) from None

    # Each node's series, a group's master and replica together, come from one shard only.
    assert instances(parts[0]).isdisjoint(instances(parts[1]))
    for shard, group in enumerate(GROUPS):
        members = topo.groups[group]
        assert {members.master.address, *(r.address for r in members.replicas)} <= up(parts[shard])
        group_series = {
            dict(labels)["master_name"]
            for _, labels in parts[shard]
            if "master_name" in dict(labels) and "instance" not in dict(labels)
        }
        assert group_series == {group}, f"shard {shard} has the series of groups {group_series}"
    # Sentinels: polled by both shards, exported by the one their address hashes to.
    for sentinel in topo.sentinels:
        assert sentinel.address in up(parts[shard_of(sentinel.address, 2)])
    assert static in up(parts[shard_of(static, 2)])

    for i, shard in enumerate(shards):
        status, body, _ = shard.get("/ready")
        assert status == 200, body
        logs = shard.logs()
        other = GROUPS[1 - i]
        line = f"group {other} belongs to shard {1 - i} of 2: not polling its nodes"
        assert logs.count(line) == 1, logs
        assert f"shard {i} of 2: polling the Sentinel groups that hash to it" in logs
        # /scrape for the other shard's master names the shard that exports it.
        master = topo.groups[other].master.address
        status, body, _ = shard.get("/scrape?target=" + master)
        assert (status, body.decode()) == (
            421,
            f"{master} is exported by shard {1 - i} of 2: scrape that shard for it\n",
        )
