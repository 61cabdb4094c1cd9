"""`make demo` and `make failover`, run as the README tells a new user to, on a port of their
own so that a demo someone runs on this machine is left alone."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import FLAVORS, ROOT, wait_until
from tests.promtext import parse_series, value
from tests.topology import free_port
from tools.demo import marker_path


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _make_failover(port: int) -> subprocess.CompletedProcess[str]:
    """`make failover PORT=port`, as the README says."""
    return subprocess.run(
        ["make", "--no-print-directory", "failover", f"PORT={port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not FLAVORS, reason="no server binaries")
def test_make_demo_discovers_the_topology_follows_make_failover_and_cleans_up(
    tmp_path: Path,
) -> None:
    port = free_port()
    marker = marker_path(port)
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"ARGS=--listen-address 127.0.0.1:{port}"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("REDIS")},
    )
    url = f"http://127.0.0.1:{port}"
    output = tmp_path / "demo.log"
    try:

        def six_nodes() -> str | None:
            try:
                text = _get(url + "/metrics")
            except OSError:
                return None
            ups = [s for s in parse_series(text) if s.name == "redis_up" and s.value == 1]
            return text if len(ups) == 6 else None

        wait_until(six_nodes, 120, interval=0.5, what=f"demo up ({output.read_text()[-800:]})")
        printed = output.read_text()
        assert f"open http://127.0.0.1:{port}/" in printed
        sentinel_ports = [
            int(p)
            for p in re.findall(
                r"127\.0\.0\.1:(\d+)", printed.split("Sentinels at ", 1)[1].split(";", 1)[0]
            )
        ]
        assert len(sentinel_ports) == 3
        assert f"make failover PORT={port}" in printed
        # The printed CLI command reaches the master, reading the password it never prints.
        hint = printed.split("make the metrics move with the master's CLI: ", 1)[1]
        command = hint.split("\n", 1)[0].removesuffix(" INFO stats")
        pinged = subprocess.run(
            ["bash", "-c", command + " PING"], capture_output=True, text=True, timeout=30
        )
        assert pinged.stdout.strip() == "PONG", pinged.stdout + pinged.stderr
        secret = Path(re.findall(r'cat ([^)"]+)', command)[0]).read_text().strip()
        assert secret and secret not in output.read_text()  # only in its file
        recorded = json.loads(marker.read_text())
        assert recorded["sentinels"] == sentinel_ports
        failover = _make_failover(port)
        assert failover.returncode == 0, failover.stdout + failover.stderr
        wait_until(
            lambda: (
                value(
                    _get(url + "/metrics"), "redis_sentinel_failovers_total", master_name="mymaster"
                )
                == 1
            ),
            30,
            what="failover counted",
        )
        assert "failovers seen: 1" in _get(url + "/")
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        code = demo.wait(30)
        log.close()
    # make reports an interrupted recipe by dying of the same signal, as a shell expects.
    assert code in (0, -signal.SIGINT), output.read_text()[-2000:]
    assert "Application shutdown complete" in output.read_text()
    assert not any(_port_open(p) for p in sentinel_ports), "servers left running"
    assert not marker.exists()


def test_make_failover_without_a_demo_on_that_port_says_so_and_exits_1() -> None:
    port = free_port()
    failover = _make_failover(port)
    assert failover.returncode != 0
    assert f"no demo of yours is listening on port {port}" in failover.stderr
