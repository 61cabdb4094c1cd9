"""Watched keys against real servers: each type's size, a missing named key at 0, PFCOUNT only
for HyperLogLogs, SCAN within the key cap and the time budget over 100,000 keys while INFO
keeps flowing, and `--check-keys-on replicas` sparing the master."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, assert_walk_kept_to_its_budget, polling, wait_until
from tests.promtext import parse_series, value
from tests.topology import Flavor, Topology, start_standalone

DEBUG = {"enable-debug-command": "local"}


def _sizes(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["db"], s.labels["key"]): s.value
        for s in parse_series(text)
        if s.name == "redis_key_size"
    }


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_each_type_is_sized_and_a_missing_named_key_reads_zero(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        client.rpush("app:list", *range(7))
        client.sadd("app:set", *range(5))
        client.zadd("app:zset", {str(i): i for i in range(4)})
        client.hset("app:hash", mapping={str(i): i for i in range(3)})
        client.xadd("app:stream", {"a": 1})
        client.xadd("app:stream", {"a": 2})
        client.set("app:string", "x" * 11)
        client.pfadd("app:hll", *range(100))
        client.set("app:hyll-lookalike", "HYL")  # shorter than the header: a plain string
        client.select(2)
        client.rpush("jobs", "a", "b")
        exporter = polling(
            run_exporter,
            server.address,
            "--check-keys",
            "app:*,db2=nothing:*",
            "--check-single-keys",
            "db2=jobs,db2=drained,db0=gone",
            "--check-keys-memory",
        )
        text = exporter.after_polls(server.address)
        sizes = _sizes(text)
        assert sizes == {
            ("db0", "app:list"): 7,
            ("db0", "app:set"): 5,
            ("db0", "app:zset"): 4,
            ("db0", "app:hash"): 3,
            ("db0", "app:stream"): 2,
            ("db0", "app:string"): 11,
            ("db0", "app:hll"): pytest.approx(100, abs=2),
            ("db0", "app:hyll-lookalike"): 3,
            ("db2", "jobs"): 2,
            ("db2", "drained"): 0,
            ("db0", "gone"): 0,
        }
        memory = {
            s.labels["key"]: s.value
            for s in parse_series(text)
            if s.name == "redis_key_memory_usage_bytes"
        }
        assert memory["app:list"] > 0 and "gone" not in memory
        assert value(text, "redis_exporter_key_checks_truncated") == 0
        # The string's header told it apart: PFCOUNT went to the HyperLogLog only, once a poll.
        polls = value(text, "redis_exporter_scrapes_total")
        assert polls is not None
        admin = redis.Redis(port=server.port)
        assert 0 < _calls(admin, "pfcount") <= polls + 1
        assert _calls(admin, "keys") == 0
        failed = [k for k, v in admin.info("commandstats").items() if v.get("failed_calls")]
        assert failed == []
        # A queue drained to nothing reads 0, not nothing.
        client.delete("jobs")
        text = exporter.after_polls(server.address)
        assert _sizes(text)[("db2", "jobs")] == 0
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_pattern_past_the_key_cap_is_cut_and_named_once_in_the_log(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node", extra_config=DEBUG)
    try:
        client = redis.Redis(port=server.port)
        client.execute_command("DEBUG", "POPULATE", 5000, "item")
        client.rpush("queue", "a")
        exporter = polling(
            run_exporter,
            server.address,
            "--check-keys",
            "item:*",
            "--check-single-keys",
            "queue",
            "--check-keys-max",
            "100",
        )
        text = exporter.after_polls(server.address, polls=3)
        sizes = _sizes(text)
        assert len([k for k in sizes if k[1].startswith("item:")]) == 100
        assert sizes[("db0", "queue")] == 1
        assert value(text, "redis_exporter_key_checks_truncated") == 1
        assert value(text, "redis_exporter_walk_truncated", source="check-keys") == 1
        lines = [line for line in exporter.logs().splitlines() if "stopped early" in line]
        assert len(lines) == 1, lines
        assert "db0=item:*" in lines[0] and "--check-keys-max" in lines[0]
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_100000_keys_stop_at_the_budget_while_info_keeps_its_interval(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node", extra_config=DEBUG)
    try:
        client = redis.Redis(port=server.port)
        client.execute_command("DEBUG", "POPULATE", 100_000, "big")
        budget = 0.2
        exporter = polling(
            run_exporter,
            server.address,
            "--check-keys",
            "big:*",
            "--check-keys-max",
            "1000000",
            "--check-keys-budget",
            str(budget),
            "--check-keys-batch-size",
            "500",
            interval="1",
        )
        text = exporter.after_polls(server.address, polls=2)
        assert value(text, "redis_exporter_key_checks_truncated") == 1
        found = len(_sizes(text))
        assert 0 < found < 100_000
        assert_walk_kept_to_its_budget(
            exporter, server.address, "check-keys", budget, "--check-keys-budget"
        )
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS[:1])
def test_check_keys_on_replicas_spares_the_master(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    topo = Topology(flavor, tmp_path / "topo", password=None, replicas=1, sentinels=0).start()
    try:
        group = next(iter(topo.groups.values()))
        master, replica = group.master, group.replicas[0]
        redis.Redis(port=master.port).rpush("jobs", "a", "b", "c")
        exporter = polling(
            run_exporter,
            [master.address, replica.address],
            "--check-single-keys",
            "jobs",
            "--check-keys-on",
            "replicas",
        )

        def on_replica() -> str | None:
            text = exporter.metrics()
            return text if value(text, "redis_key_size", instance=replica.address) == 3 else None

        text = wait_until(on_replica, timeout=10, what="the replica's key size")
        assert value(text, "redis_key_size", instance=master.address) is None
        assert _calls(redis.Redis(port=master.port), "llen") == 0
    finally:
        topo.stop()
