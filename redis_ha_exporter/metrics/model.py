"""The metric family model shared by the builders and the renderer.

A builder renders each sample's line as it is added: the label text of the node is built once
per builder and a value is formatted once, so the renderer only concatenates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["gauge", "counter", "summary", "histogram", "untyped"]
NAMESPACE = "redis"
_INF = float("inf")


@dataclass(frozen=True, slots=True)
class MetricDef:
    """A metric family's name, type and help text, declared once beside the code that emits it."""

    name: str
    type: MetricType
    help: str


def metric(name: str, mtype: MetricType, help_text: str) -> MetricDef:
    """A family in the `redis_` namespace (the compatibility contract fixes it)."""
    return MetricDef(f"{NAMESPACE}_{name}", mtype, help_text)


def declared(namespace: Mapping[str, object]) -> tuple[MetricDef, ...]:
    """The MetricDefs a module declares: its module-level ones and those in its dicts."""
    found: list[MetricDef] = []
    for value in namespace.values():
        if isinstance(value, MetricDef):
            found.append(value)
        elif isinstance(value, dict):
            found += [d for d in value.values() if isinstance(d, MetricDef)]
    return tuple(found)


def escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def format_value(value: float) -> str:
    """Integers as integers (`42`, as Go prints them); other floats as Python's shortest
    round-trip repr; infinities and NaN spelled as Prometheus spells them."""
    if value.__class__ is int:
        return str(value)
    number = float(value)
    if number.is_integer() and -1e15 < number < 1e15:
        return str(int(number))
    if number != number:
        return "NaN"
    if number == _INF:
        return "+Inf"
    if number == -_INF:
        return "-Inf"
    return repr(number)


@dataclass(slots=True)
class Family:
    """One metric family of one node (or of the exporter): its rendered sample lines."""

    name: str
    type: MetricType
    help: str
    lines: list[str] = field(default_factory=list)  # "name{labels} value\n"


class FamilyBuilder:
    """Collects samples per metric, adding the node's `instance` label to each one."""

    def __init__(self, instance: str | None) -> None:
        self._base = f'instance="{escape_label(instance)}"' if instance is not None else ""
        self._bare = "{" + self._base + "}" if instance is not None else ""
        self.families: dict[str, Family] = {}

    def _family(self, defn: MetricDef) -> Family:
        fam = self.families.get(defn.name)
        if fam is None:
            fam = self.families[defn.name] = Family(defn.name, defn.type, defn.help)
        return fam

    def add(self, defn: MetricDef, value: float, suffix: str = "", **labels: str) -> None:
        fam = self.families.get(defn.name)
        if fam is None:
            fam = self._family(defn)
        text = str(value) if value.__class__ is int else format_value(value)
        if not labels:
            fam.lines.append(f"{defn.name}{suffix}{self._bare} {text}\n")
            return
        pairs = ",".join([f'{k}="{escape_label(v)}"' for k, v in labels.items()])
        if self._base:
            fam.lines.append(f"{defn.name}{suffix}{{{self._base},{pairs}}} {text}\n")
        else:
            fam.lines.append(f"{defn.name}{suffix}{{{pairs}}} {text}\n")

    def declare(self, defn: MetricDef) -> None:
        """Make the family exist even with no samples (keeps HELP/TYPE stable)."""
        self._family(defn)

    def build(self) -> list[Family]:
        return [f for f in self.families.values() if f.lines]
