"""Every query the dashboards run (panels, template variables, annotations), and Grafana's
macros resolved into plain PromQL, for tests that evaluate them against a real Prometheus."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DIR = Path(__file__).resolve().parent
MACROS = {"__rate_interval": "30s", "__range": "5m", "__interval": "15s"}

Kind = Literal["panel", "variable", "annotation"]


@dataclass(frozen=True, slots=True)
class Expression:
    """One query of a dashboard (`dashboard` is its uid, the key of conditional.json): `panel` is
    the panel's title, `$name` for a variable, or the annotation's name. A variable's
    `label_values(selector, label)` is given as the PromQL `group by (label) (selector)`, which
    returns the same label values, so every `expr` is PromQL with Grafana's variables."""

    dashboard: str
    panel: str
    expr: str
    kind: Kind
    ref_id: str = ""


def dashboard_files() -> list[Path]:
    """The committed dashboard JSON files."""
    return sorted(DIR.glob("redis-*.json"))


def load() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in dashboard_files()]


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel but rows, including those inside collapsed rows."""
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def expressions(boards: Iterable[Mapping[str, Any]] | None = None) -> list[Expression]:
    """(dashboard uid, panel title, expression) of every query of the committed dashboards
    (panels, template variables, annotations), or of `boards` (parsed JSON) when given."""
    found: list[Expression] = []
    for board in load() if boards is None else boards:
        uid = board["uid"]
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                query = _label_values_as_promql(var["query"])
                found.append(Expression(uid, f"${var['name']}", query, "variable"))
        for annotation in board.get("annotations", {}).get("list", []):
            expr = annotation.get("expr") or annotation.get("target", {}).get("expr")
            if expr:
                found.append(Expression(uid, annotation["name"], expr, "annotation"))
        for panel in panels(board):
            for target in panel.get("targets", []):
                found.append(
                    Expression(uid, panel["title"], target["expr"], "panel", target["refId"])
                )
    return found


_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)\s*$")


def to_promql(expr: str, variables: Mapping[str, str] | None = None) -> str:
    """`expr` as Prometheus' query API takes it: `$__rate_interval` → 30s, `$__range` → 5m,
    `$__interval` → 15s, each other variable → its value in `variables` or `.*`, and a
    variable query `label_values(selector, label)` → `group by (label) (selector)`."""
    values = {**MACROS, **(variables or {})}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, ".*")

    return _label_values_as_promql(_VARIABLE.sub(substitute, expr))


def _label_values_as_promql(query: str) -> str:
    label_values = _LABEL_VALUES.match(query)
    if label_values:
        return f"group by ({label_values['label']}) ({label_values['selector']})"
    return query
