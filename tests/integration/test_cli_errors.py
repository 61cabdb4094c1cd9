"""Invalid configuration: exit code 2 and one clear line per problem, naming the flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "check-config", *args],
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
            "--redis-password-file (REDIS_PASSWORD_FILE): cannot read password file "
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
