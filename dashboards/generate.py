"""`python -m dashboards.generate` writes each dashboard's JSON and conditional.json from the
Python definitions; with `--check` it writes nothing and exits 1 when a committed file differs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboards import fleet, ha, node
from dashboards.board import CONDITIONAL_ANNOTATIONS
from dashboards.queries import DIR, Expression, expressions

# The expression listing lives in dashboards.queries (it needs no SDK); tests import it here too.
__all__ = ["DASHBOARDS", "Expression", "expressions", "main", "render"]


@dataclass(frozen=True, slots=True)
class Spec:
    file: str
    uid: str
    build: Callable[[], dict[str, Any]]
    conditional: Mapping[str, str]


DASHBOARDS = (
    Spec("redis-node.json", node.UID, node.build, node.CONDITIONAL),
    Spec("redis-ha.json", ha.UID, ha.build, ha.CONDITIONAL),
    Spec("redis-fleet.json", fleet.UID, fleet.build, fleet.CONDITIONAL),
)
CONDITIONAL_FILE = "conditional.json"


def _dumps(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """File name → the text it should hold."""
    files = {spec.file: _dumps(spec.build()) for spec in DASHBOARDS}
    conditional = {spec.uid: {**spec.conditional, **CONDITIONAL_ANNOTATIONS} for spec in DASHBOARDS}
    files[CONDITIONAL_FILE] = _dumps(conditional)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.generate", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a committed file is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = DIR / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text)
            print(f"wrote dashboards/{name}")
    if args.check and stale:
        for name in stale:
            print(f"dashboards/{name} is out of date", file=sys.stderr)
        print("run: python -m dashboards.generate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
