"""A dashboard under construction: its variables (datasource, job, master_name, instance),
links, the failover annotation, rows and panels in reading order."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.panels import DS
from dashboards.promql import GROUP, JOB, increase, sel

TAG = "redis-ha-exporter"

# --- variables -------------------------------------------------------------------------------

ALL = dm.VariableOption(text="All", value="$__all")


def _query_var(name: str, label: str, query: str, description: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DS)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.NATURAL_ASC)
        .multi(True)
        .include_all(True)
        .current(ALL)
    )


def variables(instances: str) -> list[Builder[dm.VariableModel]]:
    """datasource, job, master_name and instance; `instances` is the instance query's selector."""
    return [
        db.DatasourceVariable("datasource")
        .label("Data source")
        .description("The Prometheus that scrapes redis-ha-exporter.")
        .type("prometheus"),
        _query_var(
            "job",
            "Job",
            "label_values(redis_up, job)",
            "Prometheus scrape jobs of redis-ha-exporter.",
        ).all_value(".*"),
        _query_var(
            "master_name",
            "Sentinel group",
            f"label_values({sel('redis_sentinel_group_masters', JOB)}, master_name)",
            "Sentinel groups (master names). All also matches nodes outside any group.",
        ).all_value(".*"),
        # No custom all value: All expands to the listed nodes, so it honours the group filter.
        _query_var(
            "instance",
            "Node",
            f"label_values({instances}, instance)",
            "Nodes (host:port) of the selected groups.",
        ),
    ]


# --- the dashboard ----------------------------------------------------------------------------


class Board:
    """A dashboard under construction: rows and panels in reading order, ids assigned in turn."""

    def __init__(self, uid: str, title: str, description: str, instances: str) -> None:
        self.uid = uid
        self._next_id = 1
        self._annotation_extras: dict[str, dict[str, str]] = {}
        self._board = (
            db.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags([TAG, "redis"])
            .timezone("browser")
            .time("now-3h", "now")
            .refresh("30s")
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .variables(variables(instances))
            .link(
                db.DashboardLink("Redis dashboards")
                .type(dm.DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
            )
        )

    def row(self, title: str) -> None:
        self._board = self._board.with_row(db.Row(title).id(self._take_id()))

    def add(self, *panels: Builder[dm.Panel]) -> None:
        for panel in panels:
            built = panel.build()
            built.id_val = self._take_id()
            self._board = self._board.with_panel(_Built(built))

    def annotate(self, name: str, expr: str, color: str, **legacy: str) -> None:
        """A Prometheus annotation; `legacy` holds the Prometheus annotation fields the SDK
        does not model (titleFormat, tagKeys, textFormat), added to the JSON in `build`."""
        self._board = self._board.annotation(
            db.AnnotationQuery()
            .name(name)
            .datasource(DS)
            .expr(expr)
            .icon_color(color)
            .enable(True)
            .hide(False)
        )
        self._annotation_extras[name] = dict(legacy)

    def build(self) -> dict[str, Any]:
        board: dict[str, Any] = json.loads(json.dumps(self._board.build(), cls=JSONEncoder))
        for annotation in board.get("annotations", {}).get("list", []):
            annotation.update(self._annotation_extras.get(annotation["name"], {}))
        return board

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1


class _Built(Builder[dm.Panel]):
    """A panel already built (its id set), handed back to the dashboard builder."""

    def __init__(self, panel: dm.Panel) -> None:
        self._panel = panel

    def build(self) -> dm.Panel:
        return self._panel


FAILOVER_MARKERS = "Failover markers"
# Annotations that legitimately find nothing on a fresh, healthy setup (see conditional.json).
CONDITIONAL_ANNOTATIONS = {
    FAILOVER_MARKERS: "no failover has happened in the time range",
}


def annotate_failovers(board: Board) -> None:
    """Marks each failover of the selected groups on every time panel."""
    board.annotate(
        FAILOVER_MARKERS,
        f"sum by (master_name) ({increase(sel('redis_sentinel_failovers_total', GROUP))}) > 0",
        "red",
        titleFormat="Failover of {{master_name}}",
        tagKeys="master_name",
        textFormat="The Sentinels of {{master_name}} promoted a new master.",
    )
