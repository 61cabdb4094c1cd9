"""The metric family model shared by the builders and the renderer, and the packed form a
node's families take: one byte string with an offset per family.

A builder renders each sample's line as it is added: the label text of the node is built once
per builder and a value is formatted once, so packing only concatenates.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Literal

MetricType = Literal["gauge", "counter", "summary", "histogram", "untyped"]
NAMESPACE = "redis"
_INF = float("inf")
# Sorted by name: (name, type, help) of each family in a Packed.
Layout = tuple[tuple[str, str, str], ...]
# Bounded whatever the nodes report: each distinct layout kept once, shared by its nodes.
LAYOUTS_KEPT = 1000


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


@dataclass(frozen=True, slots=True)
class Packed:
    """Families as one byte string, one entry per family name, sorted: family i's lines are
    `blob[offsets[i]:offsets[i + 1]]`. A thousand nodes then hold a few objects each instead
    of hundreds, and nodes of one kind share their `layout`."""

    layout: Layout
    blob: bytes
    offsets: array[int]


def offsets(ends: Iterable[int]) -> array[int]:
    """Family offsets kept as machine integers: a node's hundreds of them cost 4 bytes each
    rather than an object each."""
    return array("I", ends)


EMPTY = Packed((), b"", offsets((0,)))


def shared(layout: Layout, layouts: dict[Layout, Layout] | None) -> Layout:
    """The one copy of `layout` in `layouts` (added when new)."""
    if layouts is None:
        return layout
    if len(layouts) > LAYOUTS_KEPT:
        layouts.clear()
    return layouts.setdefault(layout, layout)


@dataclass(slots=True)
class Family:
    """One metric family of one node (or of the exporter): its rendered sample lines."""

    name: str
    type: MetricType
    help: str
    lines: list[str] = field(default_factory=list)  # "name{labels} value\n"


class FamilyBuilder:
    """Collects samples per metric, adding the node's `instance` label to each one, and packs
    them. A value given as text (an INFO number as the reply spelled it) is written as it is."""

    def __init__(self, instance: str | None) -> None:
        self._base = f'instance="{escape_label(instance)}"' if instance is not None else ""
        self._bare = "{" + self._base + "}" if instance is not None else ""
        self.families: dict[str, Family] = {}

    def family(self, defn: MetricDef) -> Family:
        fam = self.families.get(defn.name)
        if fam is None:
            fam = self.families[defn.name] = Family(defn.name, defn.type, defn.help)
        return fam

    def add(self, defn: MetricDef, value: float | str, suffix: str = "", /, **labels: str) -> None:
        fam = self.families.get(defn.name)
        if fam is None:
            fam = self.family(defn)
        if isinstance(value, str):
            text = value
        else:
            text = str(value) if value.__class__ is int else format_value(value)
        if not labels:
            fam.lines.append(f"{defn.name}{suffix}{self._bare} {text}\n")
            return
        pairs = ",".join([f'{k}="{escape_label(v)}"' for k, v in labels.items()])
        if self._base:
            fam.lines.append(f"{defn.name}{suffix}{{{self._base},{pairs}}} {text}\n")
        else:
            fam.lines.append(f"{defn.name}{suffix}{{{pairs}}} {text}\n")

    def packed(self, layouts: dict[Layout, Layout] | None = None) -> Packed:
        """The families added so far, packed; `layouts` shares one copy of each layout."""
        families = self.families
        if not families:
            return EMPTY
        names = sorted(families)
        layout = tuple((name, families[name].type, families[name].help) for name in names)
        chunks = ["".join(families[name].lines).encode() for name in names]
        ends = offsets((0, *accumulate(map(len, chunks))))
        return Packed(shared(layout, layouts), b"".join(chunks), ends)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How two layouts merge: runs of consecutive families taken from one part or the other;
    a run that `continues` appends its first family's lines to the family before it."""

    first: Layout
    second: Layout
    layout: Layout
    runs: tuple[tuple[int, int, int, bool], ...]  # (part, start, stop, continues)


Plans = dict[tuple[int, int], _Plan]


def _plan(first: Layout, second: Layout, layouts: dict[Layout, Layout] | None) -> _Plan:
    runs: list[list[int]] = []  # [part, start, stop, continues]
    layout = []

    def take(part: int, i: int, continues: bool = False) -> None:
        last = runs[-1] if runs else None
        if last is not None and not continues and last[0] == part and last[2] == i:
            last[2] = i + 1
        else:
            runs.append([part, i, i + 1, continues])

    i = j = 0
    while i < len(first) or j < len(second):
        if j == len(second) or (i < len(first) and first[i][0] < second[j][0]):
            layout.append(first[i])
            take(0, i)
            i += 1
        elif i == len(first) or second[j][0] < first[i][0]:
            layout.append(second[j])
            take(1, j)
            j += 1
        else:  # a family both parts have: one header, the first part's lines first
            layout.append(first[i])
            take(0, i)
            take(1, j, continues=True)
            i += 1
            j += 1
    steps = tuple((part, start, stop, bool(cont)) for part, start, stop, cont in runs)
    return _Plan(first, second, shared(tuple(layout), layouts), steps)


def merge(
    first: Packed, second: Packed, plans: Plans, layouts: dict[Layout, Layout] | None = None
) -> Packed:
    """Both parts as one: each family once, in name order, the first part's lines before the
    second's. The plan is made once per pair of layouts (`plans`, keyed by their identity)."""
    if not second.layout:
        return first
    if not first.layout:
        return second
    key = (id(first.layout), id(second.layout))
    plan = plans.get(key)
    if plan is None or plan.first is not first.layout or plan.second is not second.layout:
        if len(plans) > LAYOUTS_KEPT:
            plans.clear()
        # The plan holds both layouts, so their ids cannot be reused while it is kept.
        plan = plans[key] = _plan(first.layout, second.layout, layouts)
    parts = (first, second)
    chunks = []
    starts = [0]
    total = 0
    for part, start, stop, continues in plan.runs:
        ends = parts[part].offsets
        low, high = ends[start], ends[stop]
        chunks.append(memoryview(parts[part].blob)[low:high])
        if continues:
            starts.pop()
        starts += map((total - low).__add__, ends[start + 1 : stop + 1])
        total += high - low
    return Packed(plan.layout, b"".join(chunks), offsets(starts))
