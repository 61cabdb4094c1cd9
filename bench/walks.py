"""What the walks cost per poll: key checks and key groups over 1,000 and 100,000 matching keys,
on a master and on its replica, each walk run by the exporter's own poller right after a poll:
its seconds, round trips and commands, and the Redis command time it took (INFO commandstats,
bench/redisstats.py). Medians of `--runs` walks.

    python -m bench.walks [--runs 3] [--keys 1000 --keys 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr

from bench.redisstats import CommandStats
from redis_ha_exporter import sources
from redis_ha_exporter.address import parse_address
from redis_ha_exporter.config import Credentials
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.poller import NodePoller, PollSettings
from redis_ha_exporter.sources.base import PollOptions
from redis_ha_exporter.sources.walks import WalkRecord
from tests.topology import find_server_binary, free_port

PASSWORD = "bench-walks"  # a throwaway loopback server
# Each case's options: limits lifted to see the whole cost, then the defaults.
CASES: dict[str, tuple[str, dict[str, object]]] = {
    "key checks, every key": (
        "check-keys",
        {"check_keys": ["k:*"], "check_keys_max": 1_000_000, "check_keys_budget": 60.0},
    ),
    "key checks, defaults": ("check-keys", {"check_keys": ["k:*"]}),
    "key groups, every key": (
        "key-groups",
        {
            "key_groups": ["k:*"],
            "key_groups_max_keys": 10_000_000,
            "key_groups_budget": 60.0,
            "key_groups_on": "all",
            "key_groups_every": 1,
        },
    ),
    "key groups, defaults": (
        "key-groups",
        {"key_groups": ["k:*"], "key_groups_on": "all", "key_groups_every": 1},
    ),
}


def _server(binary: str, workdir: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--requirepass", PASSWORD, "--masterauth", PASSWORD, "--dir", str(workdir)]
    argv += [*extra]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, password=PASSWORD)


def _wait(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bench.walks: timed out waiting for {what}")


async def _measure(port: int, options: dict[str, object], source: str, runs: int) -> dict[str, Any]:
    spec = NodeSpec(parse_address(f"127.0.0.1:{port}"), Credentials(password=SecretStr(PASSWORD)))
    settings = PollSettings(interval=3600, timeout=60, options=PollOptions(options))
    poller = NodePoller(spec, settings, sources.ALL, lambda _snap: None)
    stats = CommandStats(port, PASSWORD)
    rows: list[tuple[float, int, int, float, bool]] = []
    try:
        for _ in range(runs):
            assert await poller.poll_once(), poller.snapshot.error
            stats.boundary()
            await poller.walk_once(time.monotonic() + 120)
            window = stats.boundary()
            record = poller.snapshot.get(WalkRecord)
            assert record is not None and source in record.runs
            run, stopped = record.runs[source]
            rows.append((run.seconds, run.rounds, run.commands, window.usec / 1e6, bool(stopped)))
    finally:
        await poller.stop()
        stats.close()
    seconds, rounds, commands, usec, cut = zip(*rows, strict=True)
    return {
        "seconds": statistics.median(seconds),
        "round_trips": statistics.median(rounds),
        "commands": statistics.median(commands),
        "redis_seconds": statistics.median(usec),
        "truncated": any(cut),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.walks")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keys", type=int, action="append", help="matching keys (repeatable)")
    args = parser.parse_args(argv)
    binary = find_server_binary("redis") or find_server_binary("valkey")
    if binary is None:
        raise SystemExit("bench.walks: no redis-server or valkey-server (make test-servers)")
    with tempfile.TemporaryDirectory(prefix="bench-walks-") as tmp:
        master_port, replica_port = free_port(), free_port()
        servers = [_server(binary, Path(tmp) / "m", master_port)]
        replica_of = ("--replicaof", "127.0.0.1", str(master_port))
        servers.append(_server(binary, Path(tmp) / "r", replica_port, *replica_of))
        try:
            master, replica = _client(master_port), _client(replica_port)
            _wait(lambda: master.ping() and replica.ping(), "the servers")
            print(f"{Path(binary).name}; medians of {args.runs} walks, each right after a poll")
            print("keys     node     case                      seconds  trips  commands  redis s")
            for count in args.keys or (1_000, 100_000):
                master.flushall()
                # MSET rather than DEBUG POPULATE, which replicas do not get.
                for start in range(0, count, 1000):
                    master.mset({f"k:{n}": "v" * 16 for n in range(start, start + 1000)})
                _wait(lambda: replica.dbsize() == count, "the replica's copy")  # noqa: B023
                for node, port in (("master", master_port), ("replica", replica_port)):
                    for case, (source, options) in CASES.items():
                        got = asyncio.run(_measure(port, options, source, args.runs))
                        cut = " (stopped early)" if got["truncated"] else ""
                        print(
                            f"{count:<8} {node:<8} {case:<24} {got['seconds']:8.3f} "
                            f"{got['round_trips']:6.0f} {got['commands']:9.0f} "
                            f"{got['redis_seconds']:8.3f}{cut}"
                        )
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
