"""Many nodes, replayed (bench/replay.py): CPU, memory, poll-start lateness and HTTP latency of
our exporter polling N static targets every 10 s under a Prometheus-like gzip scrape of
/metrics every 15 s; and of redis_exporter driven through `/scrape?target=` for every node at
the same rate (each node once per 10 s, spread out). One exporter at a time.
"""

from __future__ import annotations

import functools
import itertools
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.lateness import lateness, polls_between
from bench.processes import (
    HOST,
    Exporter,
    Replay,
    finish_load,
    http_status,
    run_load,
    sleep_until,
    start_load,
    start_ours,
    start_theirs,
    stop,
    wait_until,
)
from bench.procstat import RssSampler, cpu_seconds
from bench.report import percentile

INTERVAL = 10.0
GZIP = {"Accept-Encoding": "gzip"}
Progress = Callable[[str], None]
Measure = Callable[[Path, Path, Path, str, int, "Plan", Progress], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Plan:
    subwindows: int
    subwindow_seconds: float  # one Prometheus-like scrape in each
    burst_seconds: float
    idle_seconds: float

    @property
    def window(self) -> float:
        return self.subwindows * self.subwindow_seconds


FULL = Plan(subwindows=4, subwindow_seconds=15.0, burst_seconds=4.0, idle_seconds=3.0)
QUICK = Plan(subwindows=2, subwindow_seconds=15.0, burst_seconds=2.0, idle_seconds=2.0)


def _cpu_window(pids: Sequence[int], start_at: float, plan: Plan) -> list[list[float]]:
    """CPU seconds of each process at every sub-window boundary."""
    samples: list[list[float]] = [[] for _ in pids]
    for j in range(plan.subwindows + 1):
        sleep_until(start_at + j * plan.subwindow_seconds)
        for series, pid in zip(samples, pids, strict=True):
            series.append(cpu_seconds(pid))
    return samples


def _percent(series: list[float], plan: Plan) -> list[float]:
    return [(b - a) / plan.subwindow_seconds * 100 for a, b in itertools.pairwise(series)]


def _ms(values: list[float], q: float) -> float | None:
    p = percentile(values, q)
    return None if p is None else p * 1000


def burst(exporter: Exporter, paths: list[str], concurrency: int, plan: Plan) -> dict[str, Any]:
    """Latency of a closed-loop burst, and CPU per request: the exporter's CPU over the burst
    less its rate over an idle spell just before, divided by the requests."""
    c0, t0 = cpu_seconds(exporter.pid), time.monotonic()
    time.sleep(plan.idle_seconds)
    idle_rate = (cpu_seconds(exporter.pid) - c0) / (time.monotonic() - t0)
    spec = {
        "mode": "burst",
        "host": HOST,
        "port": exporter.port,
        "paths": paths,
        "headers": GZIP,
        "concurrency": concurrency,
        "duration": plan.burst_seconds,
        "cpu_pid": exporter.pid,
    }
    res = run_load(spec)
    requests = sum(res["statuses"].values())
    elapsed = res["t_end"] - res["t_start"]
    busy = res["cpu_end"] - res["cpu_start"] - idle_rate * elapsed
    latencies = res.pop("latencies")
    return {
        **res,
        "concurrency": concurrency,
        "requests": requests,
        "requests_per_second": requests / elapsed if elapsed else None,
        "idle_cpu_percent": idle_rate * 100,
        "cpu_ms_per_request": busy / requests * 1000 if requests else None,
        "latency_ms_p50": _ms(latencies, 50),
        "latency_ms_p99": _ms(latencies, 99),
        "latency_ms_max": _ms(latencies, 100),
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
    }


def _summary(
    cpu: list[list[float]], plan: Plan, start_at: float, stats: dict[str, Any], rss: RssSampler
) -> dict[str, Any]:
    polls = polls_between(stats["arrivals"], start_at, start_at + plan.window)
    busy = cpu[0][-1] - cpu[0][0]
    return {
        "cpu_percent": _percent(cpu[0], plan),
        "replay_cpu_percent": _percent(cpu[1], plan),
        "node_polls_in_window": polls,
        "node_polls_per_second": polls / plan.window,
        "cpu_ms_per_node_poll": busy / polls * 1000 if polls else None,
        "rss_mib_max": rss.max_kib / 1024,
        "rss_mib_end": rss.end_kib / 1024,
        "vm_hwm_mib": rss.hwm_kib / 1024,
        "replay": {k: v for k, v in stats.items() if k != "arrivals"},
    }


def run_ours(
    workdir: Path,
    code: Path,
    capture: Path,
    password: str,
    nodes: int,
    plan: Plan,
    progress: Progress,
) -> dict[str, Any]:
    workdir.mkdir()
    with ExitStack() as stack:
        replay = stack.enter_context(Replay(capture, nodes, workdir))
        config = workdir / "exporter.yaml"
        targets = "".join(f'  - addr: "{HOST}:{port}"\n' for port in replay.ports)
        config.write_text(f"targets:\n{targets}")
        launched = time.monotonic()
        args = ["--config-file", str(config), "--poll-interval", f"{INTERVAL:g}"]
        log = workdir / "exporter.log"
        exporter = start_ours([*args, "--poll-timeout", "5"], password, log, code)
        stack.callback(stop, exporter.proc)
        rss = stack.enter_context(RssSampler(exporter.pid))
        ready = functools.partial(lambda url: http_status(f"{url}/ready") == 200, exporter.url)
        wait_until(f"our exporter ready with {nodes} nodes", ready, 60 + nodes / 10, exporter.proc)
        ready_after = time.monotonic() - launched
        # Every node's second poll, which moves it onto its phase, is then behind us.
        start_at = max(launched + 2 + INTERVAL, time.monotonic() + 1.5)
        prometheus = {
            "name": "prometheus",
            "host": HOST,
            "port": exporter.port,
            "path": "/metrics",
            "headers": GZIP,
            "period": plan.subwindow_seconds,
            "offset": plan.subwindow_seconds / 2,
        }
        spec = {"mode": "paced", "start_at": start_at, "duration": plan.window}
        load = start_load({**spec, "jobs": [prometheus]})
        progress(f"  ours: ready after {ready_after:.1f} s; CPU window of {plan.window:g} s")
        cpu = _cpu_window([exporter.pid, replay.proc.pid], start_at, plan)
        scrapes = finish_load(load)["requests"]["prometheus"]
        progress("  ours: /metrics and /scrape bursts")
        bursts = {f"metrics_c{c}": burst(exporter, ["/metrics"], c, plan) for c in (1, 16)}
        paths = [f"/scrape?target={HOST}:{port}" for port in replay.ports]
        scrape_status = http_status(f"{exporter.url}{paths[0]}")
        if scrape_status == 200:
            bursts |= {f"scrape_c{c}": burst(exporter, paths, c, plan) for c in (1, 16)}
        rss.stop()
        stop(exporter.proc)
        stats = replay.stop()
    out = _summary(cpu, plan, start_at, stats, rss)
    ok = [r[2] for r in scrapes if r[3] == 200]
    return {
        **out,
        "ready_after_seconds": ready_after,
        "lateness": lateness(stats["arrivals"], INTERVAL, start_at, start_at + plan.window),
        "prometheus_scrapes": scrapes,
        "prometheus_scrape_ms_max": _ms(ok, 100),
        "scrape_endpoint_status": scrape_status,
        "bursts": bursts,
    }


def run_theirs(
    workdir: Path,
    code: Path,
    capture: Path,
    password: str,
    nodes: int,
    plan: Plan,
    progress: Progress,
) -> dict[str, Any]:
    workdir.mkdir()
    with ExitStack() as stack:
        replay = stack.enter_context(Replay(capture, nodes, workdir))
        first = f"redis://{HOST}:{replay.ports[0]}"
        exporter = start_theirs(first, password, workdir / "exporter.log")
        stack.callback(stop, exporter.proc)
        rss = stack.enter_context(RssSampler(exporter.pid))
        up = functools.partial(lambda url: http_status(url) == 200, exporter.url)
        wait_until("redis_exporter", up, 30, exporter.proc)
        paths = [f"/scrape?target=redis://{HOST}:{port}" for port in replay.ports]
        jobs = [
            {
                "name": str(i),
                "host": HOST,
                "port": exporter.port,
                "path": path,
                "headers": GZIP,
                "period": INTERVAL,
                "offset": i * INTERVAL / nodes,
            }
            for i, path in enumerate(paths)
        ]
        # One interval of driving first, so every node has been scraped once before the window.
        start_at = time.monotonic() + 1.5 + INTERVAL
        spec = {
            "mode": "paced",
            "start_at": start_at - INTERVAL,
            "duration": INTERVAL + plan.window,
        }
        drive = start_load({**spec, "jobs": jobs})
        progress(f"  redis_exporter: /scrape of each node every {INTERVAL:g} s; CPU window")
        cpu = _cpu_window([exporter.pid, replay.proc.pid], start_at, plan)
        driven = finish_load(drive)
        progress("  redis_exporter: /scrape bursts")
        bursts = {f"scrape_c{c}": burst(exporter, paths, c, plan) for c in (1, 16)}
        rss.stop()
        stop(exporter.proc)
        stats = replay.stop()
    out = _summary(cpu, plan, start_at, stats, rss)
    return {**out, "drive": _drive(driven, start_at, plan, nodes), "bursts": bursts}


def _drive(driven: dict[str, Any], start_at: float, plan: Plan, nodes: int) -> dict[str, Any]:
    """How well the /scrape drive kept to its schedule inside the window."""
    rows = [r for rs in driven["requests"].values() for r in rs if r[0] >= start_at]
    ok = [r for r in rows if r[3] == 200]
    expected = nodes * plan.window / INTERVAL
    lag = [r[1] for r in rows]
    return {
        "expected_requests": expected,
        "requests": len(rows),
        "ok": len(ok),
        "ok_per_second": len(ok) / plan.window,
        "send_lag_ms_p99": _ms(lag, 99),
        "latency_ms_p50": _ms([r[2] for r in ok], 50),
        "latency_ms_p99": _ms([r[2] for r in ok], 99),
        "loadgen_cpu_seconds": driven["loadgen_cpu_seconds"],
        "kept_up": len(ok) >= 0.98 * expected and (percentile(lag, 99) or 0) < 1.0,
        "latencies_ms": [round(r[2] * 1000, 3) for r in ok],
    }


def run(
    workdir: Path,
    code: Path,
    capture: Path,
    password: str,
    nodes: int,
    plan: Plan,
    with_theirs: bool,
    progress: Progress,
) -> dict[str, Any]:
    """Both exporters at `nodes` nodes, one after the other; a side that fails is reported
    with its error instead of stopping the suite."""
    out: dict[str, Any] = {}
    sides: list[tuple[str, Measure]] = [("ours", run_ours)]
    if with_theirs:
        sides.append(("theirs", run_theirs))
    for name, measure in sides:
        try:
            where = workdir / f"scale-{nodes}-{name}"
            out[name] = measure(where, code, capture, password, nodes, plan, progress)
        except Exception as exc:  # a benchmark reports what it could measure
            traceback.print_exc()
            progress(f"  {name} failed at {nodes} nodes: {exc}")
            out[name] = {"error": str(exc)}
    notes = []
    ours, theirs = out.get("ours", {}), out.get("theirs", {})
    if "bursts" in ours and "scrape_c1" not in ours["bursts"]:
        notes.append(
            f"Our /scrape?target=host:port answered HTTP {ours['scrape_endpoint_status']}: "
            "its figures are unavailable in this run."
        )
    drive = theirs.get("drive")
    if drive is not None and not drive["kept_up"]:
        notes.append(
            f"At {nodes} nodes the /scrape drive of redis_exporter fell behind "
            f"({drive['ok']} of {drive['expected_requests']:.0f} scrapes answered in the window, "
            f"send lag p99 {drive['send_lag_ms_p99']:.0f} ms): this machine did not keep up "
            "with it, so its figures there understate the load."
        )
    for name in ("ours", "theirs"):
        if "error" in out.get(name, {}):
            notes.append(f"{name} at {nodes} nodes failed: {out[name]['error']}")
    out["notes"] = notes
    return out
