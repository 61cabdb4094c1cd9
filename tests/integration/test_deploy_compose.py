"""deploy/compose on real servers, without Docker: the data nodes' and Sentinels' start-up
scripts from compose.yaml run unchanged under `sh`, with the configuration files the services
mount, on the local redis-server (Debian's, not the image's version). Only what Docker would
provide is stood in for: container paths become host files (the secret, copies of redis.conf
and of the Sentinel template, a directory for each volume), service names become 127.0.0.1 and
each service's port a free local one, and the image's docker-entrypoint.sh (which drops root
before it runs redis-server) becomes `exec "$@"`. Then the exporter, with the compose
service's arguments, finds every node from the Sentinels, and a failover works with the
password the Sentinels were given."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.conftest import ExporterProcess, wait_until
from tests.promtext import parse_series, values
from tests.topology import free_port
from tests.unit.test_deploy_compose import COMPOSE, DATA_NODES, SENTINELS, Project, project

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        REDIS_SERVER is None or REDIS_CLI is None, reason="redis-server or redis-cli not installed"
    ),
]
HOST = "127.0.0.1"
CONTAINER_PORTS = {**dict.fromkeys(DATA_NODES, 6379), **dict.fromkeys(SENTINELS, 26379)}
GROUP = "mymaster"


@dataclass
class Service:
    """One compose service run as a local process."""

    name: str
    port: int
    volume: Path  # stands in for the service's named volume (/data)
    paths: dict[str, str]  # container path -> host path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def log(self) -> str:
        path = self.volume.parent / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Stack:
    """compose.yaml's Redis services, localised as the module docstring says."""

    def __init__(self, base: Path, password: str) -> None:
        self.compose: Project = project("compose.yaml")
        self.base, self.password = base, password
        self.secret = base / "redis_password"
        self.secret.write_text(password + "\n")
        self.ports = {name: free_port() for name in CONTAINER_PORTS}
        bin_dir = base / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "docker-entrypoint.sh"
        shim.write_text('#!/bin/sh\nexec "$@"\n')
        shim.chmod(0o755)
        self.env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(base)}
        self.services = {name: self._service(name) for name in CONTAINER_PORTS}

    def _service(self, name: str) -> Service:
        volume = self.base / name / "data"
        volume.mkdir(parents=True)
        paths: dict[str, str] = {}
        for mount in self.compose.mounts(name):
            if mount.kind == "volume":
                paths[str(mount.target)] = str(volume)
            elif mount.kind == "secret":
                paths[str(mount.target)] = str(self.secret)
            elif str(mount.target) == "/etc/redis-tmpl/sentinel.conf":
                paths[str(mount.target)] = str(self._local_template(name, Path(mount.source)))
            else:
                # A copy, as good as read-only: the CONFIG REWRITE that Sentinel sends after a
                # failover must not write into the repository's file.
                copy = self.base / name / Path(mount.source).name
                shutil.copyfile(mount.source, copy)
                paths[str(mount.target)] = str(copy)
        return Service(name, self.ports[name], volume, paths)

    def _local_template(self, name: str, template: Path) -> Path:
        """The Sentinel template with the service's local port, volume and master address."""
        text = template.read_text()
        for old, new in (
            ("\nport 26379\n", f"\nport {self.ports[name]}\nbind {HOST}\n"),
            ("\ndir /data\n", f"\ndir {self.base / name / 'data'}\n"),
            (" redis-master 6379 ", f" {HOST} {self.ports['redis-master']} "),
        ):
            assert old in text, f"{template} has no {old!r}"
            text = text.replace(old, new)
        local = self.base / name / "sentinel-template.conf"
        local.write_text(text)
        return local

    def localise(self, service: Service, text: str) -> str:
        """A script or command of `service` as it runs here: compose's `$$`, container paths."""
        text = text.replace("$$", "$")
        targets = sorted(service.paths, key=len, reverse=True)
        pattern = "|".join(rf"(?<![\w./-]){re.escape(t)}(?![\w.-])" for t in targets)
        return re.sub(pattern, lambda m: service.paths[m.group(0)], text)

    def args(self, words: list[str]) -> list[str]:
        """Compose arguments with service names and their ports made local."""
        out = list(words)
        for i, word in enumerate(words):
            if word in self.ports:
                out[i] = HOST
                if i + 1 < len(words) and words[i + 1] == str(CONTAINER_PORTS[word]):
                    out[i + 1] = str(self.ports[word])
            elif ":" in word and word.split(":")[0] in self.ports:
                host, port = word.split(":")
                assert port == str(CONTAINER_PORTS[host]), word
                out[i] = f"{HOST}:{self.ports[host]}"
        return out

    def start(self, name: str) -> None:
        service, spec = self.services[name], self.compose.service(name)
        sh, flag, script, argv0 = spec["entrypoint"]
        command = self.args(spec.get("command", []))
        if name in DATA_NODES:  # what the container's network and volume would give
            command += ["--port", str(service.port), "--bind", HOST, "--dir", str(service.volume)]
        env = {k: self.args([str(v)])[0] for k, v in (spec.get("environment") or {}).items()}
        with open(service.volume.parent / f"{name}.log", "ab") as log:
            service.proc = subprocess.Popen(
                [sh, flag, self.localise(service, script), argv0, *command],
                env={**self.env, **env},
                cwd=service.volume,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop(self, *names: str) -> None:
        # Signal all first, so that a master does not wait for replicas that are still up.
        procs = [p for n in names if (p := self.services[n].proc) is not None and p.poll() is None]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def client(self, name: str, password: str | None = None) -> redis.Redis:
        # RESP2: Sentinel replies as flat lists whatever redis-py's default protocol is. No
        # retries: a refused password must fail at once.
        return redis.Redis(
            HOST,
            self.ports[name],
            password=password,
            socket_timeout=3,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            decode_responses=True,
        )

    def healthcheck(self, name: str) -> subprocess.CompletedProcess[str]:
        """The service's compose healthcheck, against its local port."""
        service, test = self.services[name], self.compose.service(name)["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL"
        command = self.localise(service, test[1])
        command = command.replace("-p 26379", f"-p {service.port}")
        if "redis-cli -p" not in command:
            command = command.replace("redis-cli", f"redis-cli -p {service.port}")
        return subprocess.run(
            ["sh", "-c", command], env=self.env, capture_output=True, text=True, check=False
        )

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log()[-2000:]}" for s in self.services.values())


def _repository_files() -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(COMPOSE.rglob("*")) if p.is_file()}


def _pairs(raw: Any) -> dict[str, str]:
    return dict(zip(raw[::2], raw[1::2], strict=True))


def _wait_ping(stack: Stack, name: str, password: str | None) -> None:
    def answers() -> bool:
        proc = stack.services[name].proc
        assert proc is not None and proc.poll() is None, f"{name} exited:\n{stack.logs()}"
        try:
            return bool(stack.client(name, password).ping())
        except redis.RedisError:
            return False

    wait_until(answers, 20, what=f"{name} to answer")


def _sentinel_ready(stack: Stack, name: str) -> str | None:
    client = stack.client(name)
    master = _pairs(client.execute_command("SENTINEL", "MASTER", GROUP))
    replicas = [_pairs(r) for r in client.execute_command("SENTINEL", "REPLICAS", GROUP)]
    linked = [r for r in replicas if r.get("master-link-status") == "ok"]
    if len(linked) == 2 and master["num-other-sentinels"] == "2":
        return None
    return f"{len(linked)} linked replicas, {master['num-other-sentinels']} other sentinels"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    before = _repository_files()
    stack = Stack(tmp_path_factory.mktemp("compose"), secrets.token_hex(16))
    try:
        stack.start("redis-master")
        _wait_ping(stack, "redis-master", stack.password)
        for name in ("redis-replica-1", "redis-replica-2"):
            stack.start(name)
        for name in DATA_NODES:
            _wait_ping(stack, name, stack.password)
        for name in SENTINELS:
            stack.start(name)
        for name in SENTINELS:
            _wait_ping(stack, name, None)

            def settled(name: str = name) -> bool:
                return _sentinel_ready(stack, name) is None

            wait_until(settled, 30, what=f"{name} to see the replicas and Sentinels")
        yield stack
    finally:
        stack.stop(*stack.services)
    assert _repository_files() == before, "the servers wrote into deploy/compose"


def test_data_nodes_run_with_the_compose_configuration(stack: Stack) -> None:
    master = stack.client("redis-master", stack.password)
    config = master.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"] == "3600 1 300 100 60 10000"
    assert config["maxmemory"] == str(1024**3)
    assert config["maxmemory-policy"] == "allkeys-lru"
    assert config["requirepass"] == stack.password == config["masterauth"]
    assert config["replica-announce-ip"] == HOST  # `redis-master` here
    with pytest.raises(redis.AuthenticationError):
        stack.client("redis-master").get("key")
    for name in ("redis-replica-1", "redis-replica-2"):
        info = stack.client(name, stack.password).info("replication")
        assert (info["role"], info["master_link_status"]) == ("slave", "up")
        assert info["master_port"] == stack.ports["redis-master"]


def test_the_password_is_in_no_process_arguments(stack: Stack) -> None:
    for service in stack.services.values():
        assert service.proc is not None
        cmdline = Path(f"/proc/{service.proc.pid}/cmdline").read_bytes()
        assert b"redis-server" in cmdline  # the script exec'd into the server
        assert stack.password.encode() not in cmdline, service.name


def test_healthchecks_pass(stack: Stack) -> None:
    for name in stack.services:
        result = stack.healthcheck(name)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_sentinels_start_from_the_template_with_the_password(stack: Stack) -> None:
    for name in SENTINELS:
        client = stack.client(name)
        master = _pairs(client.execute_command("SENTINEL", "MASTER", GROUP))
        assert master["quorum"] == "2"
        assert int(master["port"]) == stack.ports["redis-master"]
        assert client.execute_command("SENTINEL", "CKQUORUM", GROUP).startswith("OK")
        conf = stack.services[name].volume / "sentinel.conf"
        assert conf.stat().st_mode & 0o077 == 0, f"{conf} is readable by others"
        text = conf.read_text()
        assert f'sentinel auth-pass {GROUP} "{stack.password}"' in text or (
            f"sentinel auth-pass {GROUP} {stack.password}" in text  # as Sentinel rewrites it
        )
        assert re.search(rf"^sentinel announce-ip \"?{re.escape(HOST)}\"?$", text, re.M)


def test_the_exporter_finds_every_node_from_the_sentinels(stack: Stack, tmp_path: Path) -> None:
    spec = stack.compose.service("exporter")
    env = {k: v.replace("/run/secrets/redis_password", str(stack.secret)) for k, v in
           spec["environment"].items()}  # fmt: skip
    exporter = ExporterProcess(stack.args(spec["command"]), env, tmp_path)
    try:
        wait_until(lambda: exporter.get("/ready")[0] == 200, 20, what="/ready")
        addresses = {s.address for s in stack.services.values()}

        def all_up() -> bool:
            series = parse_series(exporter.metrics())
            up = {s.labels["instance"]: s.value for s in series if s.name == "redis_up"}
            return set(up) == addresses and set(up.values()) == {1.0}

        wait_until(all_up, 20, what="redis_up 1 for all six servers")
        masters = values(exporter.metrics(), "redis_sentinel_group_masters", master_name=GROUP)
        assert masters == [1.0]
    finally:
        exporter.stop()


def test_a_failover_works_with_the_sentinels_password(stack: Stack) -> None:
    """Promoting a replica needs the auth-pass the start-up script gave the Sentinels."""
    sentinel = stack.client("sentinel-1")
    assert sentinel.execute_command("SENTINEL", "FAILOVER", GROUP) in ("OK", True)
    old = str(stack.ports["redis-master"])

    def new_master() -> str | None:
        _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP)
        return None if port == old else str(port)

    port = str(wait_until(new_master, 30, what="a new master"))
    promoted = next(name for name, p in stack.ports.items() if str(p) == port)
    assert promoted in ("redis-replica-1", "redis-replica-2")
    info = stack.client(promoted, stack.password).info("replication")
    assert info["role"] == "master"
    # A Sentinel restarted now keeps what it has learned: its volume's file is not re-copied
    # from the template, which names redis-master.
    sentinel3 = stack.client("sentinel-3")

    def knows_new_master() -> bool:
        _, port3 = sentinel3.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP)
        return str(port3) == port

    wait_until(knows_new_master, 20, what="sentinel-3 to learn the new master")
    stack.stop("sentinel-3")
    stack.start("sentinel-3")
    _wait_ping(stack, "sentinel-3", None)
    assert knows_new_master()


def test_a_data_node_refuses_the_example_password(tmp_path: Path) -> None:
    stack = Stack(tmp_path, "unused")
    secret = project("compose.yaml").secrets["redis_password"]
    example = secret.with_name(secret.name + ".example")
    shutil.copy(example, stack.secret)
    stack.start("redis-master")
    proc = stack.services["redis-master"].proc
    assert proc is not None
    try:
        assert proc.wait(10) == 1
    finally:
        stack.stop("redis-master")
    assert "must hold a real password" in stack.services["redis-master"].log()
