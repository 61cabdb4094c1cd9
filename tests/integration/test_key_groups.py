"""Memory by key pattern against real servers: exact figures when every key is read, fair
estimates from a sample of 100,000 keys, the time budget, the biggest keys escaped, and the
replica sampled instead of its master."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, assert_walk_kept_to_its_budget, polling, wait_until
from tests.promtext import parse_series, value
from tests.topology import Flavor, Topology, start_standalone

DEBUG = {"enable-debug-command": "local"}


def _groups(text: str, name: str) -> dict[str, float]:
    return {s.labels["group"]: s.value for s in parse_series(text) if s.name == name}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_every_key_read_gives_exact_counts_and_memory(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        pipe = client.pipeline(transaction=False)
        for n in range(300):
            pipe.set(f"session:{n}", "s" * 100)
        for n in range(200):
            pipe.hset(f"book:{n}", mapping={"title": "t" * 50, "n": n})
        for n in range(100):
            pipe.rpush(f"misc:{n}", "x")
        pipe.execute()
        exporter = polling(
            run_exporter,
            server.address,
            "--key-groups",
            "session:*,book:*",
            "--key-groups-every",
            "1",
        )
        text = exporter.after_polls(server.address)
        assert _groups(text, "redis_key_group_keys") == {
            "session:*": 300,
            "book:*": 200,
            "(other)": 100,
        }
        assert value(text, "redis_key_group_sampled_ratio", db="db0") == 1
        memory = _groups(text, "redis_key_group_memory_bytes")
        actual = sum(int(client.memory_usage(f"session:{n}") or 0) for n in range(300))
        assert memory["session:*"] == pytest.approx(actual, rel=0.05)
        assert value(text, "redis_exporter_walk_truncated", source="key-groups") == 0
        assert not [
            s for s in parse_series(text) if s.name == "redis_key_group_top_key_memory_bytes"
        ]
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_sample_of_100000_keys_estimates_each_group_within_ten_percent(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node", extra_config=DEBUG)
    try:
        client = redis.Redis(port=server.port)
        client.execute_command("DEBUG", "POPULATE", 60_000, "a")
        client.execute_command("DEBUG", "POPULATE", 40_000, "b")
        assert client.dbsize() == 100_000
        exporter = polling(
            run_exporter,
            server.address,
            "--key-groups",
            "a:*,b:*",
            "--key-groups-max-keys",
            "5000",
            "--key-groups-budget",
            "5",
            interval="1",
        )
        text = exporter.after_polls(server.address, polls=2)  # the walk follows a poll
        ratio = value(text, "redis_key_group_sampled_ratio", db="db0")
        assert ratio is not None and 0.04 <= ratio <= 0.07  # one SCAN batch past the cap at most
        keys = _groups(text, "redis_key_group_keys")
        assert keys["a:*"] == pytest.approx(60_000, rel=0.1)
        assert keys["b:*"] == pytest.approx(40_000, rel=0.1)
        assert keys["(other)"] == 0
        # Sampling to the cap is the design, not an early stop.
        assert value(text, "redis_exporter_walk_truncated", source="key-groups") == 0
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_budget_stops_a_sample_of_100000_keys_and_info_keeps_flowing(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node", extra_config=DEBUG)
    try:
        client = redis.Redis(port=server.port)
        client.execute_command("DEBUG", "POPULATE", 100_000, "k")
        budget = 0.1
        exporter = polling(
            run_exporter,
            server.address,
            "--key-groups",
            "k:*",
            "--key-groups-max-keys",
            "1000000",
            "--key-groups-budget",
            str(budget),
            "--key-groups-every",
            "1",
            interval="1",
        )
        text = exporter.after_polls(server.address, polls=2)
        ratio = value(text, "redis_key_group_sampled_ratio", db="db0")
        assert ratio is not None and 0 < ratio < 1
        assert _groups(text, "redis_key_group_keys")["k:*"] == pytest.approx(100_000, rel=0.02)
        assert_walk_kept_to_its_budget(
            exporter, server.address, "key-groups", budget, "--key-groups-budget"
        )
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS[:1])
def test_the_biggest_keys_are_named_escaped_and_bounded(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        for n in range(50):
            client.set(f"small:{n}", "x")
        client.rpush("big:list", *range(5000))
        client.set("big\nname", "y" * 20_000)
        client.hset("big:hash", mapping={str(n): "v" * 20 for n in range(2000)})
        exporter = polling(
            run_exporter, server.address, "--key-groups", "big*", "--key-groups-top-keys", "2"
        )
        text = exporter.after_polls(server.address)
        top = {
            s.labels["key"]: s.value
            for s in parse_series(text)
            if s.name == "redis_key_group_top_key_memory_bytes"
        }
        expected = sorted(
            ((int(client.memory_usage(k) or 0), k) for k in ("big:list", "big\nname", "big:hash")),
            reverse=True,
        )[:2]
        assert sorted(top) == sorted(k.replace("\n", "\\x0a") for _size, k in expected)
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS[:1])
def test_the_replica_is_sampled_and_its_master_spared(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    topo = Topology(flavor, tmp_path / "topo", password=None, replicas=1, sentinels=0).start()
    try:
        group = next(iter(topo.groups.values()))
        master, replica = group.master, group.replicas[0]
        redis.Redis(port=master.port).mset({f"s:{n}": n for n in range(20)})
        exporter = polling(run_exporter, [master.address, replica.address], "--key-groups", "s:*")

        def sampled() -> str | None:
            text = exporter.metrics()
            got = value(text, "redis_key_group_keys", instance=replica.address, group="s:*")
            return text if got == 20 else None

        text = wait_until(sampled, timeout=15, what="the replica's key groups")
        assert value(text, "redis_key_group_keys", instance=master.address, group="s:*") is None
        assert "cmdstat_memory" not in redis.Redis(port=master.port).info("commandstats")
    finally:
        topo.stop()
