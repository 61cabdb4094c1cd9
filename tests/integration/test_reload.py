"""Reload without restart, against real servers: SIGHUP (and POST /-/reload with
--web-enable-lifecycle) reads the config file and password files again; a new target is polled,
a removed one dropped, an unchanged one keeps its connection and counters; a broken file keeps
the running configuration and says so in the log and in redis_exporter_config_*."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import FLAVORS, ExporterProcess, wait_until
from tests.promtext import value
from tests.topology import ServerProcess, start_standalone

PASSWORD, NEW_PASSWORD = "reload-Pw-1", "reload-Pw-2"


@pytest.fixture(params=FLAVORS)
def two_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    nodes = [start_standalone(request.param, tmp_path / f"n{i}", password=PASSWORD) for i in (0, 1)]
    yield nodes
    for node in nodes:
        node.stop()


def _targets(path: Path, *nodes: ServerProcess) -> None:
    path.write_text("targets:\n" + "".join(f'  - addr: "{n.address}"\n' for n in nodes))


def _post(exporter: ExporterProcess, path: str) -> int:
    request = urllib.request.Request(exporter.url + path, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sighup_reconciles_targets_and_keeps_what_did_not_change(
    two_nodes: list[ServerProcess],
    run_exporter: Callable[..., ExporterProcess],
    tmp_path: Path,
) -> None:
    first, second = two_nodes
    config, secret = tmp_path / "exporter.yaml", tmp_path / "password"
    _targets(config, first)
    secret.write_text(PASSWORD + "\n")
    exporter = run_exporter(
        "--config-file",
        str(config),
        "--redis-password-file",
        str(secret),
        "--poll-interval",
        "0.5",
        "--poll-timeout",
        "0.4",
    )
    exporter.wait_up(first.address)
    probe = redis.Redis.from_url(f"redis://{first.address}", password=PASSWORD)
    connections = int(probe.info("stats")["total_connections_received"])
    polls = value(exporter.metrics(), "redis_exporter_scrapes_total", instance=first.address)
    assert polls is not None

    _targets(config, first, second)
    exporter.proc.send_signal(signal.SIGHUP)
    exporter.wait_up(second.address)
    text = exporter.metrics()
    after = value(text, "redis_exporter_scrapes_total", instance=first.address)
    assert after is not None and after > polls  # counting on, not from zero
    assert int(probe.info("stats")["total_connections_received"]) == connections
    assert value(text, "redis_exporter_config_last_reload_successful") == 1
    assert "configuration reloaded" in exporter.logs()

    # A broken file: the running configuration stays, and says why.
    config.write_text("targets: [ {addr: ")
    exporter.proc.send_signal(signal.SIGHUP)
    wait_until(
        lambda: value(exporter.metrics(), "redis_exporter_config_last_reload_successful") == 0,
        10,
        what="the failed reload reported",
    )
    assert "reload failed, keeping the running configuration" in exporter.logs()
    assert value(exporter.metrics(), "redis_up", instance=second.address) == 1

    # The servers' password changes, then the file: the new one is used after a reload.
    for node in (first, second):
        with redis.Redis.from_url(f"redis://{node.address}", password=PASSWORD) as client:
            client.config_set("requirepass", NEW_PASSWORD)
    secret.write_text(NEW_PASSWORD + "\n")
    _targets(config, second)
    exporter.proc.send_signal(signal.SIGHUP)
    wait_until(
        lambda: (
            value(exporter.metrics(), "redis_up", instance=second.address) == 1
            and value(exporter.metrics(), "redis_up", instance=first.address) is None
        ),
        15,
        what="the second node up with the new password, the first dropped",
    )
    assert value(exporter.metrics(), "redis_exporter_config_last_reload_successful") == 1
    assert NEW_PASSWORD not in exporter.logs() + exporter.metrics()
    probe.close()


@pytest.mark.skipif(not FLAVORS, reason="no server binaries")
def test_post_reload_needs_the_lifecycle_flag(
    run_exporter: Callable[..., ExporterProcess], tmp_path: Path
) -> None:
    config = tmp_path / "exporter.yaml"
    config.write_text('targets:\n  - addr: "127.0.0.1:1"\n')
    closed = run_exporter("--config-file", str(config))
    assert _post(closed, "/-/reload") == 403
    open_ = run_exporter(
        "--config-file", str(config), "--web.enable-lifecycle", "--metrics-min-age", "0"
    )
    before = value(open_.metrics(), "redis_exporter_config_last_reload_success_timestamp_seconds")
    time.sleep(1.1)
    assert _post(open_, "/-/reload") == 200
    after = value(open_.metrics(), "redis_exporter_config_last_reload_success_timestamp_seconds")
    assert before is not None and after is not None and after > before
    config.write_text("poll_interval: nope\n")
    assert _post(open_, "/-/reload") == 500
    assert value(open_.metrics(), "redis_exporter_config_last_reload_successful") == 0
