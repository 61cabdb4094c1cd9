"""The "Redis fleet" dashboard: every node in one table, and the exporter's own health."""

from __future__ import annotations

from typing import Any

from dashboards.board import Board, annotate_failovers
from dashboards.panels import (
    BAD_ABOVE_ZERO,
    Column,
    Q,
    stat_panel,
    steps,
    table_panel,
    timeseries_panel,
    values,
)
from dashboards.promql import IN_GROUPS, JOB, NODE, memory_ratio, rate, sel

UID = "redis-ha-fleet"
TITLE = "Redis fleet"

CONDITIONAL = {
    "Current poll errors": "every node answered its last poll, so no "
    "redis_exporter_last_scrape_error series is 1",
}

POLL_AGE = f"time() - {sel('redis_exporter_last_poll_timestamp_seconds')}"
ERRORS = f"{sel('redis_exporter_last_scrape_error')} == 1"
DATA = sel("redis_instance_info", NODE, 'redis_mode!="sentinel"')
SENTINELS = sel("redis_instance_info", NODE, 'redis_mode="sentinel"')
STALE = steps((None, "green"), (60, "orange"), (300, "red"))


def _kinds(selector: str) -> str:
    """Adds kind="data" or kind="sentinel" from redis_mode."""
    data = f'label_replace({selector}, "kind", "data", "", "")'
    return f'label_replace({data}, "kind", "sentinel", "redis_mode", "sentinel")'


def _fleet(board: Board) -> None:
    board.row("Fleet")
    info = sel("redis_instance_info")
    board.add(
        stat_panel(
            "Nodes up",
            "Selected nodes whose last poll succeeded.",
            "none",
            f"sum({sel('redis_up')})",
        ),
        stat_panel(
            "Nodes down",
            "Selected nodes whose last poll failed.",
            "none",
            f"count({sel('redis_up')} == 0) or vector(0)",
            thresholds=BAD_ABOVE_ZERO,
        ),
        stat_panel(
            "Data nodes",
            "Selected masters and replicas that answer.",
            "none",
            f"count({DATA}) or vector(0)",
        ),
        stat_panel(
            "Sentinels",
            "Selected Sentinels that answer.",
            "none",
            f"count({SENTINELS}) or vector(0)",
        ),
        stat_panel(
            "Nodes with poll errors",
            "Selected nodes whose last poll failed, with any error (timeout, refused, auth).",
            "none",
            f"count({ERRORS}) or vector(0)",
            thresholds=BAD_ABOVE_ZERO,
        ),
        stat_panel(
            "Stalest poll",
            "Seconds since the least recently polled selected node was "
            "polled; about the poll interval when healthy.",
            "s",
            f"max({POLL_AGE})",
            thresholds=STALE,
        ),
    )
    replica_lag = (
        "max by (instance) (label_join(redis_connected_slave_lag_bytes{" + JOB + "}, "
        '"instance", ":", "slave_ip", "slave_port"))'
    )
    board.add(
        table_panel(
            "Nodes",
            "Every selected node: up, kind (data or sentinel), role, Sentinel group, memory used "
            "of its limit (maxmemory, else the host's memory), ops/s, connected clients, "
            "replication lag in bytes (replicas, as their master reports it) and seconds since "
            "its last poll. Kind, role and group are empty while a node is down.",
            [
                Column(
                    f"max by (instance) ({sel('redis_up')})",
                    "Up",
                    "none",
                    values({1: ("up", "green"), 0: ("down", "red")}),
                ),
                Column(
                    f"max by (instance, kind, role, master_name) ({_kinds(info)})",
                    "info",
                    hidden=True,
                ),
                Column(memory_ratio("instance"), "Memory used of limit", "percentunit"),
                Column(
                    f"sum by (instance) ({rate(sel('redis_commands_processed_total'))})",
                    "Ops/s",
                    "ops",
                ),
                Column(f"max by (instance) ({sel('redis_connected_clients')})", "Clients", "short"),
                Column(
                    f"{replica_lag} and on(instance) {sel('redis_up')}", "Replication lag", "bytes"
                ),
                Column(f"max by (instance) ({POLL_AGE})", "Last poll", "s"),
            ],
            size=(24, 10),
            labels={"instance": "Node", "kind": "Kind", "role": "Role", "master_name": "Group"},
        ),
    )


def _exporter(board: Board) -> None:
    board.row("Exporter health")
    board.add(
        timeseries_panel(
            "Poll duration (last poll)",
            "How long the last poll of each node took (one pipelined round trip).",
            "s",
            [Q(sel("redis_exporter_last_scrape_duration_seconds"), "{{instance}}")],
        ),
        timeseries_panel(
            "Average poll duration",
            "Mean duration of the polls of each node over the interval.",
            "s",
            [
                Q(
                    f"{rate(sel('redis_exporter_scrape_duration_seconds_sum'))} / "
                    f"{rate(sel('redis_exporter_scrape_duration_seconds_count'))}",
                    "{{instance}}",
                )
            ],
        ),
        timeseries_panel(
            "Seconds since last poll (staleness)",
            "Age of each node's last finished poll; it grows when polls stall.",
            "s",
            [Q(POLL_AGE, "{{instance}}")],
            thresholds=STALE,
        ),
        timeseries_panel(
            "Polls per second",
            "Polls of each node per second (1 / --poll-interval when healthy).",
            "cps",
            [Q(rate(sel("redis_exporter_scrapes_total")), "{{instance}}")],
        ),
        timeseries_panel(
            "Nodes failing to poll",
            "Selected nodes whose last poll failed.",
            "none",
            [Q(f"count({ERRORS}) or vector(0)", "failing nodes")],
            thresholds=steps((None, "green"), (1, "red")),
        ),
        table_panel(
            "Current poll errors",
            "Each node whose last poll failed, with the error.",
            [Column(f"max by (instance, err) ({ERRORS})", "failing", hidden=True)],
            size=(12, 8),
            labels={"instance": "Node", "err": "Error"},
        ),
        timeseries_panel(
            "Exporter scraped by Prometheus",
            "Prometheus' up series of the exporter's scrape targets (the exporter's address).",
            "none",
            [Q(sel("up", JOB), "{{instance}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "Exporter CPU",
            "CPU time the exporter process uses (1 = one core).",
            "percentunit",
            [Q(rate(sel("process_cpu_seconds_total", JOB)), "{{instance}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "Exporter memory",
            "Resident memory of the exporter process.",
            "bytes",
            [Q(sel("process_resident_memory_bytes", JOB), "{{instance}}")],
            size=(8, 8),
        ),
    )


def build() -> dict[str, Any]:
    board = Board(
        UID,
        TITLE,
        "Every node redis-ha-exporter polls, in one table, and the exporter's own health: poll "
        "durations, errors and staleness.",
        sel("redis_instance_info", IN_GROUPS),
    )
    annotate_failovers(board)
    _fleet(board)
    _exporter(board)
    return board.build()
