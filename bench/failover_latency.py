"""How long the exporter takes from a Sentinel's `+switch-master` to showing the new master
with role="master" on /metrics. Prints each run and the median; never part of pass/fail.

    .venv/bin/python -m bench.failover_latency [--runs 5] [--interval 1] [--flavor redis]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import redis

from tests.topology import Topology, available_flavors, free_port

PASSWORD = "bench-pw"


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


def _role_of(text: str, instance: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("redis_instance_info{") and f'instance="{instance}"' in line:
            return line.split('role="', 1)[1].split('"', 1)[0]
    return None


def _wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise TimeoutError


def one_run(topo: Topology, url: str) -> float:
    switched: list[float] = []
    sub = redis.Redis(port=topo.sentinels[1].port).pubsub()
    sub.subscribe("+switch-master")

    def listen() -> None:
        while not switched:
            message = sub.get_message(ignore_subscribe_messages=True, timeout=0.01)
            if message is not None and message["type"] == "message":
                switched.append(time.monotonic())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    with redis.Redis(port=topo.sentinels[0].port) as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")
    _wait(lambda: bool(switched), 30)
    new = topo.sentinel_master_address("mymaster")
    _wait(lambda: _role_of(_metrics(url), new) == "master", 10)
    delay = time.monotonic() - switched[0]
    thread.join(1)
    sub.close()
    # Let the old master be demoted before the next run.
    _wait(
        lambda: (
            sum(
                'role="master"' in line
                for line in _metrics(url).splitlines()
                if line.startswith("redis_instance_info{")
            )
            == 1
        ),
        30,
    )
    return delay


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--flavor", choices=available_flavors(), action="append")
    args = parser.parse_args()
    for flavor in args.flavor or available_flavors():
        with (
            tempfile.TemporaryDirectory() as tmp,
            Topology(flavor, Path(tmp), password=PASSWORD).start() as topo,
        ):
            port = free_port()
            env = {**os.environ, "REDIS_PASSWORD": PASSWORD}
            exporter = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "redis_ha_exporter",
                    "--sentinel-addr",
                    topo.sentinels[0].address,
                    "--listen-address",
                    f"127.0.0.1:{port}",
                    "--poll-interval",
                    str(args.interval),
                    "--poll-timeout",
                    str(args.interval / 2),
                    "--log-level",
                    "warning",
                ],
                env=env,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait(lambda u=url: _metrics_ok(u, 6), 30)
                delays = [one_run(topo, url) for _ in range(args.runs)]
            finally:
                exporter.terminate()
                exporter.wait(15)
            shown = ", ".join(f"{d * 1000:.0f}" for d in delays)
            print(
                f"{flavor}: +switch-master -> role=master on /metrics, poll interval "
                f"{args.interval:g}s: runs [{shown}] ms, "
                f"median {statistics.median(delays) * 1000:.0f} ms"
            )
    return 0


def _metrics_ok(url: str, nodes: int) -> bool:
    try:
        text = _metrics(url)
    except OSError:
        return False
    return (
        sum(line.startswith("redis_up{") and line.endswith(" 1.0") for line in text.splitlines())
        == nodes
    )


if __name__ == "__main__":
    raise SystemExit(main())
