"""The Grafana dashboards: the committed JSON is what the generator writes, and every dashboard
passes the house lint (data source variable, stable uid, descriptions and units, rates over
$__rate_interval, counters only inside rate functions, aggregating stat panels, emitted metric
names, conditional.json and the README's runbook table naming real panels)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import generate
from dashboards.queries import DIR, Expression, expressions, load, panels, to_promql
from tests.conftest import ROOT
from tests.metricnames import declared_defs, is_emitted

UIDS = {
    "Redis node": "redis-ha-node",
    "Redis HA / Sentinel": "redis-ha-sentinel",
    "Redis fleet": "redis-ha-fleet",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE_FUNCTIONS = {"rate", "irate", "increase"}
COUNTER_FUNCTIONS = RATE_FUNCTIONS | {"changes", "resets"}
# Aggregations that return one series when not grouped (topk and bottomk return k).
AGGREGATIONS = {"sum", "min", "max", "avg", "count", "group", "quantile", "stddev", "stdvar"}
SCALARS = {"vector", "scalar", "time"}
KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
SET_OPERATORS = {"and", "or", "unless"}
OPERATORS = set("+-*/%^<>=!")

BOARDS = load()
EXPRESSIONS = expressions(BOARDS)


def _board_id(board: dict[str, Any]) -> str:
    return str(board["uid"])


def _expr_id(expr: Expression) -> str:
    return f"{expr.dashboard}:{expr.panel}:{expr.ref_id or expr.kind}"


# --- a small PromQL scanner --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident, number, string, matchers, range, or the character itself
    text: str


_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"[0-9][0-9.eE+]*[a-z]*")


def _skip_quoted(expr: str, start: int) -> int:
    quote, i = expr[start], start + 1
    while expr[i] != quote:
        i += 2 if expr[i] == "\\" else 1
    return i + 1


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char.isspace():
            i += 1
        elif char in "\"'`":
            end = _skip_quoted(expr, i)
            tokens.append(Token("string", expr[i:end]))
            i = end
        elif char in "{[":
            close, end = "}" if char == "{" else "]", i + 1
            while expr[end] != close:
                end = _skip_quoted(expr, end) if expr[end] in "\"'" else end + 1
            tokens.append(Token("matchers" if char == "{" else "range", expr[i : end + 1]))
            i = end + 1
        elif match := _IDENT.match(expr, i):
            tokens.append(Token("ident", match.group()))
            i = match.end()
        elif match := _NUMBER.match(expr, i):
            tokens.append(Token("number", match.group()))
            i = match.end()
        else:
            tokens.append(Token(char, char))
            i += 1
    return tokens


@dataclass(frozen=True, slots=True)
class MetricRef:
    name: str
    enclosing: tuple[str, ...]  # the functions and aggregations around it, outermost first


def _call_name(tokens: Sequence[Token], i: int) -> str:
    """The function or aggregation whose argument list opens at `tokens[i]`, or ""."""
    before = tokens[i - 1] if i else None
    if before is not None and before.kind == "ident":
        return before.text
    if before is not None and before.kind == ")":  # `sum by (labels) (`
        j = i - 2
        while j > 0 and tokens[j].kind != "(":
            j -= 1
        if j >= 2 and tokens[j - 1].text in ("by", "without"):
            return tokens[j - 2].text
    return ""


def metric_refs(expr: str) -> list[MetricRef]:
    """Every metric name `expr` selects, with the calls it sits in."""
    tokens = tokenize(expr)
    frames: list[list[Any]] = []  # [call name or "", commas seen]
    refs: list[MetricRef] = []
    for i, token in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        grouped = after is not None and after.text in ("by", "without")
        if token.kind == "(":
            frames.append([_call_name(tokens, i), 0])
        elif token.kind == ")":
            frames.pop()
        elif token.kind == "," and frames:
            frames[-1][1] += 1
        elif token.kind == "ident" and (after is None or after.kind != "(") and not grouped:
            in_label_list = bool(frames) and frames[-1][0] in LABEL_LISTS
            label_argument = bool(frames) and frames[-1][0] == "label_values" and frames[-1][1]
            if token.text not in KEYWORDS and not in_label_list and not label_argument:
                refs.append(MetricRef(token.text, tuple(str(f[0]) for f in frames)))
    return refs


def _split_top_level(tokens: Sequence[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        depth += (token.kind == "(") - (token.kind == ")")
        binary = token.kind in OPERATORS or (token.kind == "ident" and token.text in SET_OPERATORS)
        if depth == 0 and binary:
            parts.append([])
        else:
            parts[-1].append(token)
    return [part for part in parts if part]


def _strip_modifiers(part: list[Token]) -> list[Token]:
    """Drops `on(...)`, `ignoring(...)`, `group_left(...)` that follow a binary operator."""
    while len(part) > 1 and part[0].kind == "ident" and part[0].text in LABEL_LISTS:
        close = next(i for i, t in enumerate(part) if t.kind == ")")
        part = part[close + 1 :]
    return part


def aggregates(tokens: Sequence[Token]) -> bool:
    """Every top-level operand is an ungrouped aggregation or a scalar: one series at most."""
    for part in map(_strip_modifiers, _split_top_level(tokens)):
        first = part[0]
        if first.kind == "number" or (first.kind == "ident" and first.text in SCALARS):
            continue
        if first.kind == "(" and part[-1].kind == ")":
            if not aggregates(part[1:-1]):
                return False
            continue
        if not (first.kind == "ident" and first.text in AGGREGATIONS):
            return False
        if _grouped(part):
            return False
    return True


def _grouped(part: Sequence[Token]) -> bool:
    """`part` (an aggregation) has a `by` or `without` clause of its own."""
    depth = 0
    for token in part:
        depth += (token.kind == "(") - (token.kind == ")")
        if depth == 0 and token.kind == "ident" and token.text in ("by", "without"):
            return True
    return False


def _counter_names() -> frozenset[str]:
    defs = declared_defs()
    names = {d.name for d in defs if d.type == "counter"}
    names |= {
        f"{d.name}_{s}"
        for d in defs
        if d.type in ("summary", "histogram")
        for s in ("sum", "count")
    }
    return frozenset(names)


COUNTERS = _counter_names()


def is_counter(name: str) -> bool:
    return name.endswith("_total") or name in COUNTERS


def test_scanner_finds_metrics_their_calls_and_aggregation() -> None:
    expr = (
        'sum by (cmd) (rate(redis_commands_total{cmd="get"}[$__rate_interval])) '
        '/ on(cmd) group_left() max(redis_up{instance=~"a|b"}) or vector(0)'
    )
    assert metric_refs(expr) == [
        MetricRef("redis_commands_total", ("sum", "rate")),
        MetricRef("redis_up", ("max",)),
    ]
    assert not aggregates(tokenize(expr))  # sum by (cmd) gives a series per command
    assert aggregates(tokenize("sum(rate(a[1m])) / (sum(b) + max(c)) or vector(0)"))
    assert not aggregates(tokenize("max by (instance) (redis_up)"))
    assert not aggregates(tokenize("max(redis_up) by (master_name)"))
    assert not aggregates(tokenize("topk(3, redis_up)"))
    assert not aggregates(tokenize("redis_up / 2"))
    assert metric_refs('label_values(redis_up{job=~"$job"}, instance)') == [
        MetricRef("redis_up", ("label_values",))
    ]
    assert is_counter("redis_total_error_replies") and not is_counter("redis_up")


# --- generation --------------------------------------------------------------------------------


def test_committed_files_are_what_the_generator_writes() -> None:
    for name, text in generate.render().items():
        path = DIR / name
        committed = path.read_text() if path.exists() else None
        assert committed == text, (
            f"dashboards/{name} is out of date: run `.venv/bin/python -m dashboards.generate`"
        )


def test_check_fails_on_stale_files_and_writing_fixes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(generate, "DIR", tmp_path)
    assert generate.main(["--check"]) == 1
    assert list(tmp_path.iterdir()) == []
    assert "python -m dashboards.generate" in capsys.readouterr().err
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0


def test_there_are_the_three_dashboards_with_stable_uids() -> None:
    assert {board["title"]: board["uid"] for board in BOARDS} == UIDS


# --- lint of every dashboard -------------------------------------------------------------------


@pytest.mark.parametrize("board", BOARDS, ids=_board_id)
def test_dashboard_is_importable_anywhere(board: dict[str, Any]) -> None:
    assert "__inputs" not in board
    assert board["schemaVersion"] == dm.Dashboard().schema_version
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "master_name", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DATASOURCE
    assert variables["instance"]["multi"] and variables["instance"]["includeAll"]
    for annotation in board["annotations"]["list"]:
        assert annotation["datasource"] == DATASOURCE
    for panel in panels(board):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]


@pytest.mark.parametrize("board", BOARDS, ids=_board_id)
def test_every_panel_has_a_unique_title_a_description_and_a_unit(board: dict[str, Any]) -> None:
    titles = [p["title"] for p in board["panels"]]
    assert len(titles) == len(set(titles)), "titles (rows included) must be unique"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        assert panel["description"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and all(refs) and len(refs) == len(set(refs)), panel["title"]


@pytest.mark.parametrize("board", BOARDS, ids=_board_id)
def test_stat_panels_aggregate_the_selection_into_one_series(board: dict[str, Any]) -> None:
    for panel in panels(board):
        if panel["type"] == "stat":
            for target in panel["targets"]:
                assert aggregates(tokenize(target["expr"])), (panel["title"], target["expr"])


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=_expr_id)
def test_rates_use_rate_interval(expr: Expression) -> None:
    for call in re.finditer(r"\b(?:i?rate|increase)\(", expr.expr):
        depth, end = 1, call.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(expr.expr[end], 0)
            end += 1
        ranges = re.findall(r"\[[^\]]*\]", expr.expr[call.end() : end])
        assert ranges == ["[$__rate_interval]"], expr.expr


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=_expr_id)
def test_counters_appear_only_inside_rate_functions(expr: Expression) -> None:
    for ref in metric_refs(expr.expr):
        if is_counter(ref.name):
            assert COUNTER_FUNCTIONS & set(ref.enclosing), f"bare counter {ref.name}: {expr.expr}"


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=_expr_id)
def test_every_metric_referenced_is_emitted(expr: Expression) -> None:
    refs = metric_refs(expr.expr)
    assert refs, expr.expr
    assert [r.name for r in refs if not is_emitted(r.name)] == []


def test_expressions_list_panels_variables_and_annotations() -> None:
    kinds = {(e.dashboard, e.kind) for e in EXPRESSIONS}
    for uid in UIDS.values():
        assert {(uid, "panel"), (uid, "variable"), (uid, "annotation")} <= kinds
    # Variables come as PromQL that returns the same label values.
    assert {e.expr for e in EXPRESSIONS if e.panel == "$job"} == {"group by (job) (redis_up)"}
    assert to_promql('rate(x{instance=~"$instance"}[$__rate_interval])') == (
        'rate(x{instance=~".*"}[30s])'
    )
    assert to_promql('label_values(redis_up{job=~"$job"}, job)', {"job": "redis"}) == (
        'group by (job) (redis_up{job=~"redis"})'
    )
    assert to_promql('label_replace(x, "a", "$1", "b", "(.*)")') == (
        'label_replace(x, "a", "$1", "b", "(.*)")'
    )


# --- documents that name panels ----------------------------------------------------------------


def _titles(uid: str) -> set[str]:
    board = next(b for b in BOARDS if b["uid"] == uid)
    names = {p["title"] for p in panels(board)}
    return names | {a["name"] for a in board["annotations"]["list"]}


def test_conditional_json_names_only_existing_panels() -> None:
    conditional = json.loads((DIR / "conditional.json").read_text())
    assert set(conditional) == set(UIDS.values())
    for uid, entries in conditional.items():
        assert set(entries) <= _titles(uid), uid
        assert all(why.strip() for why in entries.values())


def test_readme_runbook_table_names_existing_panels() -> None:
    readme = (ROOT / "dashboards/README.md").read_text()
    section = readme.split("## Runbook questions", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) >= 11
    for row in rows:
        _, dashboard, titles = (cell.strip() for cell in row.strip("|").split("|"))
        uid = UIDS[dashboard]
        assert set(re.findall(r"`([^`]+)`", titles)) <= _titles(uid), row
