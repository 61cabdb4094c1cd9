"""redis_exporter's common deployments, started with its flags and environment, against real
servers: the same nodes are polled, with the same credentials (the server's CLIENT LIST names
the ACL user the exporter logged in as), and what does not carry over is said at start."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, ROOT, ExporterProcess, wait_until
from tests.promtext import value
from tests.topology import ServerProcess, start_standalone

PASSWORD = "Mig-rate-Pw-4471"
USER_PASSWORD = "Acl-user-Pw-9902"


@pytest.fixture(params=FLAVORS)
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two password-protected servers, each with an `exporter` ACL user of its own password."""
    started = [
        start_standalone(request.param, tmp_path / f"s{i}", password=PASSWORD) for i in (0, 1)
    ]
    try:
        for server in started:
            admin(server).execute_command(
                "ACL", "SETUSER", "exporter", "on", f">{USER_PASSWORD}", "+@all", "~*", "&*"
            )
        yield started
    finally:
        for server in started:
            server.stop()


def admin(server: ServerProcess) -> redis.Redis:
    return redis.Redis(server.host, server.port, password=PASSWORD, decode_responses=True)


def exporter_users(server: ServerProcess) -> set[str]:
    """The ACL users of the exporter's connections to `server`."""
    clients = admin(server).client_list()
    return {c["user"] for c in clients if c.get("name") == "redis-ha-exporter"}


def test_the_helm_charts_defaults_poll_redis_addr_with_redis_user_and_password(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    """The prometheus-community chart: REDIS_ADDR, REDIS_USER, REDIS_PASSWORD from the
    environment, `extraArgs` as `--key=value`, probes on `/`."""
    server = servers[0]
    exporter = run_exporter(
        "--include-system-metrics=true",
        "--redis-only-metrics=false",
        env={
            "REDIS_ADDR": f"redis://{server.address}",
            "REDIS_USER": "exporter",
            "REDIS_PASSWORD": USER_PASSWORD,
        },
    )
    exporter.wait_up(server.address)
    assert exporter_users(server) == {"exporter"}
    assert exporter.get("/")[0] == 200  # the chart's liveness and readiness probes
    logs = exporter.logs()
    assert "warning: --include-system-metrics (REDIS_EXPORTER_INCL_SYSTEM_METRICS)" in logs
    assert "--redis-only-metrics" not in logs  # false is what we do: nothing to say
    assert PASSWORD not in logs and USER_PASSWORD not in logs


def test_a_sidecar_with_redis_addr_and_redis_password_polls_as_the_default_user(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    server = servers[0]
    exporter = run_exporter(
        env={"REDIS_ADDR": f"localhost:{server.port}", "REDIS_PASSWORD": PASSWORD}
    )
    exporter.wait_up(f"localhost:{server.port}")
    assert exporter_users(server) == {"default"}
    assert not [line for line in exporter.logs().splitlines() if line.startswith("warning:")]


def test_go_style_flags_poll_the_same_node(
    servers: list[ServerProcess], run_exporter: Any, tmp_path: Path
) -> None:
    server = servers[0]
    exporter = run_exporter(
        f"-redis.addr=redis://{server.address}",
        "-redis.user",
        "exporter",
        env={"REDIS_PASSWORD": USER_PASSWORD, "REDIS_EXPORTER_LOG_FORMAT": "txt"},
    )
    exporter.wait_up(server.address)
    assert exporter_users(server) == {"exporter"}


def password_map(tmp_path: Path, servers: list[ServerProcess]) -> Path:
    """A file as redis_exporter's README shows them: one server by the default user, one by
    an ACL user, and a server without a password listed with ""."""
    path = tmp_path / "redis-passwords.json"
    path.write_text(
        json.dumps(
            {
                f"redis://{servers[0].address}": PASSWORD,
                f"redis://exporter@{servers[1].address}": USER_PASSWORD,
                "redis://127.0.0.1:1": "",
            }
        )
    )
    return path


def test_a_password_file_map_gives_each_static_node_its_password_and_user(
    servers: list[ServerProcess], run_exporter: Any, tmp_path: Path
) -> None:
    first, second = servers
    exporter = run_exporter(
        f"-redis.addr=redis://{first.address}",
        f"--redis.addr=redis://{second.address}",
        f"-redis.password-file={password_map(tmp_path, servers)}",
    )
    exporter.wait_up(first.address)
    exporter.wait_up(second.address)
    assert exporter_users(first) == {"default"}
    assert exporter_users(second) == {"exporter"}


def scrape(exporter: ExporterProcess, target: str) -> str:
    status, body, _ = exporter.get("/scrape?" + urllib.parse.urlencode({"target": target}))
    assert status == 200, body
    return body.decode()


def test_the_multi_target_setup_polls_each_target_with_its_mapped_password(
    servers: list[ServerProcess], run_exporter: Any, tmp_path: Path
) -> None:
    """`--redis.addr=` and `/scrape?target=` with redis_exporter's password file; this exporter
    also needs the targets allowed."""
    first, second = servers
    exporter = run_exporter(
        "--redis.addr=",
        "--scrape-allow",
        "127.0.0.1:*",
        env={"REDIS_PASSWORD_FILE": str(password_map(tmp_path, servers))},
    )
    assert value(exporter.metrics(), "redis_up") is None  # /metrics polls nothing
    for server, user in ((first, "default"), (second, "exporter")):
        target = f"redis://{server.address}"

        def polled(target: str = target) -> str | None:
            text = scrape(exporter, target)
            return text if value(text, "redis_up") == 1 else None

        text = wait_until(polled, 20, what=f"/scrape of {target}")
        assert value(text, "redis_connected_clients") is not None
        assert exporter_users(server) == {user}


def test_a_plain_password_for_scrape_targets_is_said_at_start_and_not_sent(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    """redis_exporter sends REDIS_PASSWORD to any target it is asked for; this one does not
    (issue 14), and says so at start instead of failing each scrape in silence."""
    server = servers[0]
    exporter = run_exporter(
        "--redis.addr=",
        "--scrape-allow",
        "127.0.0.1:*",
        env={"REDIS_PASSWORD": PASSWORD},
    )
    logs = exporter.logs()
    assert "REDIS_PASSWORD is not sent to /scrape targets" in logs, logs
    text = scrape(exporter, f"redis://{server.address}")
    assert value(text, "redis_up") == 0
    assert PASSWORD not in exporter.logs()


def test_redis_exporters_unsupported_settings_are_refused_or_warned_in_one_line_each() -> None:
    def check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "redis_ha_exporter", *args, "check-config"],
            env={"PATH": "/usr/bin:/bin", **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = check(
        REDIS_EXPORTER_INCL_SYSTEM_METRICS="true",
        REDIS_EXPORTER_COUNT_KEYS="db0=x",
        REDIS_EXPORTER_POLL_INTEVAL="5",
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, done.stderr
    assert any("did you mean REDIS_EXPORTER_POLL_INTERVAL?" in w for w in warnings)
    done = check(REDIS_EXPORTER_NAMESPACE="foo")
    assert done.returncode == 2
    assert done.stderr.startswith("config error: --namespace (REDIS_EXPORTER_NAMESPACE)")
    done = check("-poll-int=3")
    assert done.returncode == 2
    assert "did you mean --poll-interval?" in done.stderr
