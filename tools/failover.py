"""`make failover PORT=...`: ask a Sentinel of the demo whose exporter listens on PORT for a
failover, so one can watch the exporter follow it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tools.demo import live_demos, marker_path, read_marker


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make failover PORT=...")
    parser.add_argument("--port", type=int, default=9121, help="the demo's listen port")
    parser.add_argument("group", nargs="?", default="mymaster")
    args = parser.parse_args(argv)
    marker = read_marker(args.port)
    if marker is None:
        others = live_demos()
        hint = (
            "your demos: " + ", ".join(f"make failover PORT={p}" for p in others)
            if others
            else "start one with: make demo"
        )
        print(
            f"failover: no demo of yours is listening on port {args.port} "
            f"(no live {marker_path(args.port)}); {hint}",
            file=sys.stderr,
        )
        return 1
    problems = []
    for port in marker.sentinels:
        try:
            # No retries: a Sentinel that does not answer at once is down; ask the next.
            with redis.Redis(
                "127.0.0.1",
                port,
                socket_timeout=5,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            ) as client:
                reply = client.execute_command("SENTINEL", "FAILOVER", args.group)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            problems.append(f"{port}: {exc}")
            continue
        except redis.RedisError as exc:
            print(f"failover: Sentinel on port {port} refused: {exc}", file=sys.stderr)
            return 1
        print(f"failover: Sentinel on port {port} answered {reply}; watch / and /metrics")
        return 0
    print(f"failover: no Sentinel of the demo answered: {'; '.join(problems)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
