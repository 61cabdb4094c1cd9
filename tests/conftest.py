"""Fixtures: free ports, real redis/valkey servers and Sentinels, and the exporter run as a
real process that the tests talk to over HTTP. Where everything can be installed (root, CI),
a skipped test fails the run."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.promtext import value
from tests.topology import available_flavors, free_port

FLAVORS = available_flavors()
ROOT = Path(__file__).resolve().parent.parent
# Set to 1 to let tests skip where they would otherwise fail the run (root or CI).
ALLOW_SKIPS = "REDIS_HA_ALLOW_SKIPS"


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}


class ExporterProcess:
    """`python -m redis_ha_exporter` with the given arguments, on a free loopback port."""

    def __init__(
        self, args: list[str], env: dict[str, str], workdir: Path, open_files: int | None = None
    ) -> None:
        """`open_files`: the process's limit on descriptors, soft and hard."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"exporter-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS")}
        full_env.update(env)
        self.args = [
            sys.executable,
            "-m",
            "redis_ha_exporter",
            *args,
            "--listen-address",
            f"127.0.0.1:{self.port}",
        ]
        self._log = self.log_path.open("wb")

        def limit() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        self.proc = subprocess.Popen(
            self.args,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=limit if open_files is not None else None,
        )
        try:
            wait_until(self._healthy, 20, what=f"exporter on {self.url} ({self.logs()[-500:]})")
        except BaseException:
            self.stop()  # no exporter or open log left behind to leak into later tests
            raise

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"exporter exited with {self.proc.returncode}: {self.logs()}")
        try:
            return self.get("/health")[0] == 200
        except OSError:
            return False

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), _lower(response.headers.items())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), _lower(exc.headers.items())

    def wait_up(self, instance: str, timeout: float = 20) -> None:
        """Wait until the node at `instance` has been polled successfully."""
        wait_until(
            lambda: value(self.metrics(), "redis_up", instance=instance) == 1,
            timeout,
            what=f"redis_up 1 for {instance}",
        )

    def after_polls(self, instance: str, polls: int = 2, timeout: float = 10) -> str:
        """`/metrics` once the node at `instance` has been polled `polls` more times."""

        def count() -> float:
            return value(self.metrics(), "redis_exporter_scrapes_total", instance=instance) or 0

        start = count()
        wait_until(lambda: count() >= start + polls, timeout, what=f"{polls} more polls")
        return self.metrics()

    def metrics(self) -> str:
        status, body, _ = self.get("/metrics")
        assert status == 200, body
        return body.decode()

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def run_exporter(tmp_path: Path) -> Iterator[Callable[..., ExporterProcess]]:
    started: list[ExporterProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, open_files: int | None = None
    ) -> ExporterProcess:
        proc = ExporterProcess(list(args), env or {}, tmp_path, open_files)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def polling(
    run_exporter: Callable[..., ExporterProcess],
    addresses: str | Sequence[str],
    *flags: str,
    interval: str = "0.3",
) -> ExporterProcess:
    """An exporter polling `addresses` every `interval` seconds (the timeout 0.8 of it), its
    body never cached, once every node is up."""
    nodes = [addresses] if isinstance(addresses, str) else list(addresses)
    exporter = run_exporter(
        *(word for node in nodes for word in ("--redis-addr", node)),
        "--poll-interval",
        interval,
        "--poll-timeout",
        str(float(interval) * 0.8),
        "--metrics-min-age",
        "0",
        *flags,
    )
    for node in nodes:
        exporter.wait_up(node)
    return exporter


def assert_walk_kept_to_its_budget(
    exporter: ExporterProcess,
    instance: str,
    source: str,
    budget: float,
    flag: str,
    interval: float = 1.0,
) -> str:
    """The `source` walk stopped at its budget (past it by at most one round trip) and said so
    once, naming `flag`, while the node's polls kept their interval, each shorter than the
    budget. Returns /metrics after the polls."""
    text = exporter.metrics()
    assert value(text, "redis_exporter_walk_truncated", source=source) == 1
    seconds = value(text, "redis_exporter_walk_duration_seconds", source=source)
    assert seconds is not None and budget <= seconds < budget + 0.5, seconds
    start, t0 = value(text, "redis_exporter_scrapes_total", instance=instance), time.monotonic()
    assert start is not None

    def polled_three_more() -> float | None:
        got = value(exporter.metrics(), "redis_exporter_scrapes_total", instance=instance)
        return got if got is not None and got >= start + 3 else None

    wait_until(polled_three_more, timeout=10, what="three more polls")
    assert time.monotonic() - t0 < 3 * interval + 2.0
    text = exporter.metrics()
    poll_seconds = value(text, "redis_exporter_last_scrape_duration_seconds", instance=instance)
    assert poll_seconds is not None and poll_seconds < budget
    lines = [line for line in exporter.logs().splitlines() if "stopped early" in line]
    assert len(lines) == 1 and flag in lines[0], lines
    return text


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not FLAVORS:
        skip = pytest.mark.skip(reason="no redis-server or valkey-server binary installed")
        for item in items:
            if "flavor" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    # CI must never pass by skipping every integration test.
    if os.environ.get("CI") and not FLAVORS:
        raise pytest.UsageError("CI=true but neither redis-server nor valkey-server is installed")


def _skips_fail() -> bool:
    """As root or in CI, `make test` can install everything: a skip means something is missing."""
    if os.environ.get(ALLOW_SKIPS, "") not in ("", "0"):
        return False
    return os.geteuid() == 0 or bool(os.environ.get("CI"))


def _skipped(config: pytest.Config) -> list[pytest.TestReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.OK and _skips_fail() and _skipped(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    skipped = _skipped(config)
    if not skipped or not _skips_fail():
        return
    terminalreporter.section("skipped tests fail this run", red=True)
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        terminalreporter.line(f"{report.nodeid}: {reason}", red=True)
    terminalreporter.line(
        f"as root or with CI set, everything the suite needs can be installed (`make test` "
        f"does); set {ALLOW_SKIPS}=1 to allow skips"
    )
