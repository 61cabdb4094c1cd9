"""The command line's exit codes and messages: 2 and one clear line per configuration problem,
naming the flag; 1 and one line naming the address when the port to listen on is taken."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FLAVORS, ROOT
from tests.topology import Topology


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redis_ha_exporter", "check-config", *args],
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--redis-addr", "http://:hunter2@db:6379"],
            {},
            "--redis-addr (REDIS_ADDR, REDIS_URL): unknown scheme 'http'",
        ),
        (["--redis-addr", "db:99999"], {}, "--redis-addr (REDIS_ADDR, REDIS_URL): bad port"),
        ([], {"REDIS_ADDR": "db:notaport"}, "--redis-addr (REDIS_ADDR, REDIS_URL): bad port"),
        (
            ["--poll-interval", "5", "--poll-timeout", "5"],
            {},
            "--poll-timeout (REDIS_EXPORTER_POLL_TIMEOUT): 5s must be less than --poll-interval",
        ),
        (
            ["--redis-password-file", "/nonexistent/pw"],
            {},
            "--redis-password-file (REDIS_EXPORTER_REDIS_PASSWORD_FILE): cannot read password file "
            "'/nonexistent/pw'",
        ),
        (
            ["--poll-interval", "soon"],
            {},
            "--poll-interval (REDIS_EXPORTER_POLL_INTERVAL): Input should be a valid number",
        ),
        (["--log-format", "xml"], {}, "--log-format (REDIS_EXPORTER_LOG_FORMAT):"),
        (
            ["--listen-address", "9121"],
            {},
            "--listen-address (REDIS_EXPORTER_WEB_LISTEN_ADDRESS, REDIS_EXPORTER_LISTEN_ADDRESS):",
        ),
    ],
)
def test_invalid_setting_exits_2_with_a_line_naming_the_flag(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    result = _run(*args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: ")
    assert expected in lines[0]
    assert "hunter2" not in result.stderr + result.stdout


def test_several_problems_give_one_line_each(tmp_path: Path) -> None:
    result = _run(
        "--redis-addr",
        "ftp://x:1",
        "--poll-interval",
        "1",
        "--poll-timeout",
        "2",
        "--redis-password-file",
        str(tmp_path / "missing"),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert any("--redis-addr" in line for line in lines)
    assert any("--poll-timeout" in line for line in lines)
    assert any("--redis-password-file" in line for line in lines)


def test_yaml_file_problems_name_the_file_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("poll_intervall: 3\ntargets:\n  - addr: redis://a:1\n    pasword: x\n")
    result = _run("--config-file", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert "config file key 'poll_intervall': unknown setting" in result.stderr
    assert "config file targets[0.pasword]: unknown setting" in result.stderr


def test_valid_configuration_is_printed_with_defaults() -> None:
    result = _run(env={"REDIS_ADDR": "redis://a:6379,b:6380"})
    assert result.returncode == 0, result.stderr
    assert '"redis://a:6379"' in result.stdout and '"redis://b:6380"' in result.stdout
    assert '"poll_interval": 10.0' in result.stdout


def test_sentinel_address_without_a_port_means_26379() -> None:
    result = _run("--sentinel-addr", "s.example", "--redis-addr", "d.example")
    assert result.returncode == 0, result.stderr
    assert '"redis://s.example:26379"' in result.stdout
    assert '"redis://d.example:6379"' in result.stdout


@pytest.mark.parametrize("flag", ["--redis-addr", "--sentinel-addr"])
def test_password_in_an_address_flag_warns_without_showing_it(flag: str) -> None:
    result = _run(flag, "redis://app:hunter2@db.example:6379")
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"warning: the password given with {flag} is visible to other users")
    assert "hunter2" not in result.stderr + result.stdout


def test_password_in_an_address_from_the_environment_does_not_warn() -> None:
    result = _run(env={"REDIS_ADDR": "redis://app:hunter2@db.example:6379"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.skipif(not FLAVORS, reason="no server binaries")
def test_taken_listen_port_exits_1_at_once_naming_the_address(tmp_path: Path) -> None:
    # A reachable Sentinel matters: the exporter used to start its pollers before binding,
    # then hang on `address already in use`, deaf to SIGTERM.
    topology = Topology(FLAVORS[0], tmp_path, password=None, replicas=0, sentinels=1, quorum=1)
    with topology, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "redis_ha_exporter",
                "--sentinel-addr",
                topology.sentinels[0].address,
                "--listen-address",
                f"127.0.0.1:{port}",
            ],
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
            check=False,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "listening on" not in result.stderr
    assert elapsed < 10, result.stderr
