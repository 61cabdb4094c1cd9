"""Just enough of the Dockerfile and .dockerignore formats to test the image without Docker.

Handles what our Dockerfile uses: line continuations, comment lines, stages, and the
`KEY=VALUE` forms of ENV, ARG and LABEL. .dockerignore patterns are matched with fnmatch (whose
`*` also crosses `/`, unlike Docker's), `**/` at any depth, the last matching line winning.
"""

from __future__ import annotations

import fnmatch
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str  # upper case
    args: str

    def pairs(self) -> dict[str, str]:
        """ENV, ARG and LABEL in their KEY=VALUE form (quotes removed, `${...}` left as is)."""
        words = shlex.split(self.args)
        return dict(word.partition("=")[::2] for word in words)


@dataclass(slots=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def pairs(self, keyword: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for instruction in self.all(keyword):
            merged |= instruction.pairs()
        return merged


def logical_lines(text: str) -> list[str]:
    """Instructions with their continuation lines joined and comment lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends in a line continuation"
    return lines


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs (before the first FROM) and the stages."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            global_args |= Instruction(keyword, args).pairs()
        else:
            stages[-1].instructions.append(Instruction(keyword, args.strip()))
    return global_args, stages


@dataclass(frozen=True, slots=True)
class DockerIgnore:
    patterns: tuple[tuple[bool, str], ...]  # (excluded when matched, pattern)

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        patterns = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            patterns.append((not negated, line.removeprefix("!").strip("/")))
        return cls(tuple(patterns))

    def excludes(self, relative: str) -> bool:
        """Whether the path (or a directory above it) is left out of the build context."""
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for exclude, pattern in self.patterns:
            globs = {pattern, pattern.removeprefix("**/")}  # `**/x` matches x at the top too
            if any(fnmatch.fnmatchcase(c, g) for c in candidates for g in globs):
                excluded = exclude
        return excluded
