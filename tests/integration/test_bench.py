"""`make bench` runs: short passes of its scenarios (10 replayed nodes; one node with its RSS
row; 200 dead nodes behind a fake Sentinel) produce every figure of the table. The figures
themselves are never pass/fail: each is only checked to be there, positive and finite."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.processes import theirs_binary

ROOT = Path(__file__).resolve().parents[2]


def _suite(tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench.suite", "--quick", *args, "--json", str(out)]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    results: dict[str, Any] = json.loads(out.read_text())
    return result.stdout, results


def _measured(value: object) -> bool:
    return isinstance(value, int | float) and value > 0 and math.isfinite(value)


def test_the_bench_suite_measures_ten_replayed_nodes(tmp_path: Path) -> None:
    stdout, results = _suite(tmp_path, "--scales", "10", "--scenarios", "scale", "--ours-only")
    assert "| 10 nodes, 10 s interval | CPU, % of one core" in stdout
    ours = results["scale"]["10"]["ours"]
    assert ours["scrape_endpoint_status"] == 200
    assert ours["node_polls_per_second"] > 0.5
    assert ours["cpu_ms_per_node_poll"] > 0
    assert 0 < ours["rss_mib_max"] < 1024
    for burst in ours["bursts"].values():
        assert not burst["errors"] and set(burst["statuses"]) == {"200"}, burst["statuses"]


def test_the_single_node_scenario_reports_each_exporters_rss(tmp_path: Path) -> None:
    stdout, results = _suite(tmp_path, "--scenarios", "single")
    with_theirs = theirs_binary() is not None
    rss = [r for r in results["rows"] if r["figure"].startswith("RSS, MiB")]
    assert [r["scenario"] for r in rss] == ["1 node, 2 s interval", "1 node, 10 s interval"]
    for row in rss:
        assert f"| {row['scenario']} | {row['figure']} |" in stdout
        assert _measured(row["ours"]), row
        if with_theirs:
            assert _measured(row["theirs"]) and _measured(row["ratio"]), row
    for side in results["single"]["sides"].values():
        assert len(side["rss_mib"]) >= 10  # sampled over the window, not once
        assert _measured(side["rss_mib_median"])


def test_the_dead_nodes_scenario_measures_metrics_behind_a_sentinel(tmp_path: Path) -> None:
    args = ["--scenarios", "dead", "--dead-nodes", "200", "--ours-only"]
    stdout, results = _suite(tmp_path, *args)
    scenario = "Sentinel naming 200 dead replicas + master (silent; --quick"
    rows = [r for r in results["rows"] if r["scenario"].startswith(scenario)]
    figures = {r["figure"].split(" (")[0] for r in rows}
    assert {"/metrics gzip latency p50, ms", "/metrics gzip latency p99, ms"} <= figures
    assert {"CPU, % of one core", "node polls per second", "RSS at end, MiB"} <= figures
    for row in rows:
        assert f"| {row['scenario']} | {row['figure']} |" in stdout
        assert _measured(row["ours"]), row
        assert row["theirs"] is None
    dead = results["dead"]
    assert dead["nodes"] == 201
    assert dead["statuses"] == {"200": dead["plan"]["requests"]}, dead["errors"]
    assert len(dead["latencies_ms"]) == dead["plan"]["requests"]
    # The fake Sentinel answered everything the exporter asked it.
    assert dead["fake_sentinel"]["unknown"] == {}
    assert dead["fake_sentinel"]["commands"]["SENTINEL REPLICAS"] >= 1
    assert dead["fake_sentinel"]["dead_connections"] >= 201


def test_the_walks_bench_measures_every_case_on_a_master_and_its_replica() -> None:
    command = [sys.executable, "-m", "bench.walks", "--runs", "1", "--keys", "1000"]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # keys, seconds, round trips, commands, Redis seconds (the case names hold no digits)
    rows = [re.findall(r"\d+(?:\.\d+)?", line) for line in result.stdout.splitlines()]
    rows = [row for row in rows if row and row[0] == "1000"]
    assert len(rows) == 8  # 2 nodes x 4 cases
    for _keys, seconds, trips, commands, _redis in rows:
        assert float(seconds) > 0 and int(trips) >= 2 and int(commands) >= 1000
