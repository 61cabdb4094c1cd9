"""`make bench`: our exporter beside redis_exporter (Debian's prometheus-redis-exporter, when
installed): CPU per poll, RSS and Redis cost per poll for one node; CPU, memory, poll lateness
and HTTP latency at 10, 100 and 1,000 replayed nodes; and, ours only, /metrics latency and CPU
with 5,000 Sentinel-discovered nodes that never answer. Prints a Markdown table, writes JSON;
never part of pass/fail.

    .venv/bin/python -m bench.suite [--quick] [--json bench/results.json] [--scales 10,100]
        [--scenarios single,scale,dead] [--dead-nodes 5000] [--dead-mode silent|refused]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import dataset, dead, scale, scaletable, single
from bench.capture import record
from bench.processes import freeze_exporter, machine, theirs_binary
from bench.replay import raise_nofile
from bench.report import Row, header, markdown, rows_json
from tests.topology import Flavor, available_flavors, start_standalone

PASSWORD = "bench-Pw-2718"
SCENARIOS = ("single", "scale", "dead")


def _progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="short windows, 10 and 100 nodes, 1,000 dead ones"
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--scales", help="comma-separated node counts (default 10,100,1000)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--dead-nodes",
        type=int,
        help=f"dead replicas for `dead` (default {dead.FULL.nodes}; --quick {dead.QUICK.nodes})",
    )
    parser.add_argument(
        "--dead-mode",
        choices=sorted(dead.MODES),
        default=dead.DEFAULT_MODE,
        help="dead nodes that accept and never reply (silent) or refuse connections",
    )
    parser.add_argument(
        "--ours-only", action="store_true", help="leave redis_exporter out even when installed"
    )
    args = parser.parse_args()
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; one of {SCENARIOS}")
    return args


def main() -> int:
    args = _parse()
    started = time.monotonic()
    scales = [int(n) for n in args.scales.split(",")] if args.scales else None
    scales = scales or ([10, 100] if args.quick else [10, 100, 1000])
    scenarios = set(args.scenarios.split(","))
    # Children inherit it: our exporter holds one connection per node.
    nofile = raise_nofile(0)
    flavors = available_flavors()
    if not flavors:
        _progress("no redis-server or valkey-server found: run `make test-servers` first")
        return 1
    flavor: Flavor = "redis" if "redis" in flavors else flavors[0]
    with_theirs = theirs_binary() is not None and not args.ours_only
    info = machine()
    _progress(f"{header(info)}; open files limit {nofile}")
    if theirs_binary() is None:
        _progress("prometheus-redis-exporter is not installed: measuring our exporter only")
    results: dict[str, Any] = {
        "machine": info,
        "command": shlex.join(["python", "-m", "bench.suite", *sys.argv[1:]]),
        "quick": args.quick,
        "open_files_limit": nofile,
    }
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="redis-ha-bench-") as tmp:
        workdir = Path(tmp)
        code = workdir / "code"
        results["exporter"] = freeze_exporter(code)
        _progress(f"measuring the exporter as of {results['exporter']['commit']}")
        if "single" in scenarios:
            one = single.QUICK if args.quick else single.FULL
            _progress(f"1 node, side by side: {one.subwindows} x {one.subwindow_seconds:g} s")
            try:
                results["single"] = single.run(workdir, code, flavor, PASSWORD, one, with_theirs)
                rows += single.rows(results["single"], one)
                notes += single.notes(one)
            except Exception as exc:  # a benchmark reports what it could measure
                notes.append(_failed("the 1-node scenario", exc))
        if "scale" in scenarios:
            many = scale.QUICK if args.quick else scale.FULL
            try:
                capture = _capture(workdir, code, flavor, with_theirs)
                results["capture"] = json.loads(capture.read_text())["meta"]
            except Exception as exc:
                notes.append(_failed("capturing replies for the replay server", exc))
                scales = []
            for nodes in scales:
                _progress(f"{nodes} nodes")
                result = scale.run(
                    workdir, code, capture, PASSWORD, nodes, many, with_theirs, _progress
                )
                results.setdefault("scale", {})[str(nodes)] = result
                rows += scaletable.rows(nodes, result)
                notes += result.get("notes", [])
            if scales:
                notes += scaletable.NOTES
        if "dead" in scenarios:
            plan = dead.QUICK if args.quick else dead.FULL
            if args.dead_nodes:
                plan = dataclasses.replace(plan, nodes=args.dead_nodes)
            _progress(f"{plan.nodes} dead replicas behind a Sentinel ({args.dead_mode})")
            try:
                result = dead.run(workdir / "dead", code, PASSWORD, plan, args.dead_mode, _progress)
                results["dead"] = result
                rows += dead.rows(result, args.quick)
                notes += dead.notes(result)
            except Exception as exc:
                notes.append(_failed("the dead-nodes scenario", exc))
    elapsed = time.monotonic() - started
    results["duration_seconds"] = elapsed
    results["rows"] = rows_json(rows)
    notes = list(dict.fromkeys(notes))
    results["notes"] = notes
    table = markdown(info, rows, notes)
    results["table"] = table
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(table)
    _progress(f"done in {elapsed / 60:.1f} min; JSON with raw samples in {args.json}")
    return 0 if rows else 1


def _failed(what: str, exc: BaseException) -> str:
    traceback.print_exception(exc, file=sys.stderr)
    return f"{what} failed: {type(exc).__name__}: {exc}"


def _capture(workdir: Path, code: Path, flavor: Flavor, with_theirs: bool) -> Path:
    """Replies of a real server with the data set to what both exporters send."""
    _progress("capturing replies for the replay server")
    server = start_standalone(flavor, workdir / "capture", password=PASSWORD)
    try:
        dataset.load(server.port, PASSWORD)
        return record(server.port, PASSWORD, workdir, with_theirs, code)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
