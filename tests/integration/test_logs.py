"""The exporter's log against a real server: one line per change of state, never one per poll,
and JSON lines with the keys the README documents."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FLAVORS, ExporterProcess, wait_until
from tests.topology import start_standalone

KEYS = {"ts", "level", "msg", "logger"}


def _lines(exporter: ExporterProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in exporter.logs().splitlines() if line.startswith("{")]


def _events(exporter: ExporterProcess, instance: str) -> list[str]:
    return [line["event"] for line in _lines(exporter) if line.get("instance") == instance]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_node_going_down_and_up_is_two_lines_whatever_the_number_of_polls(
    flavor: Any, run_exporter: Callable[..., ExporterProcess], tmp_path: Path
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        exporter = run_exporter(
            "--redis-addr",
            server.address,
            "--poll-interval",
            "0.5",
            "--poll-timeout",
            "0.3",
            "--log-format",
            "json",
        )
        exporter.wait_up(server.address)
        server.pause()
        wait_until(lambda: "node_down" in _events(exporter, server.address), 10, what="down")
        time.sleep(2.5)  # five more failed polls
        server.resume()
        wait_until(lambda: "node_up" in _events(exporter, server.address), 10, what="up")
        time.sleep(1.5)
    finally:
        server.stop()
    assert _events(exporter, server.address) == ["node_down", "node_up"]
    lines = _lines(exporter)
    assert lines and all(set(line) >= KEYS for line in lines)
    down = next(line for line in lines if line.get("event") == "node_down")
    assert down["level"] == "warning" and down["instance"] in down["msg"]
    assert down["ts"].endswith("Z") and "T" in down["ts"]
