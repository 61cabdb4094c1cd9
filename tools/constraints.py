"""constraints.txt, the container image's pins: every runtime dependency at its version in .venv.

.venv/bin/python -m tools.constraints           # print the file as it would be written
.venv/bin/python -m tools.constraints --write   # rewrite constraints.txt

The runtime block is the closure of pyproject's [project].dependencies (extras and markers
evaluated for this interpreter), never the test or dev tools. The build block at the end (the
image builder's pip and build backend) is not in that closure and is kept as written.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
BUILD_MARK = "# build:"
HEADER = """\
# Pins for the container image (Dockerfile: pip install -c constraints.txt .): every runtime
# dependency of redis-ha-exporter, transitive ones included, at the version in .venv, where
# the test suite runs against them. Regenerate after changing [project].dependencies in
# pyproject.toml or upgrading .venv:
#   .venv/bin/python -m tools.constraints --write
"""
DEFAULT_BUILD = """\
# build: the builder stage's pip and the build backend ([build-system].requires); kept by
# --write, bumped by hand.
"""


def runtime_pins(requirements: list[str]) -> dict[str, str]:
    """Name -> installed version for `requirements` and everything they pull in."""
    pins: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        new_extras = set(req.extras) - extras_seen.get(name, set())
        if name in pins and not new_extras:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise SystemExit(f"{req.name} is required but not installed in {sys.prefix}") from None
        pins[name] = dist.version
        extras_seen[name] = extras_seen.get(name, set()) | set(req.extras)
        for line in dist.requires or []:
            dep = Requirement(line)
            wanted = {""} | extras_seen[name]
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in wanted):
                # Markers are settled here; the one on the dependency line is for its parent.
                dep.marker = None
                todo.append(dep)
    return pins


def build_block(text: str) -> str:
    """The hand-kept build section of an existing constraints.txt."""
    _, mark, rest = text.partition(BUILD_MARK)
    return mark + rest if mark else DEFAULT_BUILD


def render(existing: str) -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = runtime_pins(project["dependencies"])
    body = "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))
    return f"{HEADER}\n{body}\n{build_block(existing)}"


def main(argv: list[str]) -> int:
    existing = CONSTRAINTS.read_text() if CONSTRAINTS.exists() else ""
    text = render(existing)
    if argv[1:] == ["--write"]:
        CONSTRAINTS.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
