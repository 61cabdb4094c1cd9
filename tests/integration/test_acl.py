"""Least-privilege ACL users against real servers: the README's exact ACL gives every metric
without a refused command, and a user that may only run INFO and PING still gets `redis_up 1`
and every INFO metric."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_ha_exporter import sources
from redis_ha_exporter.replies import version_tuple
from redis_ha_exporter.sources.base import NodeView, PollOptions
from tests.conftest import FLAVORS, ROOT, wait_until
from tests.promtext import parse_series, value
from tests.topology import Flavor, ServerProcess, Topology, start_standalone

ACL_PASSWORD = "acl-Pw-3141"
README = (ROOT / "README.md").read_text()


def readme_acl(marker: str) -> list[str]:
    """The README's `ACL SETUSER exporter ...` line that contains `marker`, as arguments,
    with the password placeholder replaced."""
    lines = re.findall(r"^ACL SETUSER exporter .*$", README, flags=re.M)
    (line,) = [line for line in lines if marker in line]
    return [ACL_PASSWORD.join(w.split("CHANGE-ME")) for w in shlex.split(line)]


@pytest.fixture(params=FLAVORS)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_standalone(request.param, tmp_path / "node")
    yield server
    server.stop()


def _examples() -> dict[str, object]:
    """Every source setting's example value: with them every source sends its commands."""
    return {s.name: s.example for src in sources.ALL for s in src.settings if s.example is not None}


def _example_flags() -> list[str]:
    flags: list[str] = []
    for src in sources.ALL:
        for s in src.settings:
            values = s.example if isinstance(s.example, list) else [s.example]
            flags += [w for v in values if s.example is not None for w in (s.flag, str(v))]
    return flags


def refused_families(valkey: tuple[int, ...] = ()) -> list[str]:
    """What a user allowed only INFO and PING is refused, once each: CLIENT SETNAME, and the
    first command of every other data-node source (as the poll's log line names it)."""
    options = PollOptions(sources.examples())
    node = NodeView("n", "data", (7, 0), 0, options, valkey=valkey, role="master")
    families = ["CLIENT SETNAME"]
    for src in sources.ALL:
        planned = src.commands(node, None) if "data" in src.kinds and not src.required else ()
        if src.walk is not None:  # its first round's first command (SELECT)
            state = src.walk.start(node, None)
            planned = src.walk.step(node, state, ())[1] if state is not None else ()
        if planned:
            families.append(" ".join(str(w) for w in planned[0][:2]).upper())
    return families


def _exporter(run_exporter: Any, node: ServerProcess) -> Any:
    return run_exporter(
        *_example_flags(),
        "--redis-addr",
        node.address,
        "--redis-user",
        "exporter",
        "--poll-interval",
        "0.3",
        "--poll-timeout",
        "0.2",
        "--config-refresh-polls",
        "2",
        env={"REDIS_PASSWORD": ACL_PASSWORD},
    )


def _polls(exporter: Any, instance: str) -> float:
    return value(exporter.metrics(), "redis_exporter_scrapes_total", instance=instance) or 0


def test_the_readme_acl_gives_every_metric_and_no_refusal(
    node: ServerProcess, run_exporter: Any
) -> None:
    admin = redis.Redis(port=node.port)
    admin.execute_command(*readme_acl("+config|get"))
    valkey = "valkey_version" in admin.info("server")
    if valkey:
        admin.execute_command(*readme_acl("+commandlog|get"))
    admin.execute_command(*readme_acl("%R~"))
    admin.config_set("slowlog-log-slower-than", 0)  # so the slowlog has entries to read
    admin.rpush("app:queue", "a", "b")  # matched by the key checks' example pattern
    exporter = _exporter(run_exporter, node)
    wait_until(lambda: _polls(exporter, node.address) >= 6, 20, what="6 polls")
    text = exporter.metrics()
    assert value(text, "redis_up", instance=node.address) == 1
    for name in (
        "redis_memory_used_bytes",
        "redis_config_maxclients",
        "redis_slowlog_length",
        "redis_slowlog_last_id",
    ):
        assert value(text, name, instance=node.address) is not None, name
    assert any(s.name == "redis_slowlog_entries_total" for s in parse_series(text))
    assert value(text, "redis_key_size", instance=node.address, key="app:queue") == 2
    if valkey:
        assert value(text, "redis_commandlog_slow_length", instance=node.address) is not None
        assert any(
            s.name == "redis_commandlog_entries_total" and s.labels["type"] == "slow"
            for s in parse_series(text)
        )
    assert "refused" not in exporter.logs()
    names = [c["name"] for c in admin.client_list() if c.get("user") == "exporter"]
    assert names == ["redis-ha-exporter"]
    # The user denied nothing: the server's ACL log has no entry for it.
    assert not [e for e in admin.acl_log() if e.get("username") == "exporter"]
    admin.close()


def test_a_user_allowed_only_info_and_ping_gets_every_info_metric(
    node: ServerProcess, run_exporter: Any
) -> None:
    admin = redis.Redis(port=node.port)
    admin.execute_command("ACL", "SETUSER", "exporter", "on", f">{ACL_PASSWORD}", "-@all")
    admin.execute_command("ACL", "SETUSER", "exporter", "+info", "+ping")
    exporter = _exporter(run_exporter, node)
    wait_until(lambda: _polls(exporter, node.address) >= 6, 20, what="6 polls")
    text = exporter.metrics()
    assert value(text, "redis_up", instance=node.address) == 1
    assert value(text, "redis_exporter_last_scrape_error", instance=node.address, err="") == 0
    for name in ("redis_memory_used_bytes", "redis_connected_clients", "redis_uptime_in_seconds"):
        assert value(text, name, instance=node.address) is not None, name
    assert any(
        s.name == "redis_instance_info" and s.labels["role"] == "master" for s in parse_series(text)
    )
    logs = exporter.logs()
    valkey = version_tuple(admin.info("server").get("valkey_version", ""))
    assert len(refused_families(valkey)) >= (5 if valkey else 4)
    families = refused_families(valkey)
    for family in families:  # once per source (two walks start with SELECT)
        assert logs.count(f"refused {family}") == families.count(family), logs
    admin.close()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_readme_sentinel_acl_gives_discovery_and_events(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    with Topology(flavor, tmp_path, password=None, replicas=1, sentinels=2, quorum=1) as topo:
        for sentinel in topo.sentinels:
            admin = redis.Redis(port=sentinel.port)
            admin.execute_command(*readme_acl("+sentinel|masters"))
            admin.close()
        exporter = run_exporter(
            "--sentinel-addr",
            topo.sentinels[0].address,
            "--sentinel-user",
            "exporter",
            "--poll-interval",
            "0.5",
            "--poll-timeout",
            "0.3",
            env={"REDIS_SENTINEL_PASSWORD": ACL_PASSWORD},
        )
        group = topo.groups["mymaster"]
        for server in [group.master, *group.replicas, *topo.sentinels]:
            exporter.wait_up(server.address)
        text = exporter.metrics()
        assert value(text, "redis_sentinel_group_sentinels_up", master_name="mymaster") == 2
        assert "refused" not in exporter.logs()
        assert "event subscription" not in exporter.logs()
