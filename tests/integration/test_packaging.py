"""The sdist and wheel that `python -m build` makes: valid for PyPI, and holding what they should.

The build runs on a copy of the work tree without generated files (as a fresh checkout would
be), in the default isolated environment, so it needs PyPI for setuptools and leaves the
work tree untouched.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import redis_ha_exporter
from tests.conftest import ROOT

# Made by tools and tests, never part of a checkout.
GENERATED = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


@dataclass(frozen=True, slots=True)
class Dists:
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    tree = tmp_path_factory.mktemp("tree") / "redis-ha-exporter"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*GENERATED), symlinks=True)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dists(wheel=wheel, sdist=sdist)


def test_wheel_and_sdist_pass_twine_check_strict(dists: Dists) -> None:
    twine = Path(sys.executable).parent / "twine"
    result = subprocess.run(
        [str(twine), "check", "--strict", str(dists.wheel), str(dists.sdist)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_holds_the_package_and_its_metadata_only(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "redis_ha_exporter").rglob("*.py")}
    package.add("redis_ha_exporter/py.typed")
    dist_info = f"redis_ha_exporter-{redis_ha_exporter.__version__}.dist-info"
    assert {n for n in names if not n.startswith(f"{dist_info}/")} == package
    assert {n.removeprefix(f"{dist_info}/") for n in names if n.startswith(dist_info)} == {
        "METADATA",
        "WHEEL",
        "RECORD",
        "entry_points.txt",
        "top_level.txt",
        "licenses/LICENSE",
    }


def test_wheel_metadata_has_the_package_version_license_and_urls(dists: Dists) -> None:
    dist_info = f"redis_ha_exporter-{redis_ha_exporter.__version__}.dist-info"
    with zipfile.ZipFile(dists.wheel) as wheel:
        metadata = email.message_from_bytes(wheel.read(f"{dist_info}/METADATA"))
        license_text = wheel.read(f"{dist_info}/licenses/LICENSE").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert metadata["Name"] == "redis-ha-exporter"
    assert metadata["Version"] == redis_ha_exporter.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0" in license_text
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL", []))
    assert set(urls) == {"Homepage", "Source", "Issues", "Changelog"}
    assert all(u.startswith("https://github.com/redis-ha-exporter/") for u in urls.values())
    assert "redis-ha-exporter = redis_ha_exporter.cli:main" in entry_points


def test_sdist_holds_license_readme_changelog_and_no_virtualenv(dists: Dists) -> None:
    top = f"redis_ha_exporter-{redis_ha_exporter.__version__}"
    with tarfile.open(dists.sdist) as sdist:
        names = {n.removeprefix(f"{top}/") for n in sdist.getnames()}
    for required in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"):
        assert required in names, required
    assert "redis_ha_exporter/py.typed" in names
    assert not {n for n in names if n.split("/")[0] in (".venv", ".git", "tests", "build")}
