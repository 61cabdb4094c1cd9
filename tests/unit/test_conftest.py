"""tests/conftest.py: where everything can be installed (root, CI), a skipped test fails the run
unless REDIS_HA_ALLOW_SKIPS is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ALLOW_SKIPS, ROOT, _skips_fail


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_sample.py"
    test.write_text(
        "import pytest\n\ndef test_runs():\n    pass\n\n"
        "def test_needs_a_tool():\n    pytest.skip('tool not installed')\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("CI", ALLOW_SKIPS)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:cloudcoil",  # as in pyproject's addopts, which a run in tmp_path does not read
            str(test),
        ],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_skip_fails_the_run_in_ci(tmp_path: Path) -> None:
    result = _pytest(tmp_path, CI="true")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "skipped tests fail this run" in result.stdout
    section = result.stdout.split("skipped tests fail this run", 1)[1]
    assert "test_sample.py::test_needs_a_tool: tool not installed" in section


def test_the_escape_hatch_allows_skips(tmp_path: Path) -> None:
    result = _pytest(tmp_path, CI="true", **{ALLOW_SKIPS: "1"})
    assert result.returncode == pytest.ExitCode.OK, result.stdout
    assert "skipped tests fail this run" not in result.stdout


@pytest.mark.parametrize(
    ("euid", "env", "fails"),
    [
        (1000, {}, False),
        (1000, {"CI": "true"}, True),
        (0, {}, True),
        (0, {ALLOW_SKIPS: "1"}, False),
        (0, {ALLOW_SKIPS: "0"}, True),
    ],
)
def test_skips_fail_as_root_or_in_ci_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, euid: int, env: dict[str, str], fails: bool
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(ALLOW_SKIPS, raising=False)
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    assert _skips_fail() is fails
