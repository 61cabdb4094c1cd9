"""The package's dependencies point one way, in the order the README's Development section lists the
modules, and the pure layers load no Redis client."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "redis_ha_exporter"


def _layers() -> list[str]:
    """Module names (`poll`, `sources`, ...) in the README's order."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Development", 1)[1].split("```", 2)[1]
    return re.findall(r"^  (\w+)(?:\.py|/)", block, flags=re.M)


def _top(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> set[str]:
    """The package modules a file imports, by top-level name (`redis_ha_exporter.sources.x`
    -> sources)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "redis_ha_exporter":
                names = [f"redis_ha_exporter.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "redis_ha_exporter" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_module_is_listed_in_the_readme() -> None:
    modules = {_top(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert modules == set(_layers())


def test_imports_point_only_to_modules_listed_before() -> None:
    order = {name: i for i, name in enumerate(_layers())}
    backwards = []
    for path in PACKAGE.rglob("*.py"):
        here = _top(path)
        if here in ("__init__", "__main__"):
            continue
        for target in _imports(path) - {here, "__version__"}:
            if target in order and order[target] > order[here]:
                backwards.append(f"{path.relative_to(ROOT)} imports {target}")
    assert backwards == []


def test_snapshot_and_sources_leave_io_to_the_poll() -> None:
    for path in [PACKAGE / "snapshot.py", *(PACKAGE / "sources").glob("*.py")]:
        tree = ast.parse(path.read_text())
        modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        assert not [m for m in modules if m.split(".")[0] == "redis"], path
    assert "sources" not in _imports(PACKAGE / "snapshot.py")


def test_importing_metrics_and_sources_loads_no_redis_client() -> None:
    code = (
        "import sys, redis_ha_exporter.metrics.node, redis_ha_exporter.sources; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_poll_path_loads_no_redis_client_until_a_sentinel_is_followed() -> None:
    # redis-py costs 20 MB of memory; only the Sentinel event subscriptions use it.
    code = (
        "import sys, redis_ha_exporter.cli, redis_ha_exporter.runtime, redis_ha_exporter.poller; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
