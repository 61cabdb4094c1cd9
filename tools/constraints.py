"""constraints.txt, the container image's pins: every runtime dependency at its version in .venv.

.venv/bin/python -m tools.constraints           # print the file as it would be written
.venv/bin/python -m tools.constraints --write   # rewrite constraints.txt

The runtime block is the closure of pyproject's [project].dependencies, never the test or dev
tools. Extras are settled here; environment markers are kept: a dependency that only some
interpreters need (redis-py's `async-timeout` below Python 3.11.3) is pinned with its marker,
so the same file is right for Debian's 3.11.2 and the image's newer 3.11. Such a dependency
not installed here keeps the version the file already has. The build block at the end (the
image builder's pip and build backend) is not in that closure and is kept as written.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
BUILD_MARK = "# build:"
HEADER = """\
# Pins for the container image (Dockerfile: pip install -c constraints.txt .): every runtime
# dependency of redis-ha-exporter, transitive ones included, at the version in .venv, where
# the test suite runs against them; a marker limits a pin to the interpreters that need it.
# Regenerate after changing [project].dependencies in pyproject.toml or upgrading .venv:
#   .venv/bin/python -m tools.constraints --write
"""
DEFAULT_BUILD = """\
# build: the builder stage's pip and the build backend ([build-system].requires); kept by
# --write, bumped by hand.
"""


@dataclass(frozen=True, slots=True)
class Pin:
    version: str
    marker: str = ""  # "" for every interpreter

    def applies(self) -> bool:
        """Whether this interpreter needs the pin."""
        return not self.marker or Marker(self.marker).evaluate()

    def line(self, name: str) -> str:
        return f"{name}=={self.version}" + (f"; {self.marker}" if self.marker else "")


def read_pins(text: str) -> dict[str, Pin]:
    """The `name==version[; marker]` lines of a constraints file, by canonical name."""
    pins: dict[str, Pin] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec, _, marker = line.partition(";")
        name, sep, version = spec.strip().partition("==")
        if not sep or not version.strip():
            raise ValueError(f"constraints: {line!r} is not pinned with ==")
        pins[canonicalize_name(name.strip())] = Pin(version.strip(), marker.strip())
    return pins


def _environment_only(marker: Marker) -> bool:
    # Extras are settled by the walk; a marker on an environment is carried into the file.
    return "extra" not in str(marker)


def _both(outer: str | None, inner: str) -> str:
    return inner if outer is None else f"({outer}) and ({inner})"


def claimed_pythons() -> list[str]:
    """The Python versions the classifiers claim, as `3.11` strings."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: "
    found = (c.removeprefix(prefix) for c in project.get("classifiers", []))
    return [v for v in found if v.count(".") == 1]


def possible(marker: str, pythons: list[str]) -> bool:
    """Whether `marker` holds on this platform under any of `pythons` (first or late patch)."""
    parsed = Marker(marker)
    return any(
        parsed.evaluate({"python_version": v, "python_full_version": f"{v}.{patch}"})
        for v in pythons
        for patch in (0, 99)
    )


def closure(requirements: list[str], known: dict[str, Pin] | None = None) -> dict[str, Pin]:
    """Name -> pin for `requirements` and everything they pull in, on any interpreter.

    A dependency behind an environment marker is followed whether or not the marker holds
    here; when it is not installed here, its version comes from `known` (the current file).
    """
    known = known or {}
    pythons = claimed_pythons()
    conditions: dict[str, set[str | None]] = {}  # None: needed unconditionally
    versions: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    todo: list[tuple[Requirement, str | None]] = [(Requirement(r), None) for r in requirements]
    while todo:
        req, condition = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None:
            if not _environment_only(req.marker):
                if not req.marker.evaluate({"extra": ""}):
                    continue
            else:
                condition = _both(condition, str(req.marker))
                if not possible(condition, pythons):
                    continue  # for interpreters we do not support (exceptiongroup < 3.11)
        seen = conditions.setdefault(name, set())
        new_extras = set(req.extras) - extras_seen.get(name, set())
        if condition in seen and not new_extras:
            continue
        seen.add(condition)
        extras_seen[name] = extras_seen.get(name, set()) | set(req.extras)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            if condition is not None and name in known:
                versions[name] = known[name].version  # not needed by this interpreter
                continue
            raise SystemExit(f"{req.name} is required but not installed in {sys.prefix}") from None
        versions[name] = dist.version
        for line in dist.requires or []:
            dep = Requirement(line)
            wanted = {""} | extras_seen[name]
            if dep.marker is not None and not _environment_only(dep.marker):
                if not any(dep.marker.evaluate({"extra": e}) for e in wanted):
                    continue
                dep.marker = None
            todo.append((dep, condition))
    pins: dict[str, Pin] = {}
    for pkg, conds in conditions.items():
        if pkg not in versions:
            continue
        if None in conds:
            pins[pkg] = Pin(versions[pkg])
        else:
            markers = sorted(c for c in conds if c is not None)
            text = markers[0] if len(markers) == 1 else " or ".join(f"({m})" for m in markers)
            pins[pkg] = Pin(versions[pkg], str(Marker(text)))
    return pins


def runtime_pins(requirements: list[str], known: dict[str, Pin] | None = None) -> dict[str, str]:
    """Name -> version of what this interpreter installs for `requirements`."""
    return {name: p.version for name, p in closure(requirements, known).items() if p.applies()}


def build_block(text: str) -> str:
    """The hand-kept build section of an existing constraints.txt."""
    _, mark, rest = text.partition(BUILD_MARK)
    return mark + rest if mark else DEFAULT_BUILD


def render(existing: str) -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, _, _ = existing.partition(BUILD_MARK)
    pins = closure(project["dependencies"], read_pins(runtime))
    body = "".join(f"{pins[name].line(name)}\n" for name in sorted(pins))
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
