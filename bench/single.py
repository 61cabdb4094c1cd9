"""One node, side by side: each exporter's CPU per poll at a 2 s and a 10 s interval (idle
time included), its RSS over the same window, and what each poll costs its Redis, all four
exporters running at once, each against its own real redis-server loaded with the same data.

Ours polls on its own schedule and gets one gzip scrape of /metrics per interval, as from
Prometheus; redis_exporter polls when scraped, once per interval, with the same request.
"""

from __future__ import annotations

import functools
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import dataset
from bench.processes import (
    HOST,
    Exporter,
    finish_load,
    http_get,
    http_status,
    sleep_until,
    start_load,
    start_ours,
    start_theirs,
    stop,
    wait_until,
)
from bench.procstat import CLOCK_TICKS, RssSampler, cpu_seconds
from bench.redisstats import CommandStats, Window
from bench.report import Row, median, percentile
from tests.topology import Flavor, ServerProcess, start_standalone

GZIP = {"Accept-Encoding": "gzip"}
RSS_PERIOD = 1.0  # seconds between two samples of each exporter's VmRSS


@dataclass(frozen=True, slots=True)
class Plan:
    intervals: tuple[float, ...]
    subwindows: int
    subwindow_seconds: float


FULL = Plan(intervals=(2.0, 10.0), subwindows=4, subwindow_seconds=60.0)
QUICK = Plan(intervals=(2.0, 10.0), subwindows=2, subwindow_seconds=20.0)


def notes(plan: Plan) -> list[str]:
    tick_ms = 1000 / CLOCK_TICKS
    slowest = max(plan.intervals)
    polls = plan.subwindow_seconds / slowest
    return [
        "1 node: all the exporters run at once, each against its own redis-server (about "
        "5,000 keys of mixed types, a full slowlog, a password). Each gets one "
        "`Accept-Encoding: gzip` scrape of /metrics per interval, mid-interval. CPU is "
        "utime+stime from /proc/<pid>/stat over whole sub-windows (idle time included) divided "
        f"by the polls in them; /proc counts in {tick_ms:g} ms ticks, so a sub-window's figure "
        f"is good to {tick_ms:g} ms / its polls ({tick_ms / polls:.1f} ms at {slowest:g} s in "
        f"{plan.subwindow_seconds:g} s); the whole-window mean is in the JSON.",
        "Redis figures are exact: at each sub-window boundary the bench sends MULTI / INFO stats "
        "commandstats / CONFIG RESETSTAT / EXEC on a connection opened beforehand, so each INFO "
        "covers one sub-window; the only probe commands counted in it are the previous reset "
        "(config|resetstat), the previous EXEC and this MULTI, one call each, left out by name "
        "(bench/redisstats.py). Command time is commandstats `usec` (execution only, not I/O).",
        f"1 node RSS: each exporter's VmRSS from /proc/<pid>/status every {RSS_PERIOD:g} s from "
        "the window's start (after the warm-up) to its end, under the same scrapes as the CPU "
        "rows; the median is shown, the samples and their maximum are in the JSON.",
    ]


@dataclass(slots=True)
class Side:
    name: str  # "ours" or "theirs"
    interval: float
    server: ServerProcess
    exporter: Exporter
    cpu: list[float] = field(default_factory=list)  # CPU seconds at each boundary
    windows: list[Window] = field(default_factory=list)
    rss: RssSampler | None = None  # from the window's start

    @property
    def job(self) -> str:
        return f"{self.name}-{self.interval:g}s"


def _start(
    name: str, server: ServerProcess, interval: float, password: str, log: Path, code: Path
) -> Exporter:
    if name == "ours":
        timeout = min(5.0, interval / 2)
        args = ["--redis-addr", server.address, "--poll-interval", f"{interval:g}"]
        return start_ours([*args, "--poll-timeout", f"{timeout:g}"], password, log, code)
    return start_theirs(f"redis://{server.address}", password, log)


def _ready(exporter: Exporter) -> bool:
    if exporter.name == "ours":
        return http_status(f"{exporter.url}/ready") == 200
    return b"redis_up 1" in http_get(f"{exporter.url}/metrics")


def run(
    workdir: Path, code: Path, flavor: Flavor, password: str, plan: Plan, with_theirs: bool
) -> dict[str, Any]:
    sides: list[Side] = []
    with ExitStack() as stack:
        for interval in plan.intervals:
            for name in ("ours", "theirs") if with_theirs else ("ours",):
                base = workdir / f"single-{name}-{interval:g}s"
                server = start_standalone(flavor, base, password=password)
                stack.callback(server.stop)
                dataset.load(server.port, password)
                log = base / "exporter.log"
                exporter = _start(name, server, interval, password, log, code)
                stack.callback(stop, exporter.proc)
                sides.append(Side(name, interval, server, exporter))
        launched = time.monotonic()
        for side in sides:
            check = functools.partial(_ready, side.exporter)
            wait_until(f"{side.job} ready", check, 60, side.exporter.proc)
        # Past the first poll (which identifies the node) and the second (onto its phase).
        start_at = max(launched + max(plan.intervals) + 2, time.monotonic() + 2)
        duration = plan.subwindows * plan.subwindow_seconds
        jobs = [
            {
                "name": s.job,
                "host": HOST,
                "port": s.exporter.port,
                "path": "/metrics",
                "headers": GZIP,
                "period": s.interval,
                "offset": s.interval / 2,  # scrapes mid-interval, away from the boundaries
            }
            for s in sides
        ]
        load = start_load(
            {"mode": "paced", "start_at": start_at, "duration": duration, "jobs": jobs}
        )
        probes = [CommandStats(s.server.port, password) for s in sides]
        for probe in probes:
            stack.callback(probe.close)
        for j in range(plan.subwindows + 1):
            sleep_until(start_at + j * plan.subwindow_seconds)
            for side in sides:
                side.cpu.append(cpu_seconds(side.exporter.pid))
                if j == 0:  # RSS over the window only, past the warm-up
                    side.rss = stack.enter_context(RssSampler(side.exporter.pid, RSS_PERIOD))
            for side, probe in zip(sides, probes, strict=True):
                window = probe.boundary()
                if j:
                    side.windows.append(window)
        for side in sides:
            assert side.rss is not None
            side.rss.stop()
        scrapes = finish_load(load)["requests"]
    return {
        "plan": {"intervals": plan.intervals, "subwindow_seconds": plan.subwindow_seconds},
        "sides": {s.job: _summary(s, plan, scrapes[s.job]) for s in sides},
    }


def _summary(side: Side, plan: Plan, scrapes: list[list[float]]) -> dict[str, Any]:
    assert side.rss is not None
    rss = [kib / 1024 for _, kib in side.rss.samples]
    polls = plan.subwindow_seconds / side.interval
    cpu = [(b - a) / polls for a, b in zip(side.cpu, side.cpu[1:], strict=False)]
    by_command: dict[str, list[float]] = {}
    for window in side.windows:
        for name, (calls, usec) in window.by_command.items():
            total = by_command.setdefault(name, [0.0, 0.0])
            total[0] += calls / polls / len(side.windows)
            total[1] += usec / polls / len(side.windows)
    ok = [r for r in scrapes if r[3] == 200]
    return {
        "polls_per_subwindow": polls,
        "cpu_ms_per_poll": [c * 1000 for c in cpu],
        "cpu_ms_per_poll_median": (median(cpu) or 0) * 1000,
        "cpu_ms_per_poll_mean": (side.cpu[-1] - side.cpu[0]) / polls / len(cpu) * 1000,
        "redis_usec_per_poll": [w.usec / polls for w in side.windows],
        "redis_calls_per_poll": [w.calls / polls for w in side.windows],
        "redis_connections_per_poll": [w.connections / polls for w in side.windows],
        "redis_per_command_per_poll": {
            k: {"calls": c, "usec": u} for k, (c, u) in by_command.items()
        },
        "probe_calls": [w.probe_calls for w in side.windows],
        "scrapes": len(scrapes),
        "scrape_errors": len(scrapes) - len(ok),
        "scrape_latency_ms_p50": (percentile([r[2] for r in ok], 50) or 0) * 1000,
        "scrape_body_bytes": median([r[4] for r in ok]),
        "rss_mib": [round(r, 2) for r in rss],
        "rss_mib_median": median(rss),
        "rss_mib_max": max(rss, default=None),
        "rss_kib_end": side.rss.end_kib,
    }


def _figure(side: dict[str, Any] | None, key: str) -> float | None:
    if side is None:
        return None
    value = side[key]
    return median(value) if isinstance(value, list) else float(value)


def rows(result: dict[str, Any], plan: Plan) -> list[Row]:
    out: list[Row] = []
    sides = result["sides"]
    n, seconds = plan.subwindows, plan.subwindow_seconds
    figures = [
        (f"exporter CPU per poll, ms (median of {n} x {seconds:g} s)", "cpu_ms_per_poll"),
        (f"exporter CPU per poll, ms (mean over {n * seconds:g} s)", "cpu_ms_per_poll_mean"),
        ("Redis command time per poll, µs", "redis_usec_per_poll"),
        ("Redis commands per poll", "redis_calls_per_poll"),
        ("Redis connections per poll", "redis_connections_per_poll"),
        ("/metrics scrape latency p50, ms", "scrape_latency_ms_p50"),
        (f"RSS, MiB (median of samples every {RSS_PERIOD:g} s over {n * seconds:g} s)", "rss_mib"),
    ]
    for interval in plan.intervals:
        ours, theirs = sides[f"ours-{interval:g}s"], sides.get(f"theirs-{interval:g}s")
        scenario = f"1 node, {interval:g} s interval"
        for figure, key in figures:
            out.append(
                Row(
                    scenario,
                    figure,
                    _figure(ours, key),
                    _figure(theirs, key),
                    theirs_note="not run",
                )
            )
    return out
