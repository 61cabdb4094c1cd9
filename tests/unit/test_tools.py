"""tools/: the demo's marker, keyed by its listen port, and `make failover` finding it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from redis_ha_exporter.config import OPTIONS
from tools import demo, failover, settings_table


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_two_demos_on_two_ports_keep_two_markers(tmp_path: Path) -> None:
    first, second = demo.write_marker(9121, [1, 2, 3]), demo.write_marker(9200, [4, 5, 6])
    assert (first, second) == (tmp_path / "redis-ha-demo-9121.json", demo.marker_path(9200))
    assert demo.read_marker(9121) == demo.Marker(os.getpid(), [1, 2, 3])
    assert demo.read_marker(9200) == demo.Marker(os.getpid(), [4, 5, 6])
    demo.remove_marker(9121)
    assert demo.read_marker(9121) is None
    assert demo.read_marker(9200) is not None


@pytest.mark.parametrize(
    "content",
    ["", "not json", json.dumps({"pid": "x", "sentinels": []}), json.dumps({"sentinels": [1]})],
)
def test_a_broken_marker_means_no_demo(content: str) -> None:
    demo.marker_path(9121).write_text(content)
    assert demo.read_marker(9121) is None


def test_a_marker_left_by_a_dead_demo_means_no_demo_and_is_not_removed_by_others() -> None:
    path = demo.marker_path(9121)
    path.write_text(json.dumps({"pid": _dead_pid(), "sentinels": [1]}))
    assert demo.read_marker(9121) is None
    demo.remove_marker(9121)
    assert path.exists()
    demo.write_marker(9121, [7])  # a new demo on that port replaces it
    assert demo.read_marker(9121) == demo.Marker(os.getpid(), [7])


def test_failover_without_a_demo_on_that_port_says_so_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert failover.main(["--port", "9200"]) == 1
    err = capsys.readouterr().err
    assert "no demo of yours is listening on port 9200" in err
    assert "start one with: make demo" in err
    demo.write_marker(9121, [1])
    demo.marker_path(9300).write_text(json.dumps({"pid": _dead_pid(), "sentinels": [1]}))
    assert demo.live_demos() == [9121]
    assert failover.main(["--port", "9200"]) == 1
    assert "your demos: make failover PORT=9121" in capsys.readouterr().err


def test_failover_when_no_sentinel_of_the_demo_answers_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    demo.write_marker(9121, [closed])
    assert failover.main([]) == 1
    assert "no Sentinel of the demo answered" in capsys.readouterr().err


def test_demo_rejects_invalid_flags_before_starting_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert demo.main(["--poll-interval", "1", "--poll-timeout", "1"]) == 2
    assert capsys.readouterr().err.startswith("config error: --poll-timeout")


def test_demo_on_a_taken_port_says_so_before_starting_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert demo.main(["--listen-address", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in err
    assert "--listen-address 127.0.0.1:9200" in err


def test_settings_table_has_one_row_per_flag() -> None:
    rows = settings_table.render().splitlines()[2:]
    assert len(rows) == sum(o.flag is not None for o in OPTIONS.values())
