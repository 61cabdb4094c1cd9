"""The README stays true: its commands and configuration examples run as written.

`make demo` and `make failover` are run by test_demo.py; `make test` and `make lint` by CI.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools import demo, settings_table

README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    return [line.strip() for block in _blocks("sh") for line in block.splitlines() if line.strip()]


def _check_config(args: list[str], env: dict[str, str]) -> None:
    """The same settings as `redis-ha-exporter ARGS`, validated without connecting."""
    command = [str(BIN / "redis-ha-exporter"), "check-config", *args]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for secret in (v for k, v in env.items() if "PASSWORD" in k):
        assert secret not in result.stdout + result.stderr


def test_every_make_target_in_the_readme_exists() -> None:
    targets = {c.split()[1] for c in _commands() if c.startswith("make ")}
    targets |= set(re.findall(r"`make ([\w-]+)", README))
    makefile = (ROOT / "Makefile").read_text()
    assert targets == {"demo", "failover", "test", "test-pythons", "lint", "bench"}
    for target in targets:
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


def test_ci_runs_the_readme_commands_on_the_system_python() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip().startswith("make ")]
    assert commands == ["make lint", "make test", "make test-pythons"]
    assert "`make test PYTHON=/usr/bin/python3`" in README
    assert "export PYTHON=/usr/bin/python3" in ci


def test_readme_settings_table_is_made_from_the_declaration() -> None:
    assert settings_table.in_readme(README) == settings_table.render(), (
        "the README's settings table differs from the declaration in redis_ha_exporter/config.py; "
        "rewrite it with: .venv/bin/python -m tools.settings_table --write"
    )


def test_readme_redis_exporter_table_is_made_from_the_declarations() -> None:
    assert settings_table.compat_in_readme(README) == settings_table.render_compat(), (
        "the README's redis_exporter table differs from redis_ha_exporter/compat.py; "
        "rewrite it with: .venv/bin/python -m tools.settings_table --write"
    )


def test_readme_acl_lines_are_made_from_the_sources() -> None:
    for kind in ("data", "sentinel"):
        assert settings_table.acl_in_readme(README, kind) == settings_table.acl_line(kind), (
            "rewrite it with: .venv/bin/python -m tools.settings_table --write"
        )
    assert settings_table.valkey_acl_in_readme(README) == settings_table.valkey_acl_line()
    assert "+commandlog|get" in settings_table.valkey_acl_line()


def test_readme_demo_port_commands_match_the_demo_and_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PORT \?= 9121$", makefile, flags=re.M)
    assert "make demo" in _commands() and "make failover" in _commands()
    assert 'make demo ARGS="--listen-address 127.0.0.1:9200"' in _commands()
    assert "make failover PORT=9200" in _commands()
    listen = demo.DEMO_DEFAULTS["listen_address"]
    assert f"`{listen}`" in README.split("## Try it", 1)[1].split("## ", 1)[0]


@pytest.mark.parametrize(
    "command", [c for c in _commands() if "redis-ha-exporter" in c], ids=lambda c: c[:60]
)
def test_readme_exporter_command_is_accepted(command: str) -> None:
    words = shlex.split(command)
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}
    while "=" in words[0]:
        key, _, val = words.pop(0).partition("=")
        env[key] = val
    assert words[0] == "redis-ha-exporter"
    _check_config(words[2:] if words[1:2] == ["check-config"] else words[1:], env)


def test_readme_yaml_example_is_valid_configuration(tmp_path: Path) -> None:
    example = next(b for b in _blocks("yaml") if "targets:" in b)
    secret = tmp_path / "cache-password"
    secret.write_text("s3cret\n")
    config = tmp_path / "exporter.yaml"
    config.write_text(example.replace("/run/secrets/cache-password", str(secret)))
    result = subprocess.run(
        [sys.executable, "-m", "redis_ha_exporter", "check-config", "--config-file", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    assert '"poll_interval": 15.0' in result.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_readme_scrape_configs_pass_promtool(tmp_path: Path) -> None:
    examples = [b for b in _blocks("yaml") if "scrape_configs:" in b]
    assert len(examples) == 3  # one exporter, the shards of a StatefulSet, and /scrape
    for example in examples:
        config = tmp_path / "prometheus.yml"
        config.write_text(example)
        result = subprocess.run(
            ["promtool", "check", "config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_pip_install_dot_builds(tmp_path: Path) -> None:
    if "pip install ." not in _commands():
        pytest.fail("README no longer shows `pip install .`; update this test")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("redis_ha_exporter-*.whl"))


def test_readme_container_and_deploy_commands_name_what_exists() -> None:
    """The ```console blocks (docker, kubectl) are not run: their files must exist, and the
    exporter flags after the image name must pass check-config."""
    lines = [line for block in _blocks("console") for line in block.splitlines() if line.strip()]
    seen: set[str] = set()
    image: str | None = None
    for words in map(shlex.split, lines):
        prefix: dict[str, str] = {}
        while "=" in words[0]:
            key, _, val = words.pop(0).partition("=")
            prefix[key] = val
        seen.add(" ".join(words[:2]))
        if words[:2] == ["docker", "build"]:
            image = words[words.index("-t") + 1]
            assert (ROOT / words[-1] / "Dockerfile").is_file()
        elif words[:2] == ["docker", "run"]:
            assert "--read-only" in words and words[words.index("--tmpfs") + 1] == "/tmp"
            assert words[words.index("-p") + 1].endswith(":9121")
            assert image in words, "docker run should start the image docker build made"
            env = {"PATH": f"{BIN}:/usr/bin:/bin"}
            for name in (words[i + 1] for i, w in enumerate(words) if w == "-e"):
                key, _, val = name.partition("=")
                env[key] = val if "=" in name else prefix[key]
            _check_config(words[words.index(image) + 1 :], env)
        elif words[:2] == ["docker", "compose"]:
            assert (ROOT / words[words.index("-f") + 1]).is_file(), words
        elif words[:2] == ["kubectl", "apply"]:
            assert (ROOT / words[words.index("-k") + 1] / "kustomization.yaml").is_file(), words
        else:
            pytest.fail(f"no check for this README command: {' '.join(words)}")
    assert seen == {"docker build", "docker run", "docker compose", "kubectl apply"}
