"""Integration tests for tests.topology: real redis-server / valkey-server processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import redis

from tests.topology import (
    Flavor,
    ServerProcess,
    Topology,
    available_flavors,
    start_standalone,
)

pytestmark = pytest.mark.integration

PASSWORD = "s3cr3t-do-not-leak"


@pytest.fixture(params=get_args(Flavor))
def flavor(request: pytest.FixtureRequest) -> Flavor:
    if request.param not in available_flavors():
        pytest.skip(f"{request.param} server binary not installed")
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def topology(flavor: Flavor, tmp_path: Path) -> Iterator[Topology]:
    with Topology(flavor, tmp_path, password=PASSWORD) as topo:
        yield topo


def client(server: ServerProcess, password: str | None = PASSWORD) -> redis.Redis:
    return redis.Redis(
        server.host,
        server.port,
        password=password,
        socket_timeout=5,
        protocol=2,
        decode_responses=True,
    )


def sentinel(server: ServerProcess, *args: str) -> Any:
    with client(server, None) as c:
        return c.execute_command("SENTINEL", *args)


def pairs(raw: list[str]) -> dict[str, str]:
    return dict(zip(raw[::2], raw[1::2], strict=True))


def role(server: ServerProcess) -> str:
    with client(server) as c:
        return str(c.info("replication")["role"])


def assert_all_gone(servers: list[ServerProcess]) -> None:
    for s in servers:
        assert not s.is_running(), s
        with pytest.raises(ProcessLookupError):
            os.kill(s.proc.pid, 0)


def test_single_group_comes_up_and_stops_cleanly(topology: Topology) -> None:
    group = topology.groups["mymaster"]
    assert role(group.master) == "master"
    assert len(group.replicas) == 2
    for replica in group.replicas:
        with client(replica) as c:
            info = c.info("replication")
        assert info["role"] == "slave"
        assert info["master_link_status"] == "up"
        assert info["master_port"] == group.master.port
    assert len(topology.sentinels) == 3
    for s in topology.sentinels:
        master = pairs(sentinel(s, "MASTER", "mymaster"))
        assert master["port"] == str(group.master.port)
        assert master["num-slaves"] == "2"
        assert master["num-other-sentinels"] == "2"
        assert len(sentinel(s, "REPLICAS", "mymaster")) == 2
        assert len(sentinel(s, "SENTINELS", "mymaster")) == 2
    assert topology.sentinel_master_address("mymaster") == group.master.address
    assert all(s.address == f"127.0.0.1:{s.port}" for s in topology.all_servers())

    # stop() must also get rid of SIGSTOPped processes.
    group.replicas[0].pause()
    topology.sentinels[0].pause()
    topology.stop()
    assert_all_gone(topology.all_servers())
    topology.stop()  # idempotent


def test_two_groups_share_the_sentinels(flavor: Flavor, tmp_path: Path) -> None:
    with Topology(flavor, tmp_path, password=PASSWORD, groups=("mymaster", "cache")) as topo:
        assert set(topo.groups) == {"mymaster", "cache"}
        masters = {g.name: g.master for g in topo.groups.values()}
        assert masters["mymaster"].port != masters["cache"].port
        assert len(topo.all_servers()) == 2 * 3 + 3
        for s in topo.sentinels:
            seen = {m["name"]: m for m in map(pairs, sentinel(s, "MASTERS"))}
            assert set(seen) == {"mymaster", "cache"}
            for name, master in masters.items():
                assert seen[name]["port"] == str(master.port)
                assert seen[name]["num-slaves"] == "2"
                assert seen[name]["num-other-sentinels"] == "2"
        for name, master in masters.items():
            assert topo.sentinel_master_address(name) == master.address
    assert_all_gone(topo.all_servers())


def test_requested_failover_settles_on_a_new_master(topology: Topology) -> None:
    original = topology.groups["mymaster"].master
    assert sentinel(topology.sentinels[0], "FAILOVER", "mymaster") == "OK"
    new_address = topology.wait_for_failover_settled("mymaster", timeout=60)
    assert new_address != original.address
    new_master = next(s for s in topology.all_servers() if s.address == new_address)
    assert new_master in topology.groups["mymaster"].replicas
    assert role(new_master) == "master"
    assert topology.sentinel_master_address("mymaster") == new_address


def test_password_never_on_command_line(topology: Topology, flavor: Flavor, tmp_path: Path) -> None:
    standalone = start_standalone(flavor, tmp_path / "solo", password=PASSWORD)
    try:
        with client(standalone) as c:
            assert c.ping()
        for s in [*topology.all_servers(), standalone]:
            assert isinstance(s.proc.args, list)
            assert not any(PASSWORD in str(arg) for arg in s.proc.args), s.proc.args
            with open(f"/proc/{s.proc.pid}/cmdline", "rb") as fh:
                assert PASSWORD.encode() not in fh.read()
            # Sentinel rewrites its config as 0644, so the workdir itself must be private.
            assert s.workdir.stat().st_mode & 0o077 == 0
            if s.role != "sentinel":
                assert (s.workdir / "server.conf").stat().st_mode & 0o077 == 0
    finally:
        standalone.stop()
    assert_all_gone([standalone])
