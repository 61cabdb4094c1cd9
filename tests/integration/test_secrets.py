"""A password given by environment or file appears nowhere the exporter writes or shows, and
a wrong one is reported as an authentication failure without the secret."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FLAVORS, ROOT, ExporterProcess, wait_until
from tests.promtext import parse_series, value
from tests.topology import Flavor, ServerProcess, free_port, start_sentinel, start_standalone

SECRET = "Zq-9xv!sEcReT-4411"


@pytest.fixture(params=FLAVORS)
def protected(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_standalone(request.param, tmp_path / "node", password=SECRET)
    yield server
    server.stop()


def _args(node: ServerProcess) -> list[str]:
    """Fast polls and debug logging: the most a secret could leak through."""
    return [
        "--redis-addr",
        node.address,
        "--poll-interval",
        "0.5",
        "--poll-timeout",
        "0.4",
        "--log-level",
        "debug",
    ]


def _everything_shown(exporter: Any) -> str:
    parts = [exporter.metrics(), exporter.get("/")[1].decode(), exporter.logs()]
    parts.append(Path(f"/proc/{exporter.proc.pid}/cmdline").read_bytes().decode(errors="replace"))
    return "\n".join(parts)


@pytest.mark.parametrize("via", ["env", "file"])
def test_password_never_appears_in_metrics_page_logs_or_argv(
    protected: ServerProcess, run_exporter: Any, tmp_path: Path, via: str
) -> None:
    args = _args(protected)
    env = {}
    if via == "env":
        env["REDIS_PASSWORD"] = SECRET
    else:
        secret_file = tmp_path / "pw"
        secret_file.write_text(SECRET + "\n")
        args += ["--redis-password-file", str(secret_file)]
    exporter = run_exporter(*args, env=env)
    exporter.wait_up(protected.address, 15)
    shown = _everything_shown(exporter)
    assert SECRET not in shown
    check = subprocess.run(
        [sys.executable, "-m", "redis_ha_exporter", "check-config", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert SECRET not in check.stdout + check.stderr
    assert "********" in check.stdout


def test_wrong_password_is_reported_as_authentication_failure(
    protected: ServerProcess, run_exporter: Any
) -> None:
    wrong = "not-the-" + SECRET
    exporter = run_exporter(
        *_args(protected),
        env={"REDIS_PASSWORD": wrong},
    )

    def failed() -> str | None:
        text = exporter.metrics()
        return text if value(text, "redis_up", instance=protected.address) == 0 else None

    text = wait_until(failed, 15, what="redis_up 0")
    errors = [
        s.labels["err"]
        for s in parse_series(text)
        if s.name == "redis_exporter_last_scrape_error" and s.value == 1
    ]
    assert len(errors) == 1 and "authentication failed" in errors[0]
    shown = _everything_shown(exporter)
    assert wrong not in shown and SECRET not in shown
    assert "authentication failed" in exporter.logs()


def test_password_in_the_url_is_masked_everywhere(
    protected: ServerProcess, run_exporter: Any
) -> None:
    url = f"redis://:{SECRET}@{protected.address}"
    exporter = run_exporter(
        "--poll-interval",
        "0.5",
        "--poll-timeout",
        "0.4",
        "--log-level",
        "debug",
        env={"REDIS_ADDR": url},
    )
    exporter.wait_up(protected.address, 15)
    assert SECRET not in _everything_shown(exporter)


def test_a_password_that_is_a_common_word_does_not_mask_our_own_words(
    run_exporter: Any,
) -> None:
    # Masking the word wherever it shows would tell anyone reading /metrics the password.
    closed = free_port()
    exporter = run_exporter(
        "--redis-addr",
        f"127.0.0.1:{closed}",
        "--poll-interval",
        "0.5",
        "--poll-timeout",
        "0.4",
        env={"REDIS_PASSWORD": "refused"},
    )

    def error() -> str | None:
        for s in parse_series(exporter.metrics()):
            if s.name == "redis_exporter_last_scrape_error" and s.value == 1:
                return s.labels["err"]
        return None

    assert wait_until(error, 15, what="a failed poll") == "connection failed: Connection refused"
    assert f"node 127.0.0.1:{closed} is down: connection failed: Connection refused" in (
        exporter.logs()
    )
    assert "********" not in exporter.metrics() + exporter.logs()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_each_authentication_failure_gets_its_own_line_naming_the_setting(
    flavor: Flavor, run_exporter: Any, tmp_path: Path
) -> None:
    """No password for a server that wants one, a password for one that has none, a wrong
    one, and a Sentinel that wants --sentinel-password: four lines, none alike, no secret."""
    protected = start_standalone(flavor, tmp_path / "protected", password=SECRET)
    open_server = start_standalone(flavor, tmp_path / "open")
    sentinel = start_sentinel(flavor, tmp_path / "sentinel", [], password=SECRET)
    try:
        wrong = run_exporter("--redis-addr", protected.address, env={"REDIS_PASSWORD": "nope-9"})
        missing = run_exporter("--redis-addr", protected.address)
        extra = run_exporter("--redis-addr", open_server.address, env={"REDIS_PASSWORD": SECRET})
        no_sentinel_pw = run_exporter("--sentinel-addr", sentinel.address)
        cases = {
            wrong: (protected, "the server refused the password: check --redis-password"),
            missing: (
                protected,
                "the server requires a password and none is configured: --redis-password",
            ),
            extra: (open_server, "a password is configured but the server has none"),
            no_sentinel_pw: (
                sentinel,
                "the Sentinel requires a password and none is configured: --sentinel-password",
            ),
        }
        for exporter, (server, words) in cases.items():

            def auth_line(e: ExporterProcess = exporter) -> str | None:
                lines = e.logs().splitlines()
                return next((ln for ln in lines if "is down: authentication" in ln), None)

            line = wait_until(auth_line, 20, what=f"an authentication line for {server.address}")
            assert f"authentication failed: {words}" in line, line
            assert SECRET not in exporter.logs() and "nope-9" not in exporter.logs()
            errors = [
                s.labels["err"]
                for s in parse_series(exporter.metrics())
                if s.name == "redis_exporter_last_scrape_error" and s.value == 1
            ]
            assert any(words in err for err in errors), errors
    finally:
        protected.stop()
        open_server.stop()
        sentinel.stop()
