"""Wake-ups and CPU of an exporter at rest: a local master, 2 replicas and 3 Sentinels polled at
a 10 s interval, no scrapes. Counts the process's context switches and CPU time from /proc.

    .venv/bin/python -m bench.idle_wakeups [--seconds 30] [--interval 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.topology import Topology, available_flavors, free_port

PASSWORD = "bench-Pw-1618"


def _switches(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Topology(available_flavors()[0], Path(tmp), password=PASSWORD) as topo,
    ):
        port = free_port()
        sentinels = [a for s in topo.sentinels for a in ("--sentinel-addr", s.address)]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_ha_exporter",
                *sentinels,
                "--listen-address",
                f"127.0.0.1:{port}",
                "--poll-interval",
                str(args.interval),
                "--poll-timeout",
                "5",
            ],
            env={**os.environ, "REDIS_PASSWORD": PASSWORD},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(min(args.interval, 10.0) + 2)  # discovery and the first polls
            s0, c0 = _switches(proc.pid), _cpu_seconds(proc.pid)
            time.sleep(args.seconds)
            s1, c1 = _switches(proc.pid), _cpu_seconds(proc.pid)
        finally:
            proc.terminate()
            proc.wait(15)
    polls = 6 * args.seconds / args.interval
    print(
        f"6 nodes at a {args.interval:g}s interval, {args.seconds:g}s at rest: "
        f"{(s1 - s0) / args.seconds:.2f} context switches/s, "
        f"{(c1 - c0) * 1000 / args.seconds:.2f} ms CPU/s, "
        f"{(c1 - c0) * 1000 / polls:.2f} ms CPU per node-poll (idle time included)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
