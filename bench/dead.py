"""Nodes that never answer: how long our exporter takes to answer a gzip `/metrics`, and the CPU
it burns, when its Sentinel names one master and N replicas of which none answers.

The exporter gets `--sentinel-addr` of a fake Sentinel (bench/fakesentinel.py) whose
SENTINEL MASTERS / REPLICAS / SENTINELS name the dead nodes on loopback ports. Once every dead
node has been polled at least once (it has a `redis_exporter_scrapes_total` sample), the
exporter's CPU is read over a spell without scrapes, then over a fixed number of sequential
gzip scrapes of `/metrics`, each `PAUSE` s after the previous answer (more than the default
`--metrics-min-age`, so each gets a fresh body, as every Prometheus scrape would).

The default mode is `silent`: the nodes accept connections and never reply, so every poll
runs to `--poll-timeout`, as with a host that is gone or a frozen process, the usual way a
node "never answers" and the costly one (each poll holds its connection and task for the
whole timeout). `refused` (ports closed, refused at once) is the cheap variant.
redis_exporter has no Sentinel discovery, so this scenario measures ours only. `--max-nodes` is
raised above the dead nodes, so that every one of them is polled.
"""

from __future__ import annotations

import functools
import gzip
import re
import time
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import (
    HOST,
    Exporter,
    FakeSentinel,
    http_get,
    http_status,
    run_load,
    start_ours,
    stop,
    wait_until,
)
from bench.procstat import cpu_seconds, status_kib
from bench.replay import raise_nofile
from bench.report import Row, percentile

INTERVAL, TIMEOUT = 10.0, 5.0  # the exporter's defaults, passed explicitly
PAUSE = 1.5  # between an answer and the next request; --metrics-min-age is 1 s
GZIP = {"Accept-Encoding": "gzip"}
MODES = {
    "silent": "they accept and never reply (polls time out)",
    "refused": "their ports are closed (connections refused)",
}
DEFAULT_MODE = "silent"
_POLLS = re.compile(rb'^redis_exporter_scrapes_total\{instance="([^"]+)"\} (\S+)$', re.M)
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Plan:
    nodes: int  # replicas; the master is one more dead node
    requests: int
    idle_seconds: float


FULL = Plan(nodes=5000, requests=20, idle_seconds=10.0)
QUICK = Plan(nodes=1000, requests=10, idle_seconds=5.0)


def polls_by_node(exporter: Exporter) -> dict[str, float]:
    """Each node's polls so far, from /metrics (not on any clock)."""
    body = http_get(f"{exporter.url}/metrics", GZIP, timeout=120)
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return {m[1].decode(): float(m[2]) for m in _POLLS.finditer(body)}


def _all_polled(exporter: Exporter, dead: Collection[str]) -> bool:
    polls = polls_by_node(exporter)
    return all(polls.get(node, 0) >= 1 for node in dead)


def run(
    workdir: Path, code: Path, password: str, plan: Plan, mode: str, progress: Progress
) -> dict[str, Any]:
    # Each dead node costs the fake its port and, silent, the connection it accepted; and
    # costs the exporter a connection. Children inherit the limit.
    limit = raise_nofile(0)
    if limit < 2 * plan.nodes + 256:
        raise RuntimeError(
            f"{plan.nodes} dead nodes need about {2 * plan.nodes + 256} open "
            f"files per process; `ulimit -n` allows {limit}"
        )
    workdir.mkdir()
    with ExitStack() as stack:
        fake = stack.enter_context(FakeSentinel(plan.nodes, mode, workdir))
        launched = time.monotonic()
        args = ["--sentinel-addr", fake.address, "--poll-interval", f"{INTERVAL:g}"]
        # Every dead node is polled: the cap on discovered nodes is raised above them.
        args += ["--max-nodes", str(plan.nodes + 10)]
        log = workdir / "exporter.log"
        exporter = start_ours([*args, "--poll-timeout", f"{TIMEOUT:g}"], password, log, code)
        stack.callback(stop, exporter.proc)
        health = functools.partial(lambda url: http_status(f"{url}/health") == 200, exporter.url)
        wait_until("our exporter", health, 60, exporter.proc)
        check = functools.partial(_all_polled, exporter, fake.dead)
        what = f"our exporter to poll all {len(fake.dead)} dead nodes"
        wait_until(what, check, 120 + plan.nodes / 20, exporter.proc)
        polled_after = time.monotonic() - launched
        progress(
            f"  every dead node polled after {polled_after:.1f} s; {plan.idle_seconds:g} s "
            f"without scrapes, then {plan.requests} sequential gzip /metrics"
        )
        polls_before, t_before = polls_by_node(exporter), time.monotonic()
        pids = (exporter.pid, fake.proc.pid)
        c0, t0 = [cpu_seconds(p) for p in pids], time.monotonic()
        time.sleep(plan.idle_seconds)
        c1, t1 = [cpu_seconds(p) for p in pids], time.monotonic()
        spec = {
            "mode": "burst",
            "host": HOST,
            "port": exporter.port,
            "paths": ["/metrics"],
            "headers": GZIP,
            "concurrency": 1,
            "max_requests": plan.requests,
            "pause": PAUSE,
            "duration": plan.requests * 300,  # max_requests ends it
            "cpu_pid": exporter.pid,
        }
        load = run_load(spec)
        c2, t2 = [cpu_seconds(p) for p in pids], time.monotonic()
        rss_kib = status_kib(exporter.pid, "VmRSS")
        polls_after, t_after = polls_by_node(exporter), time.monotonic()
        stop(exporter.proc)
        stats = fake.stop()
    dead = set(fake.dead)
    polls = sum(v for k, v in polls_after.items() if k in dead)
    polls -= sum(v for k, v in polls_before.items() if k in dead)
    latencies = load.pop("latencies")
    window = load["t_end"] - load["t_start"]
    return {
        "mode": mode,
        "nodes": len(fake.dead),  # the master and its replicas
        "plan": {"requests": plan.requests, "idle_seconds": plan.idle_seconds, "pause": PAUSE},
        "interval": INTERVAL,
        "poll_timeout": TIMEOUT,
        "all_polled_after_seconds": polled_after,
        "idle_cpu_percent": (c1[0] - c0[0]) / (t1 - t0) * 100,
        "cpu_percent": (load["cpu_end"] - load["cpu_start"]) / window * 100,
        "window_seconds": window,
        "fake_sentinel_cpu_percent": (c2[1] - c0[1]) / (t2 - t0) * 100,
        "node_polls_per_second": polls / (t_after - t_before),
        "rss_mib_end": rss_kib / 1024,
        "latency_ms_p50": _ms(latencies, 50),
        "latency_ms_p99": _ms(latencies, 99),
        "latency_ms_max": _ms(latencies, 100),
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
        "statuses": load["statuses"],
        "errors": load["errors"],
        "body": load["body"],
        "fake_sentinel": stats,
    }


def _ms(values: list[float], q: float) -> float | None:
    p = percentile(values, q)
    return None if p is None else p * 1000


def rows(result: dict[str, Any], quick: bool) -> list[Row]:
    replicas, mode = result["nodes"] - 1, result["mode"]
    quick_note = (
        f"; --quick, a full run has {FULL.nodes:,}" if quick and replicas < FULL.nodes else ""
    )
    scenario = f"Sentinel naming {replicas:,} dead replicas + master ({mode}{quick_note})"
    k = result["plan"]["requests"]
    figures = [
        (f"/metrics gzip latency p50, ms ({k} sequential)", "latency_ms_p50"),
        (f"/metrics gzip latency p99, ms ({k} sequential)", "latency_ms_p99"),
        (f"CPU, % of one core (over the {k} requests, idle included)", "cpu_percent"),
        (
            f"CPU, % of one core (no scrapes, {result['plan']['idle_seconds']:g} s)",
            "idle_cpu_percent",
        ),
        ("node polls per second", "node_polls_per_second"),
        ("RSS at end, MiB", "rss_mib_end"),
    ]
    theirs = "no Sentinel discovery"
    out = [Row(scenario, figure, result[key], None, theirs_note=theirs) for figure, key in figures]
    size = result["body"].get("bytes")
    body = None if size is None else size / 1024
    return [*out, Row(scenario, "/metrics gzip body, KiB", body, None, theirs_note=theirs)]


def notes(result: dict[str, Any]) -> list[str]:
    out = [
        f"Dead nodes: a fake Sentinel (bench/fakesentinel.py) names one master and "
        f"{result['nodes'] - 1:,} replicas on loopback ports where {MODES[result['mode']]}; ours "
        f"discovers them with --sentinel-addr and polls them every {INTERVAL:g} s with a "
        f"{TIMEOUT:g} s timeout. Measured once every node has been polled at least once: CPU "
        "(utime+stime from /proc, idle time included) over a spell without scrapes, then over "
        f"{result['plan']['requests']} sequential `Accept-Encoding: gzip` requests of /metrics, "
        f"each {PAUSE:g} s after the previous answer; node polls per second from "
        "redis_exporter_scrapes_total. `--dead-mode refused` is the variant with closed ports.",
    ]
    unknown = result["fake_sentinel"].get("unknown")
    if unknown:
        out.append(f"The fake Sentinel was asked commands it does not know: {unknown}")
    if set(result["statuses"]) != {"200"}:
        out.append(f"Dead nodes: /metrics answered {result['statuses']} {result['errors']}")
    return out
