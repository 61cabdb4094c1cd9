"""The metric family model shared by the builders and the renderer."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.metrics.names import MetricDef, MetricType

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    suffix: str  # "" or "_sum" / "_count" / "_bucket" for summaries and histograms
    labels: Labels
    value: float


@dataclass(slots=True)
class Family:
    name: str
    type: MetricType
    help: str
    samples: list[Sample] = field(default_factory=list)


class FamilyBuilder:
    """Collects samples per metric, adding the node's `instance` label to each one."""

    def __init__(self, instance: str | None) -> None:
        self._base: Labels = (("instance", instance),) if instance is not None else ()
        self.families: dict[str, Family] = {}

    def _family(self, defn: MetricDef) -> Family:
        fam = self.families.get(defn.name)
        if fam is None:
            fam = self.families[defn.name] = Family(defn.name, defn.type, defn.help)
        return fam

    def add(self, defn: MetricDef, value: float, suffix: str = "", **labels: str) -> None:
        self._family(defn).samples.append(
            Sample(suffix, self._base + tuple(labels.items()), float(value))
        )

    def declare(self, defn: MetricDef) -> None:
        """Make the family exist even with no samples (keeps HELP/TYPE stable)."""
        self._family(defn)

    def build(self) -> list[Family]:
        return [f for f in self.families.values() if f.samples]
