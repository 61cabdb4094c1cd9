"""The Prometheus rules in alerts/: promtool accepts them and their unit tests pass; every alert
follows the conventions (name, severity, annotations, a runbook section), has a promtool case
where it fires and one where it stays silent, and references only metrics the exporter emits."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.metricnames import is_emitted

ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))
RUNBOOK = ALERTS / "RUNBOOK.md"
RUNBOOK_URL = "https://github.com/redis-ha-exporter/redis-ha-exporter/blob/main/alerts/RUNBOOK.md"
SEVERITIES = ("critical", "warning", "info")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")

# Words of PromQL that look like metric names: keywords, binary operators and aggregations
# (functions need no list: a name followed by `(` is a call).
PROMQL_WORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
    | {"by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"}
    | {"bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)
# Label lists after a grouping or matching keyword.
LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
TOKEN = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|[A-Za-z_:][A-Za-z0-9_:]*")
# A query run from an annotation template: {{ ... printf `QUERY` ... | query }}.
TEMPLATE_QUERY = re.compile(r"printf\s+`([^`]*)`[^|}]*\|\s*query\b")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


@cache
def _rules() -> tuple[dict[str, Any], ...]:
    rules: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in _load(path)["groups"]:
            rules += group["rules"]
    return tuple(rules)


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _alert_names() -> list[str]:
    return sorted({rule["alert"] for rule in _alerts()})


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_headings() -> list[str]:
    return re.findall(r"^#{1,6} +(.+?) *$", RUNBOOK.read_text(), flags=re.MULTILINE)


def metric_names(expr: str) -> set[str]:
    """Metric and recording-rule names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"#[^\n]*", " ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = LABEL_LIST.sub(" ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    names = set()
    for match in TOKEN.finditer(text):
        word = match.group()
        if word[0].isdigit() or word[0] == "." or word.lower() in PROMQL_WORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function call
        names.add(word)
    return names


def _template_queries(rule: dict[str, Any]) -> list[str]:
    texts = [str(value) for value in rule.get("annotations", {}).values()]
    return [
        re.sub(r"%[qsdv]", '"x"', query) for text in texts for query in TEMPLATE_QUERY.findall(text)
    ]


def _alert_cases() -> dict[str, set[str]]:
    """Alert name -> the kinds of promtool cases it has: "fires", "silent"."""
    cases: dict[str, set[str]] = {}
    for path in TEST_FILES:
        for group in _load(path).get("tests", []):
            for case in group.get("alert_rule_test", []):
                kind = "fires" if case.get("exp_alerts") else "silent"
                cases.setdefault(case["alertname"], set()).add(kind)
    return cases


def test_rule_and_test_files_exist() -> None:
    assert RULE_FILES, "no alerts/*.rules.yml"
    assert TEST_FILES, "no alerts/tests/*.yml"
    assert _alerts(), "no alerting rules"


@needs_promtool
def test_rule_files_pass_promtool_check() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"promtool check rules failed:\n{result.stdout}{result.stderr}"


@needs_promtool
@pytest.mark.parametrize("path", TEST_FILES, ids=[path.name for path in TEST_FILES])
def test_promtool_unit_tests_pass(path: Path) -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, (
        f"promtool test rules {path.relative_to(ROOT)} failed:\n{result.stdout}{result.stderr}"
    )


def test_alerts_have_redis_names_severities_and_annotations() -> None:
    for rule in _alerts():
        name = rule["alert"]
        assert re.fullmatch(r"Redis[A-Z][A-Za-z0-9]*", name), name
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert str(annotations.get(key, "")).strip(), f"{name} has no {key}"
        assert annotations["runbook_url"] == f"{RUNBOOK_URL}#{github_anchor(name)}", name


def test_every_runbook_url_anchor_is_a_runbook_heading() -> None:
    anchors = {github_anchor(heading) for heading in _runbook_headings()}
    for rule in _alerts():
        url = rule["annotations"]["runbook_url"]
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no heading for {url}"


def test_runbook_has_a_section_for_each_alert_and_no_other() -> None:
    sections = {h for h in _runbook_headings() if re.fullmatch(r"Redis[A-Za-z0-9]+", h)}
    assert sections == set(_alert_names())


def test_runbook_table_gives_each_alert_its_severities() -> None:
    rows = dict(
        re.findall(
            r"^\| *\[(Redis[A-Za-z0-9]+)\]\(#[a-z0-9-]+\) *\| *([a-z, ]+?) *\|",
            RUNBOOK.read_text(),
            flags=re.MULTILINE,
        )
    )
    for name in _alert_names():
        found = {rule["labels"]["severity"] for rule in _alerts() if rule["alert"] == name}
        expected = ", ".join(s for s in SEVERITIES if s in found)
        assert rows.get(name) == expected, f"RUNBOOK table row of {name}"


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    cases = _alert_cases()
    for name in _alert_names():
        assert cases.get(name, set()) == {"fires", "silent"}, f"{name}: {cases.get(name)}"
    assert set(cases) <= set(_alert_names()), "promtool cases for alerts that do not exist"


def test_recording_rules_use_the_redis_colon_convention() -> None:
    for name in _recorded():
        assert re.fullmatch(r"redis:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_expressions_and_annotation_queries_use_only_emitted_metrics() -> None:
    recorded = _recorded()
    for rule in _rules():
        label = rule.get("alert") or rule.get("record")
        for expr in (str(rule["expr"]), *_template_queries(rule)):
            names = metric_names(expr)
            assert names, f"{label}: no metric found in {expr!r}"
            for name in names:
                if ":" in name:
                    assert name in recorded, f"{label}: {name} is not a recording rule here"
                else:
                    assert is_emitted(name), f"{label}: the exporter does not emit {name}"


def test_annotation_queries_are_found() -> None:
    rules = [rule for rule in _alerts() if "| query" in str(rule.get("annotations"))]
    assert rules
    for rule in rules:
        assert _template_queries(rule), rule["alert"]


def test_metric_names_skips_functions_keywords_labels_and_durations() -> None:
    expr = """
        max without (instance) (increase(redis_a_total{cmd="x y", b!~"c"}[5m] offset 1h)) > 1e6
        and on (instance, slave_ip) redis_b * on (instance) group_left (role) redis:c:max
        or sum by (job) (rate(redis_d[1m:10s])) unless topk(1, redis_e) # redis_f
    """
    assert metric_names(expr) == {"redis_a_total", "redis_b", "redis:c:max", "redis_d", "redis_e"}


def test_github_anchor_matches_githubs_rule() -> None:
    assert github_anchor("RedisDown") == "redisdown"
    assert github_anchor("Backup and restore (RDB, AOF)") == "backup-and-restore-rdb-aof"
