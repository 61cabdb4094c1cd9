"""Starting and stopping what the benchmarks measure: our exporter, redis_exporter, the replay
server and load generators, each its own process; and the machine's description."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.topology import find_server_binary, free_port

HOST = "127.0.0.1"
THEIRS_BINARY = "prometheus-redis-exporter"


@dataclass(slots=True)
class Exporter:
    """A running exporter: which one, its process and its base URL."""

    name: str  # "ours" or "theirs"
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def freeze_exporter(dest: Path) -> dict[str, str]:
    """Copy the exporter package to `dest`, from where every exporter of this run starts, so a
    run measures one version even while the checkout changes; what was copied."""
    source = Path(__file__).resolve().parents[1] / "redis_ha_exporter"
    shutil.copytree(
        source, dest / "redis_ha_exporter", ignore=shutil.ignore_patterns("__pycache__")
    )
    digest = hashlib.sha256()
    for path in sorted((dest / "redis_ha_exporter").rglob("*.py")):
        digest.update(path.relative_to(dest).as_posix().encode() + b"\0" + path.read_bytes())
    # Read-only: no index refresh, no locks (someone may be working in this checkout).
    git = ["git", "--no-optional-locks", "-C", str(source.parent)]
    head = _first_line([*git, "rev-parse", "--short", "HEAD"])
    dirty = bool(_first_line([*git, "status", "--porcelain", "--", "redis_ha_exporter"]))
    commit = head + (" with uncommitted changes" if dirty else "")
    return {"commit": commit, "sha256": digest.hexdigest()}


def start_ours(args: Sequence[str], password: str, log: Path, code: Path) -> Exporter:
    """`python -m redis_ha_exporter` from `code`, the directory holding the package
    (freeze_exporter)."""
    port = free_port()
    argv = [sys.executable, "-m", "redis_ha_exporter", *args, "--listen-address", f"{HOST}:{port}"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*argv, "--log-level", "warning"],
            cwd=code,
            env={**os.environ, "REDIS_PASSWORD": password},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Exporter("ours", proc, f"http://{HOST}:{port}")


def theirs_binary() -> str | None:
    return shutil.which(THEIRS_BINARY)


def start_theirs(redis_addr: str, password: str, log: Path) -> Exporter:
    """redis_exporter; it takes the password from REDIS_PASSWORD (the flag's default), which
    also applies to the targets of /scrape."""
    binary = theirs_binary()
    assert binary is not None
    port = free_port()
    argv = [binary, "-redis.addr", redis_addr, "-web.listen-address", f"{HOST}:{port}"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, "REDIS_PASSWORD": password},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Exporter("theirs", proc, f"http://{HOST}:{port}")


class BenchServer:
    """A stand-in server of the bench (`python -m bench.<module>`) in its own process: it
    prints one JSON line once it listens (`hello`), and `stop()` returns what it recorded."""

    def __init__(self, module: str, argv: Sequence[str], workdir: Path) -> None:
        name = module.rsplit(".", 1)[-1]
        self._out = workdir / f"{name}.json"
        with open(workdir / f"{name}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, *argv, "--out", str(self._out)],
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"{module} did not start; see {workdir / f'{name}.log'}")
        self.hello: dict[str, Any] = json.loads(line)
        self.stats: dict[str, Any] = {}

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
            self.stats = json.loads(self._out.read_text())
        return self.stats

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Replay(BenchServer):
    """The replay server (bench/replay.py) on `nodes` ports."""

    def __init__(self, capture: Path, nodes: int, workdir: Path) -> None:
        super().__init__(
            "bench.replay", ["--capture", str(capture), "--nodes", str(nodes)], workdir
        )
        self.ports: list[int] = self.hello["ports"]


class FakeSentinel(BenchServer):
    """The fake Sentinel (bench/fakesentinel.py) naming `nodes` dead replicas and a master."""

    def __init__(self, nodes: int, mode: str, workdir: Path) -> None:
        argv = ["--nodes", str(nodes), "--mode", mode]
        super().__init__("bench.fakesentinel", argv, workdir)
        self.address = f"{HOST}:{self.hello['sentinel']}"
        self.dead: list[str] = [f"{HOST}:{port}" for port in self.hello["nodes"]]


def stop(proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def http_status(url: str, timeout: float = 10.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_until(what: str, check: Callable[[], bool], timeout: float, proc: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with status {proc.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")


def sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """One load generator run in its own process (bench/httpload.py), to the end."""
    return finish_load(start_load(spec))


def start_load(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.httpload"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec).encode())
    proc.stdin.close()
    return proc


def finish_load(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise RuntimeError(f"load generator failed with status {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


def _first_line(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    server = find_server_binary("redis") or find_server_binary("valkey") or ""
    server_version = re.search(r"v=(\S+)", _first_line([server, "--version"]) if server else "")
    binary = theirs_binary()
    theirs = re.search(r"Exporter (\S+)", _first_line([binary, "-version"]) if binary else "")
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "server": f"{Path(server).name} {server_version.group(1) if server_version else '?'}",
        "redis_exporter": theirs.group(1) if theirs else "not installed",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
