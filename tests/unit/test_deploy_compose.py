"""deploy/compose: the whole HA setup for `docker compose`. There is no Docker engine in the test
environment, so every file is checked with the tool its user would run or its documented shape:
the compose files against the Compose specification's JSON schema (check-jsonschema's vendored
copy), Prometheus' config and the rules file the container mounts with `promtool`,
Alertmanager's with `amtool`, Grafana's provisioning against schemas of its documented format,
and the exporter's command line with its own `check-config`. The rest are consistency checks:
mounted paths exist, names refer to services, ports are on loopback, images are pinned and no
password is committed. tests/integration/test_deploy_compose.py runs the Redis and Sentinel
configurations and start-up scripts on real servers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the test dependencies
import pytest
import yaml

from dashboards.queries import dashboard_files
from tests.conftest import ROOT

COMPOSE = ROOT / "deploy" / "compose"
# Files a user runs; each includes compose.monitoring.yaml.
MAIN_FILES = ("compose.yaml", "compose.existing.yaml")
ALL_FILES = (*MAIN_FILES, "compose.monitoring.yaml")
SECRETS_DIR = PurePosixPath("/run/secrets")
EXPORTER_PORT = 9121
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
DATA_NODES = ("redis-master", "redis-replica-1", "redis-replica-2")

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
CHECK_JSONSCHEMA = shutil.which(
    "check-jsonschema", path=os.pathsep.join([str(Path(sys.executable).parent), os.defpath])
)
GIT = shutil.which("git")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")
needs_check_jsonschema = pytest.mark.skipif(
    CHECK_JSONSCHEMA is None, reason="check-jsonschema not installed (pip install '.[test]')"
)
needs_git = pytest.mark.skipif(
    GIT is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)

# Grafana's provisioning formats, as documented in "Provision Grafana"
# (https://grafana.com/docs/grafana/latest/administration/provisioning/): every field the
# documentation lists, and nothing else, so that a misspelt key fails here rather than being
# ignored by Grafana.
GRAFANA_DATASOURCES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "datasources"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": 1},
        "prune": {"type": "boolean"},
        "deleteDatasources": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string"}, "orgId": {"type": "integer"}},
            },
        },
        "datasources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "type", "access", "url", "uid"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "type": {"type": "string", "minLength": 1},
                    "access": {"enum": ["proxy", "direct"]},
                    "orgId": {"type": "integer"},
                    # Grafana's uid rule: at most 40 characters of [a-zA-Z0-9-_].
                    "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
                    "url": {"type": "string", "pattern": "^https?://[^/:]+(:[0-9]+)?(/.*)?$"},
                    "user": {"type": "string"},
                    "database": {"type": "string"},
                    "basicAuth": {"type": "boolean"},
                    "basicAuthUser": {"type": "string"},
                    "withCredentials": {"type": "boolean"},
                    "isDefault": {"type": "boolean"},
                    "jsonData": {"type": "object"},
                    "secureJsonData": {"type": "object"},
                    "version": {"type": "integer"},
                    "editable": {"type": "boolean"},
                },
            },
        },
    },
}
GRAFANA_DASHBOARD_PROVIDERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "providers"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": 1},
        "providers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "type", "options"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "orgId": {"type": "integer"},
                    "folder": {"type": "string"},
                    "folderUid": {"type": "string"},
                    "type": {"const": "file"},
                    "disableDeletion": {"type": "boolean"},
                    "updateIntervalSeconds": {"type": "integer", "minimum": 1},
                    "allowUiUpdates": {"type": "boolean"},
                    "options": {
                        "type": "object",
                        "required": ["path"],
                        "additionalProperties": False,
                        "properties": {
                            "path": {"type": "string", "pattern": "^/"},
                            "foldersFromFilesStructure": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


# --- the compose model: services, their mounts and secrets, across `include` ----------------------


def _yaml(path: Path) -> Any:
    # PyYAML resolves the `<<: *anchor` merges as compose does.
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True, slots=True)
class Mount:
    """A bind mount, a named volume, or a secret (compose bind-mounts a file-backed secret)."""

    kind: str  # "bind", "volume" or "secret"
    source: str  # host path for bind and secret, volume name for volume
    target: PurePosixPath
    read_only: bool


@dataclass(frozen=True, slots=True)
class Project:
    file: Path
    services: dict[str, dict[str, Any]]
    # Where each service and secret is declared: relative paths resolve from there.
    service_dirs: dict[str, Path]
    secrets: dict[str, Path]
    volumes: frozenset[str]

    def service(self, name: str) -> dict[str, Any]:
        assert name in self.services, f"{self.file.name}: no service {name!r}"
        return self.services[name]

    def mounts(self, name: str) -> list[Mount]:
        base, service = self.service_dirs[name], self.service(name)
        mounts: list[Mount] = []
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source, target, *mode = volume.split(":")
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
                read_only = mode == ["ro"]
            else:
                source, target = volume["source"], volume["target"]
                kind, read_only = volume["type"], bool(volume.get("read_only", False))
            if kind == "bind":
                source = str((base / source).resolve())
            mounts.append(Mount(kind, source, PurePosixPath(target), read_only))
        for secret in service.get("secrets", []):
            name_, target = (
                (secret, secret)
                if isinstance(secret, str)
                else (
                    secret["source"],
                    secret.get("target", secret["source"]),
                )
            )
            assert name_ in self.secrets, f"{name}: secret {name_!r} is not declared"
            mounts.append(Mount("secret", str(self.secrets[name_]), SECRETS_DIR / target, True))
        return mounts

    def host_path(self, service: str, container_path: str | PurePosixPath) -> Path:
        """The host file a container path of `service` is, through its bind mounts and secrets."""
        path = PurePosixPath(container_path)
        candidates = [m for m in self.mounts(service) if path.is_relative_to(m.target)]
        assert candidates, f"{service}: nothing is mounted at {path}"
        mount = max(candidates, key=lambda m: len(m.target.parts))
        assert mount.kind != "volume", f"{service}: {path} is in the volume {mount.source}"
        return Path(mount.source, path.relative_to(mount.target))


def _load_project(file: Path) -> Project:
    data = _yaml(file)
    services: dict[str, dict[str, Any]] = {}
    dirs: dict[str, Path] = {}
    secrets: dict[str, Path] = {}
    volumes: set[str] = set()
    for entry in data.get("include", []):
        included = _load_project(file.parent / (entry if isinstance(entry, str) else entry["path"]))
        clash = set(included.services) & set(data.get("services", {}))
        assert not clash, f"{file.name} and {included.file.name} both define {clash}"
        services |= included.services
        dirs |= included.service_dirs
        secrets |= included.secrets
        volumes |= included.volumes
    for name, service in data.get("services", {}).items():
        services[name], dirs[name] = service, file.parent
    for name, secret in (data.get("secrets") or {}).items():
        assert name not in secrets, f"secret {name} is declared twice"
        secrets[name] = (file.parent / secret["file"]).resolve()
    volumes |= set(data.get("volumes") or {})
    return Project(file, services, dirs, secrets, frozenset(volumes))


@cache
def project(name: str) -> Project:
    return _load_project(COMPOSE / name)


def _projects() -> list[Project]:
    return [project(name) for name in MAIN_FILES]


def _flag(command: list[str], flag: str) -> list[str]:
    """Values of `--flag=value` and `--flag value` in an argument list."""
    values = []
    for i, arg in enumerate(command):
        if arg.startswith(flag + "="):
            values.append(arg.split("=", 1)[1])
        elif arg == flag and i + 1 < len(command):
            values.append(command[i + 1])
    return values


def _gitignored(paths: list[Path]) -> set[Path]:
    """Those of `paths` that git ignores, tracked or not (read-only: `git check-ignore`)."""
    assert GIT is not None
    result = subprocess.run(
        [GIT, "-C", str(ROOT), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(str(p) for p in paths),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return {Path(line) for line in result.stdout.splitlines()}


def _committed_files() -> list[Path]:
    """Everything under deploy/compose that is meant to be committed (not git-ignored)."""
    files = sorted(p for p in COMPOSE.rglob("*") if p.is_file())
    ignored = _gitignored(files)
    return [p for p in files if p not in ignored]


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def _interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR:-default}` and `$$` (the only forms these files may use)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1)) or (match.group(2) or "")

    return re.sub(r"\$\$|\$\{(\w+):-([^}]*)\}", one, value)


# --- the compose files ----------------------------------------------------------------------------


@needs_check_jsonschema
def test_compose_files_follow_the_compose_specification() -> None:
    assert CHECK_JSONSCHEMA is not None
    result = subprocess.run(
        [
            CHECK_JSONSCHEMA,
            "--builtin-schema",
            "vendor.compose-spec",
            *(str(COMPOSE / name) for name in ALL_FILES),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"


@needs_check_jsonschema
def test_the_schema_check_catches_a_misspelt_key_in_a_shared_anchor(tmp_path: Path) -> None:
    """The check above sees the services' merged anchors (`<<: *sentinel`), not only the keys
    written under each service."""
    assert CHECK_JSONSCHEMA is not None
    text = (COMPOSE / "compose.yaml").read_text()
    assert "\n  healthcheck:\n" in text
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace("\n  healthcheck:\n", "\n  healthchek:\n", 1))
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, f"{result.stdout}{result.stderr}"
    assert "'healthchek' was unexpected" in result.stdout


def test_the_setup_has_the_documented_services() -> None:
    everything = project("compose.yaml").services
    monitoring = {"exporter", "prometheus", "alertmanager", "grafana"}
    assert set(everything) == {*DATA_NODES, *SENTINELS, *monitoring}
    assert set(project("compose.existing.yaml").services) == monitoring


@pytest.mark.parametrize("name", MAIN_FILES)
def test_every_mounted_path_exists_in_the_repository(name: str) -> None:
    """Bind sources, and secret files; a git-ignored secret has a committed `.example`."""
    p = project(name)
    for service in p.services:
        for mount in p.mounts(service):
            if mount.kind == "volume":
                assert mount.source in p.volumes, f"{service}: volume {mount.source} undeclared"
                continue
            source = Path(mount.source)
            assert source.is_relative_to(ROOT), f"{service}: {source} is outside the repository"
            if mount.kind == "secret":
                example = source.with_name(source.name + ".example")
                assert example.is_file(), f"{service}: neither {source} nor {example} exists"
            else:
                assert source.exists(), f"{service}: {source} does not exist"
                assert mount.read_only, f"{service}: {source} should be mounted read-only"


@needs_git
def test_secret_files_are_git_ignored() -> None:
    secrets = sorted({path for p in _projects() for path in p.secrets.values()})
    assert secrets
    assert _gitignored(secrets) == set(secrets)
    env = COMPOSE / ".env"
    assert _gitignored([env]) == {env}


@pytest.mark.parametrize("name", MAIN_FILES)
def test_the_exporter_is_built_from_the_repository_dockerfile(name: str) -> None:
    build = project(name).service("exporter")["build"]
    context = (COMPOSE / build["context"]).resolve()
    assert context == ROOT
    assert build["dockerfile"] == "Dockerfile"
    assert (context / build["dockerfile"]).is_file(), "the top-level Dockerfile is missing"


def test_published_ports_are_on_loopback() -> None:
    published = []
    for p in _projects():
        for name, service in p.services.items():
            for port in service.get("ports", []):
                host_ip = port.split(":")[0] if isinstance(port, str) else port.get("host_ip")
                assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
                published.append(port)
    assert "127.0.0.1:9121:9121" in published
    redis_ports = [project("compose.yaml").service(s).get("ports") for s in DATA_NODES + SENTINELS]
    assert redis_ports == [None] * 6, "Redis and Sentinel are reached with `docker compose exec`"


def test_images_are_pinned_to_a_version() -> None:
    images: dict[str, str] = {}
    for p in _projects():
        for name, service in p.services.items():
            if "image" not in service:
                assert "build" in service, f"{name} has neither image nor build"
                continue
            repository, _, tag = service["image"].rpartition(":")
            assert repository and "/" not in tag, f"{name}: {service['image']} has no tag"
            assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {tag} is no version"
            images[name] = service["image"]
    assert len({images[s] for s in DATA_NODES + SENTINELS}) == 1, "one Redis version everywhere"
    readme = (COMPOSE / "README.md").read_text()
    for image in set(images.values()):
        assert f"`{image}`" in readme, f"README.md does not name {image}"


@pytest.mark.parametrize("name", ALL_FILES)
def test_compose_interpolates_only_what_it_should(name: str) -> None:
    """A `$` meant for a container's shell must be `$$`, or compose replaces it (usually with
    nothing) from the user's environment. compose.yaml is self-contained; compose.existing.yaml
    takes the exporter's targets from .env."""
    text = (COMPOSE / name).read_text().replace("$$", "")
    variables = re.findall(r"\$\{(\w+):-[^}]*\}", text)
    assert "$" not in re.sub(r"\$\{\w+:-[^}]*\}", "", text), f"{name}: unescaped `$`"
    allowed = set(_env_file(COMPOSE / ".env.example")) if name == "compose.existing.yaml" else set()
    assert set(variables) <= allowed


def test_no_password_is_committed() -> None:
    files = _committed_files()
    texts = {path: path.read_text() for path in files}
    # Redis directives take the password only from the start-up scripts' variables.
    directive = re.compile(r"\b(?:requirepass|masterauth|auth-pass[ \t]+\S+)[ \t]+(\S+)")
    for path, text in texts.items():
        if path.suffix == ".md":
            continue
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for value in directive.findall(line):
                assert value in ('"$$pw"', '"%s"\\n\''), f"{path}: {line.strip()}"
    # Settings named like a credential point to a file instead (YAML and .env syntax).
    credential = re.compile(
        r"\b(\w*(?:password|passwd|secret|token|api_key|api_url|routing_key|service_key)\w*)"
        r"[ \t]*[:=][ \t]*\S",
        re.IGNORECASE,
    )
    for path, text in texts.items():
        if path.suffix in (".yaml", ".yml") or path.name.startswith(".env"):
            for key in credential.findall(text):
                assert key.lower().endswith("_file"), f"{path}: {key} holds a literal credential"
    # The examples are placeholders, which the data nodes refuse to start with.
    examples = sorted((COMPOSE / "secrets").glob("*.example"))
    assert examples
    for example in examples:
        assert "change-me" in example.read_text()
    assert "*change-me*" in str(project("compose.yaml").service("redis-master")["entrypoint"])
    # Real secrets a user has created here appear in no committed file.
    for secret in sorted({path for p in _projects() for path in p.secrets.values()}):
        if secret.is_file() and (value := secret.read_text().strip()):
            leaks = [path for path, text in texts.items() if value in text]
            assert not leaks, f"the content of {secret.name} is in {leaks}"


@pytest.mark.parametrize("name", MAIN_FILES)
def test_services_read_credentials_from_secrets(name: str) -> None:
    p = project(name)
    for service_name, service in p.services.items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{service_name}: environment as a mapping"
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                assert key.endswith("_FILE"), f"{service_name}: {key} is not a file"
                secret = p.host_path(service_name, value)
                assert secret in p.secrets.values(), f"{service_name}: {value} is no secret"


# --- Redis and Sentinel ---------------------------------------------------------------------------


def _directives(path: Path) -> list[list[str]]:
    lines = (line.split() for line in path.read_text().splitlines())
    return [words for words in lines if words and not words[0].startswith("#")]


def _entrypoint_script(service: Mapping[str, Any]) -> str:
    entrypoint = service["entrypoint"]
    assert entrypoint[:2] == ["sh", "-c"] and len(entrypoint) == 4, entrypoint
    return str(entrypoint[2])


def test_data_nodes_are_configured_for_persistence_and_eviction() -> None:
    p = project("compose.yaml")
    for name in DATA_NODES:
        config = p.host_path(name, "/usr/local/etc/redis/redis.conf")
        assert f"redis-server {'/usr/local/etc/redis/redis.conf'}" in _entrypoint_script(
            p.service(name)
        )
        assert config == COMPOSE / "redis" / "redis.conf"
    settings = {words[0]: words[1:] for words in _directives(COMPOSE / "redis" / "redis.conf")}
    assert settings["appendonly"] == ["yes"]
    assert settings["appendfsync"] == ["everysec"]
    assert settings["save"] and settings["save"] != ['""']
    assert settings["maxmemory"] == ["1gb"]
    assert settings["maxmemory-policy"] == ["allkeys-lru"]
    assert settings["port"] == ["6379"]
    assert "requirepass" not in settings and "masterauth" not in settings


def test_replicas_follow_the_master_and_nodes_announce_their_service_names() -> None:
    p = project("compose.yaml")
    for name in DATA_NODES:
        command = p.service(name)["command"]
        assert _flag(command, "--replica-announce-ip") == [name]
        replicaof = command[command.index("--replicaof") + 1 :] if name != "redis-master" else []
        assert replicaof == ([] if name == "redis-master" else ["redis-master", "6379"])
        healthcheck = p.service(name)["healthcheck"]["test"]
        assert "/run/secrets/redis_password" in healthcheck[1] and "PONG" in healthcheck[1]


def test_sentinels_monitor_the_master_with_a_majority_quorum() -> None:
    p = project("compose.yaml")
    for name in SENTINELS:
        assert p.host_path(name, "/etc/redis-tmpl/sentinel.conf") == COMPOSE / "redis/sentinel.conf"
        assert p.service(name)["environment"] == {"SENTINEL_ANNOUNCE_IP": name}
        script = _entrypoint_script(p.service(name))
        assert "sentinel auth-pass mymaster" in script
        depends = p.service(name)["depends_on"]
        assert depends == {node: {"condition": "service_healthy"} for node in DATA_NODES}
    directives = _directives(COMPOSE / "redis" / "sentinel.conf")
    monitors = [words for words in directives if words[:2] == ["sentinel", "monitor"]]
    assert monitors == [["sentinel", "monitor", "mymaster", "redis-master", "6379", "2"]]
    quorum = int(monitors[0][5])
    assert len(SENTINELS) // 2 < quorum <= len(SENTINELS)
    # Host names must be enabled before `monitor` names a host.
    index = {" ".join(words[:2]): i for i, words in enumerate(directives)}
    for option in ("resolve-hostnames", "announce-hostnames"):
        assert ["sentinel", option, "yes"] in directives
        assert index[f"sentinel {option}"] < index["sentinel monitor"]
    assert ["port", "26379"] in directives


# --- the exporter ---------------------------------------------------------------------------------


def _check_config(args: list[str], env: Mapping[str, str]) -> dict[str, Any]:
    """`redis-ha-exporter check-config`: the configuration the container would run with."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS")}
    result = subprocess.run(
        [sys.executable, "-m", "redis_ha_exporter", "check-config", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _secret_env(p: Project, service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The service's environment with secret paths replaced by the host files (the committed
    example when the real secret has not been created)."""
    mapped = {}
    for key, value in env.items():
        if key.endswith("_FILE"):
            path = p.host_path(service, value)
            value = str(path if path.is_file() else path.with_name(path.name + ".example"))
        mapped[key] = value
    return mapped


def test_the_exporter_discovers_everything_from_the_compose_sentinels() -> None:
    p = project("compose.yaml")
    exporter = p.service("exporter")
    addresses = _flag(exporter["command"], "--sentinel-addr")
    assert [a.rsplit(":", 1)[0] for a in addresses] == list(SENTINELS)
    assert {a.rsplit(":", 1)[1] for a in addresses} == {"26379"}
    config = _check_config(exporter["command"], _secret_env(p, "exporter", exporter["environment"]))
    assert config["resolved_sentinel_targets"] == [f"redis://{a}" for a in addresses]
    assert config["resolved_data_targets"] == []
    assert config["effective_redis_password"] is not None
    assert config["effective_sentinel_password"] is None  # the Sentinels have none
    assert config["listen_address"] == f":{EXPORTER_PORT}"
    assert exporter["read_only"] is True and exporter["tmpfs"] == ["/tmp"]


def test_the_exporter_for_existing_servers_takes_them_from_env() -> None:
    p = project("compose.existing.yaml")
    exporter = p.service("exporter")
    example = _env_file(COMPOSE / ".env.example")
    env = {k: _interpolate(str(v), example) for k, v in exporter["environment"].items()}
    config = _check_config(exporter.get("command", []), _secret_env(p, "exporter", env))
    wanted = [f"redis://{a}" for a in example["REDIS_SENTINEL_ADDR"].split(",")]
    assert config["resolved_sentinel_targets"] == wanted
    assert config["resolved_data_targets"] == []
    assert config["listen_address"] == f":{EXPORTER_PORT}"


# --- Prometheus and Alertmanager ------------------------------------------------------------------


def _config_file(p: Project, service: str) -> tuple[Path, str]:
    """The host file behind the service's `--config.file`, and its container path."""
    (container,) = _flag(p.service(service)["command"], "--config.file")
    return p.host_path(service, container), container


@pytest.mark.parametrize("name", MAIN_FILES)
def test_prometheus_uses_the_repository_rules(name: str) -> None:
    p = project(name)
    config_path, _ = _config_file(p, "prometheus")
    assert config_path == COMPOSE / "prometheus" / "prometheus.yml"
    rule_files = _yaml(config_path)["rule_files"]
    hosts = [p.host_path("prometheus", path) for path in rule_files]
    assert hosts == [ROOT / "alerts" / "redis-ha-exporter.rules.yml"]


@needs_promtool
def test_prometheus_config_and_the_mounted_rules_pass_promtool(tmp_path: Path) -> None:
    """promtool checks the config and every rule file it names; the rule files' container paths
    are replaced by the host files compose mounts there, so it checks what the container loads."""
    assert PROMTOOL is not None
    p = project("compose.yaml")
    config_path, _ = _config_file(p, "prometheus")
    config = _yaml(config_path)
    rules = [p.host_path("prometheus", path) for path in config["rule_files"]]
    config["rule_files"] = [str(path) for path in rules]
    rewritten = tmp_path / "prometheus.yml"
    rewritten.write_text(yaml.safe_dump(config, sort_keys=False))
    for command in (["check", "config", str(rewritten)], ["check", "rules", *map(str, rules)]):
        result = subprocess.run([PROMTOOL, *command], capture_output=True, text=True, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"promtool {' '.join(command)}:\n{output}"
        for path in rules:
            assert re.search(rf"Checking {re.escape(str(path))}\s+SUCCESS: \d+ rules found", output)


def _scrape_targets(config: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for job in config["scrape_configs"]
    }


@pytest.mark.parametrize("name", MAIN_FILES)
def test_prometheus_scrapes_the_exporter_and_alerts_to_alertmanager(name: str) -> None:
    p = project(name)
    config = _yaml(_config_file(p, "prometheus")[0])
    redis_jobs = [job for job in config["scrape_configs"] if job["job_name"] == "redis"]
    assert len(redis_jobs) == 1 and redis_jobs[0]["honor_labels"] is True
    assert _scrape_targets(config)["redis"] == [f"exporter:{EXPORTER_PORT}"]
    assert f"127.0.0.1:{EXPORTER_PORT}:{EXPORTER_PORT}" in p.service("exporter")["ports"]
    alertmanagers = [t for am in config["alerting"]["alertmanagers"] for sc in
                     am["static_configs"] for t in sc["targets"]]  # fmt: skip
    assert alertmanagers == ["alertmanager:9093"]
    for target in [t for ts in _scrape_targets(config).values() for t in ts] + alertmanagers:
        host, port = target.rsplit(":", 1)
        if host != "localhost":
            assert host in p.services, f"{target} is not a service of {name}"
            published = [str(x).rsplit(":", 1)[-1] for x in p.service(host).get("ports", [])]
            assert port in published, f"{host} does not listen on {port}"


@needs_amtool
def test_alertmanager_config_passes_amtool() -> None:
    assert AMTOOL is not None
    path, _ = _config_file(project("compose.yaml"), "alertmanager")
    assert path == COMPOSE / "alertmanager" / "alertmanager.yml"
    result = subprocess.run(
        [AMTOOL, "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    route = _yaml(path)["route"]
    assert {"alertname", "master_name"} <= set(route["group_by"])


# --- Grafana --------------------------------------------------------------------------------------


def _grafana_files(kind: str) -> Iterator[Path]:
    p = project("compose.yaml")
    directory = p.host_path("grafana", f"/etc/grafana/provisioning/{kind}")
    files = sorted(directory.glob("*.y*ml"))
    assert files, f"no provisioning file in {directory}"
    yield from files


def test_grafana_provisioning_files_have_the_documented_shape() -> None:
    for path in _grafana_files("datasources"):
        jsonschema.validate(_yaml(path), GRAFANA_DATASOURCES_SCHEMA)
    for path in _grafana_files("dashboards"):
        jsonschema.validate(_yaml(path), GRAFANA_DASHBOARD_PROVIDERS_SCHEMA)


def test_the_provisioning_schemas_reject_a_misspelt_key() -> None:
    (path,) = _grafana_files("datasources")
    datasources = _yaml(path)
    datasources["datasources"][0]["isDefualt"] = True
    with pytest.raises(jsonschema.ValidationError, match="isDefualt"):
        jsonschema.validate(datasources, GRAFANA_DATASOURCES_SCHEMA)


def _datasource() -> dict[str, Any]:
    (path,) = _grafana_files("datasources")
    (datasource,) = _yaml(path)["datasources"]
    assert isinstance(datasource, dict)
    return datasource


def test_grafana_queries_the_compose_prometheus() -> None:
    p = project("compose.yaml")
    datasource = _datasource()
    assert datasource["isDefault"] is True
    match = re.fullmatch(r"http://([\w-]+):(\d+)", datasource["url"])
    assert match and match.group(1) == "prometheus"
    assert f"127.0.0.1:{match.group(2)}:{match.group(2)}" in p.service("prometheus")["ports"]
    prometheus = _yaml(_config_file(p, "prometheus")[0])
    assert datasource["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def test_grafana_provisions_the_repository_dashboards() -> None:
    """The provider's folder holds exactly the repository's dashboards, whose data source
    variable is of the provisioned data source's type."""
    p = project("compose.yaml")
    ((providers_file),) = _grafana_files("dashboards")
    (provider,) = _yaml(providers_file)["providers"]
    folder = PurePosixPath(provider["options"]["path"])
    mounted = {
        m.target: Path(m.source)
        for m in p.mounts("grafana")
        if m.target.parent == folder or m.target == folder
    }
    assert set(mounted.values()) == set(dashboard_files())
    assert all(target.suffix == ".json" for target in mounted)
    home = p.service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert PurePosixPath(home) in mounted
    datasource_type = _datasource()["type"]
    for path in mounted.values():
        board = json.loads(path.read_text())
        assert "__inputs" not in board, path.name
        (variable,) = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
        assert (variable["type"], variable["query"]) == ("datasource", datasource_type)
