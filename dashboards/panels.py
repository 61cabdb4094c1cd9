"""Panel factories that always set a description, a unit, the data source, a reference id per
query and a size; value mappings and thresholds."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import bargauge, prometheus, stat, statetimeline, table
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries as ts
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

# --- value mappings and thresholds ------------------------------------------------------------


def values(mapping: Mapping[float, tuple[str, str]]) -> list[dm.ValueMapping]:
    """Value → (text, colour) mappings, e.g. `{0: ("no limit", "blue")}`."""
    options = {
        f"{value:g}": dm.ValueMappingResult(text=text, color=color, index=i)
        for i, (value, (text, color)) in enumerate(mapping.items())
    }
    return [dm.ValueMap(options=options)]


def nan_as(text: str) -> dm.ValueMapping:
    return dm.SpecialValueMap(
        options=dm.DashboardSpecialValueMapOptions(
            match=dm.SpecialValueMatch.NA_N, result=dm.ValueMappingResult(text=text)
        )
    )


OK_FAILED = values({1: ("ok", "green"), 0: ("failed", "red")})
ON_OFF = values({1: ("on", "green"), 0: ("off", "text")})


def steps(*pairs: tuple[float | None, str]) -> db.ThresholdsConfig:
    """Absolute thresholds; the first pair's value is None (from minus infinity)."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in pairs])
    )


GREEN = steps((None, "green"))
BAD_ABOVE_ZERO = steps((None, "green"), (1, "red"))
MEMORY = steps((None, "green"), (0.8, "orange"), (0.9, "red"))

# --- queries and panels -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Q:
    """One PromQL query of a panel and its legend."""

    expr: str
    legend: str = ""


class _Panel(Protocol):
    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def datasource(self, datasource: dm.DataSourceRef) -> Self: ...
    def with_target(self, target: Builder[Dataquery]) -> Self: ...
    def height(self, h: int) -> Self: ...
    def span(self, w: int) -> Self: ...
    def mappings(self, mappings: list[dm.ValueMapping]) -> Self: ...
    def thresholds(self, thresholds: Builder[dm.ThresholdsConfig]) -> Self: ...


P = TypeVar("P", bound=_Panel)


def _panel(
    panel: P,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Q],
    size: tuple[int, int],
    *,
    instant: bool = False,
    as_table: bool = False,
) -> P:
    panel = (
        panel.title(title)
        .description(description)
        .unit(unit)
        .datasource(DS)
        .span(size[0])
        .height(size[1])
    )
    for ref, q in zip(string.ascii_uppercase, queries, strict=False):
        target = prometheus.Dataquery().expr(q.expr).ref_id(ref).datasource(DS)
        if q.legend:
            target = target.legend_format(q.legend)
        if as_table:
            target = target.format(pm.PromQueryFormat.TABLE)
        panel = panel.with_target(target.instant() if instant else target.range())
    return panel


def stat_panel(
    title: str,
    description: str,
    unit: str,
    expr: str,
    *,
    thresholds: db.ThresholdsConfig = GREEN,
    mappings: list[dm.ValueMapping] | None = None,
    size: tuple[int, int] = (4, 4),
) -> stat.Panel:
    """A single number: `expr` must aggregate the selection into one series."""
    panel = _panel(stat.Panel(), title, description, unit, [Q(expr)], size, instant=True)
    panel = (
        panel.thresholds(thresholds)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    return panel.mappings(mappings) if mappings else panel


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Q],
    *,
    size: tuple[int, int] = (12, 8),
    bars: bool = False,
    thresholds: db.ThresholdsConfig | None = None,
    min_value: float | None = 0,
) -> ts.Panel:
    panel = _panel(ts.Panel(), title, description, unit, queries, size)
    panel = panel.legend(
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    ).fill_opacity(10)
    if min_value is not None:
        panel = panel.min(min_value)
    if bars:
        panel = panel.draw_style(cm.GraphDrawStyle.BARS).fill_opacity(80)
    if thresholds is not None:
        panel = panel.thresholds(thresholds).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    return panel


def timeline_panel(
    title: str,
    description: str,
    queries: Sequence[Q],
    mappings: list[dm.ValueMapping],
    *,
    size: tuple[int, int] = (12, 6),
) -> statetimeline.Panel:
    """A state timeline: one lane per series, coloured by the mapped states."""
    panel = _panel(statetimeline.Panel(), title, description, "none", queries, size)
    return panel.mappings(mappings).show_value(cm.VisibilityMode.NEVER).merge_values(True)


def bargauge_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Q],
    *,
    thresholds: db.ThresholdsConfig,
    max_value: float,
    size: tuple[int, int] = (12, 8),
) -> bargauge.Panel:
    panel = _panel(bargauge.Panel(), title, description, unit, queries, size, instant=True)
    return (
        panel.thresholds(thresholds)
        .min(0)
        .max(max_value)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


@dataclass(frozen=True, slots=True)
class Column:
    """One instant query of a table: its column title, and how its values are shown."""

    expr: str
    title: str
    unit: str = "none"
    mappings: list[dm.ValueMapping] | None = None
    hidden: bool = False


def table_panel(
    title: str,
    description: str,
    columns: Sequence[Column],
    *,
    size: tuple[int, int] = (24, 8),
    sort_by: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> table.Panel:
    """A table of instant queries merged on their common labels: one row per label set.
    `labels` renames label columns (`{"master_name": "Group"}`)."""
    queries = [Q(c.expr) for c in columns]
    panel = _panel(table.Panel(), title, description, "none", queries, size, instant=True)
    renames: dict[str, str] = dict(labels or {})
    hidden: dict[str, bool] = {"Time": True}
    for ref, col in zip(string.ascii_uppercase, columns, strict=False):
        field = f"Value #{ref}" if len(columns) > 1 else "Value"
        if col.hidden:
            hidden[field] = True
            continue
        renames[field] = col.title
        props = [dm.DynamicConfigValue(id_val="unit", value=col.unit)]
        if col.mappings:
            props.append(dm.DynamicConfigValue(id_val="mappings", value=col.mappings))
        panel = panel.override_by_name(field, props)
    panel = panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    # Label columns first, in the order `labels` names them, then the values in column order.
    order = [*(labels or {}), *(f for f in renames if f not in (labels or {}))]
    options = {
        "excludeByName": hidden,
        "renameByName": renames,
        "indexByName": {field: i for i, field in enumerate(order)},
    }
    panel = panel.with_transformation(dm.DataTransformerConfig(id_val="organize", options=options))
    if sort_by is not None:
        panel = panel.sort_by([cb.TableSortByFieldState().display_name(sort_by).desc(True)])
    return panel
