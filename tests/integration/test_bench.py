"""`make bench` runs: a short pass of its scale scenario (10 replayed nodes, our exporter only)
produces every figure of the table. The figures themselves are never pass/fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bench_suite_measures_ten_replayed_nodes(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench.suite", "--quick", "--scales", "10"]
    command += ["--scenarios", "scale", "--ours-only", "--json", str(out)]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "| 10 nodes, 10 s interval | CPU, % of one core" in result.stdout
    ours = json.loads(out.read_text())["scale"]["10"]["ours"]
    assert ours["scrape_endpoint_status"] == 200
    assert ours["node_polls_per_second"] > 0.5
    assert ours["cpu_ms_per_node_poll"] > 0
    assert 0 < ours["rss_mib_max"] < 1024
    for burst in ours["bursts"].values():
        assert not burst["errors"] and set(burst["statuses"]) == {"200"}, burst["statuses"]
