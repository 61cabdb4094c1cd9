"""The HTTP side against real servers: caching, gzip and OpenMetrics, readiness, graceful
shutdown, and a restricted ACL user that may not run CONFIG, SLOWLOG or LATENCY."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.conftest import FLAVORS, wait_until
from tests.promtext import parse_series, value
from tests.topology import ServerProcess, start_standalone


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def node(flavor: Any, tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_standalone(flavor, tmp_path / "node")
    yield server
    server.stop()


def test_metrics_are_cached_between_polls_and_negotiate_gzip_and_openmetrics(
    node: ServerProcess, run_exporter: Any
) -> None:
    exporter = run_exporter(
        "--redis-addr", node.address, "--poll-interval", "30", "--poll-timeout", "2"
    )
    exporter.wait_up(node.address, 20)
    first, second = exporter.metrics(), exporter.metrics()
    assert first == second  # nothing polled in between: the same rendered bytes
    status, body, headers = exporter.get("/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).decode() == first
    status, body, headers = exporter.get(
        "/metrics",
        {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"},
    )
    assert headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    text = body.decode()
    assert text.endswith("# EOF\n")
    # redis_exporter's latency summary uses percent quantiles ("99"), which strict OpenMetrics
    # parsers reject and Prometheus accepts (tests/e2e); everything else must be strict OM.
    strict = (
        "\n".join(
            line for line in text.splitlines() if "redis_latency_percentiles_usec" not in line
        )
        + "\n"
    )
    names = {f.name for f in text_string_to_metric_families(strict)}
    assert {"redis_up", "redis_commands", "redis_total_error_replies"} <= names
    assert exporter.get("/nope")[0] == 404


def test_ready_only_after_every_node_was_polled_once(
    flavor: Any, node: ServerProcess, run_exporter: Any, tmp_path: Path
) -> None:
    frozen = start_standalone(flavor, tmp_path / "frozen")
    frozen.pause()
    try:
        exporter = run_exporter(
            "--redis-addr",
            node.address,
            "--redis-addr",
            frozen.address,
            "--poll-interval",
            "10",
            "--poll-timeout",
            "3",
        )
        assert exporter.get("/ready")[0] == 503
        wait_until(lambda: exporter.get("/ready")[0] == 200, 20, what="ready")
        text = exporter.metrics()
        assert value(text, "redis_up", instance=frozen.address) == 0
        assert value(text, "redis_up", instance=node.address) == 1
    finally:
        frozen.stop()


def test_not_ready_while_credentials_are_refused_or_no_sentinel_answers(
    flavor: Any, node: ServerProcess, run_exporter: Any, tmp_path: Path
) -> None:
    """A data node's port given as --sentinel-addr: polled as a data node, one warning that
    says so, and /ready 503 naming it; a refused password: /ready 503 naming the node."""
    seed = run_exporter(
        "--sentinel-addr", node.address, "--poll-interval", "1", "--poll-timeout", "0.5"
    )
    seed.wait_up(node.address)

    def reasons(exporter: Any) -> str | None:
        status, body, _ = exporter.get("/ready")
        return body.decode() if status == 503 and b"polled yet" not in body else None

    body = wait_until(lambda: reasons(seed), 20, what="/ready 503 for the seed")
    assert body == (
        f"not ready: no --sentinel-addr answers as a Sentinel: {node.address} is not a "
        "Sentinel but a data node (master)\n"
    )
    warning = f"--sentinel-addr {node.address} is not a Sentinel but a data node (master)"
    wait_until(lambda: warning in seed.logs(), 10, what="the warning")
    time.sleep(2.5)  # two more polls: still one line
    assert seed.logs().count(warning) == 1

    protected = start_standalone(flavor, tmp_path / "protected", password="right-Pw-1")
    try:
        wrong = run_exporter(
            "--redis-addr", protected.address, env={"REDIS_PASSWORD": "wrong-Pw-2"}
        )
        body = wait_until(lambda: reasons(wrong), 20, what="/ready 503 for the password")
        assert body.startswith(f"not ready: node {protected.address}: authentication failed:")
        assert body.count("\n") == 1 and "wrong-Pw-2" not in body
    finally:
        protected.stop()


def test_sigterm_closes_connections_and_exits_cleanly(
    node: ServerProcess, run_exporter: Any
) -> None:
    observer = redis.Redis(port=node.port)
    exporter = run_exporter(
        "--redis-addr", node.address, "--poll-interval", "0.2", "--poll-timeout", "0.1"
    )
    exporter.wait_up(node.address, 20)

    def ours() -> int:
        return sum(c["name"] == "redis-ha-exporter" for c in observer.client_list())

    assert ours() == 1
    assert exporter.stop() == 0
    wait_until(lambda: ours() == 0, 5, what="connection closed")
    assert "Application shutdown complete" in exporter.logs()
    observer.close()


def test_refused_config_slowlog_and_latency_are_logged_once_and_skipped(
    node: ServerProcess, run_exporter: Any
) -> None:
    admin = redis.Redis(port=node.port)
    admin.execute_command(
        "ACL", "SETUSER", "monitor", "on", ">mon-pw", "+@all", "-config", "-slowlog", "-latency"
    )
    exporter = run_exporter(
        "--redis-addr",
        node.address,
        "--redis-user",
        "monitor",
        "--poll-interval",
        "0.2",
        "--poll-timeout",
        "0.1",
        env={"REDIS_PASSWORD": "mon-pw"},
    )
    wait_until(
        lambda: (
            (value(exporter.metrics(), "redis_exporter_scrapes_total", instance=node.address) or 0)
            >= 10
        ),
        20,
        what="10 polls",
    )
    text = exporter.metrics()
    assert value(text, "redis_up", instance=node.address) == 1
    assert (value(text, "redis_memory_used_bytes", instance=node.address) or 0) > 0
    assert value(text, "redis_config_maxclients", instance=node.address) is None
    assert value(text, "redis_slowlog_length", instance=node.address) is None
    logs = exporter.logs()
    # One line per source refused: LATENCY LATEST and LATENCY HISTOGRAM are two.
    for command in ("CONFIG GET", "SLOWLOG GET", "LATENCY LATEST", "LATENCY HISTOGRAM"):
        assert logs.count(f"refused {command} ") == 1, logs
    assert logs.count(" refused ") == 4, logs
    refused = {
        s.labels["cmd"]
        for s in parse_series(text)
        if s.name == "redis_exporter_refused_commands" and s.value == 1
    }
    assert refused == {"CONFIG", "SLOWLOG", "LATENCY", "LATENCY HISTOGRAM"}
    denied = admin.info("stats").get("acl_access_denied_cmd", 0)
    time.sleep(1)
    assert admin.info("stats").get("acl_access_denied_cmd", 0) == denied  # not sent again
    admin.close()


def test_a_restart_is_counted_once_and_logged_once(node: ServerProcess, run_exporter: Any) -> None:
    exporter = run_exporter(
        "--redis-addr", node.address, "--poll-interval", "0.5", "--poll-timeout", "0.4"
    )
    exporter.wait_up(node.address)
    assert value(exporter.metrics(), "redis_exporter_node_restarts_total") == 0
    node.stop()
    node.relaunch()
    wait_until(
        lambda: value(exporter.metrics(), "redis_exporter_node_restarts_total") == 1,
        20,
        what="the restart counted",
    )
    time.sleep(1.5)  # more polls of the same run_id: no second count
    assert value(exporter.metrics(), "redis_exporter_node_restarts_total") == 1
    line = f"node {node.address} restarted (a new run_id)"
    assert exporter.logs().count(line) == 1, exporter.logs()


def test_a_node_on_a_unix_socket_is_polled_and_labelled_by_its_path(
    flavor: Any, run_exporter: Any, tmp_path: Path
) -> None:
    sock = tmp_path / "redis.sock"
    server = start_standalone(
        flavor, tmp_path / "unix", extra_config={"unixsocket": str(sock), "unixsocketperm": "700"}
    )
    try:
        exporter = run_exporter(
            "--redis-addr", f"unix://{sock}", "--poll-interval", "0.5", "--poll-timeout", "0.4"
        )
        exporter.wait_up(str(sock))
        text = exporter.metrics()
        assert value(text, "redis_connected_clients", instance=str(sock)) is not None
    finally:
        server.stop()
