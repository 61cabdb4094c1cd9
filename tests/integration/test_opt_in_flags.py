"""redis_exporter's opt-in flags against real servers: `--config-command` for a renamed or
forbidden CONFIG, `--include-metrics-for-empty-databases=false`, `--include-sentinel-peer-info`
and `--redis-only-metrics`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, wait_until
from tests.promtext import parse_series, value
from tests.topology import Flavor, Topology, start_standalone

RENAMED = "CFG_7f3a"
PEER = "redis_sentinel_peer_info"
SENTINEL_PASS = "snt-Pw-4417"


def _polled(run_exporter: Any, address: str, *flags: str) -> tuple[Any, str]:
    exporter = run_exporter(
        "--redis-addr",
        address,
        "--poll-interval",
        "0.3",
        "--poll-timeout",
        "0.25",
        "--metrics-min-age",
        "0",
        *flags,
    )
    exporter.wait_up(address)
    return exporter, exporter.after_polls(address)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_renamed_config_is_read_under_its_new_name(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(
        flavor,
        tmp_path / "node",
        extra_config={"rename-command": f"CONFIG {RENAMED}", "maxmemory": "48mb"},
    )
    try:
        exporter, text = _polled(run_exporter, server.address, "--config-command", RENAMED)
        assert value(text, "redis_config_maxmemory") == 48 * 1024 * 1024
        assert "refused" not in exporter.logs()
        stats = redis.Redis(port=server.port).info("commandstats")
        assert not [k for k, v in stats.items() if v.get("failed_calls")]
    finally:
        server.stop()


def _config_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_config"))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_config_command_dash_sends_no_config_and_empty_databases_can_be_left_out(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        client.set("k", "v")
        before = _config_calls(client)
        _, text = _polled(
            run_exporter,
            server.address,
            "-config-command=-",
            "--include-metrics-for-empty-databases=false",
        )
        assert not [s for s in parse_series(text) if s.name.startswith("redis_config_")]
        assert {s.labels["db"] for s in parse_series(text) if s.name == "redis_db_keys"} == {"db0"}
        assert _config_calls(client) == before
        assert value(text, "redis_up", instance=server.address) == 1
        client.close()
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_peer_info_and_redis_only_metrics(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    topo = Topology(flavor, tmp_path / "topo", replicas=1, sentinels=3)
    with topo.start():
        sentinel = topo.sentinels[0]
        exporter, _ = _polled(
            run_exporter,
            sentinel.address,
            "--include-sentinel-peer-info",
            "--redis-only-metrics",
            "--include-config-metrics",
        )
        others = {s.port for s in topo.sentinels[1:]}

        def peers() -> str | None:
            text = str(exporter.metrics())
            got = {int(s.labels["port"]) for s in parse_series(text) if s.name == PEER}
            return text if got == others else None

        # Sentinels learn of each other through hello messages, a few seconds after start.
        text = wait_until(peers, 20, what="both peers known")
        for s in parse_series(text):
            if s.name == PEER:
                assert s.labels["master_name"] == "mymaster"
                assert s.labels["flags"] == "sentinel" and len(s.labels["runid"]) == 40
        assert not [s for s in parse_series(text) if s.name.startswith(("process_", "python_"))]
        assert value(text, "redis_exporter_build_info") is None
        # The Sentinel's own settings; its sentinel-pass, set now (it cuts the Sentinel off
        # from its password-less peers, so only after they were seen), is never exported.
        client = redis.Redis(port=sentinel.port)
        client.execute_command("SENTINEL", "CONFIG", "SET", "sentinel-pass", SENTINEL_PASS)
        client.execute_command("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "yes")
        client.close()

        def reread() -> str | None:
            text = str(exporter.metrics())
            got = value(
                text, "redis_sentinel_config_key_value", key="resolve-hostnames", value="yes"
            )
            return text if got == 1 else None

        text = wait_until(reread, 20, what="the new resolve-hostnames exported")
        keys = {
            s.labels["key"]: s.labels["value"]
            for s in parse_series(text)
            if s.name == "redis_sentinel_config_key_value"
        }
        assert {"announce-port", "announce-hostnames"} <= set(keys), keys
        assert not {k for k in keys if "pass" in k}
        assert SENTINEL_PASS not in text


@pytest.mark.parametrize("flavor", FLAVORS)
def test_include_config_metrics_exports_every_setting_but_no_secret(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    password, masterauth = "cfg-Pw-5521", "cfg-Auth-8810"
    server = start_standalone(
        flavor,
        tmp_path / "node",
        password=password,
        extra_config={"masterauth": masterauth, "maxmemory": "40mb"},
    )
    try:
        _, text = _polled(
            run_exporter,
            server.address,
            "--redis-password",
            password,
            "--include-config-metrics",
        )
        keys = {s.labels["key"] for s in parse_series(text) if s.name == "redis_config_key_value"}
        assert {"maxmemory", "appendonly", "save", "databases"} <= keys and len(keys) > 100
        assert not {k for k in keys if "pass" in k or k.endswith("auth")}
        assert value(text, "redis_config_value", key="maxmemory") == 40 * 1024 * 1024
        assert value(text, "redis_config_maxmemory") == 40 * 1024 * 1024
        assert password not in text and masterauth not in text
    finally:
        server.stop()
