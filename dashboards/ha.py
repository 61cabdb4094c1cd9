"""The "Redis HA / Sentinel" dashboard: per Sentinel group, the master, failovers, split brain,
Sentinel quorum and TILT, and the replicas' links, lag and syncs."""

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
    timeline_panel,
    timeseries_panel,
    values,
)
from dashboards.promql import GROUP, IN_GROUPS, increase, sel, with_group

UID = "redis-ha-sentinel"
TITLE = "Redis HA / Sentinel"

CONDITIONAL = {
    "Time since last failover": "no failover has happened since the exporter started, so "
    "redis_sentinel_group_last_failover_timestamp_seconds does not exist yet",
}

SENTINEL_NODE = 'instance=~"$instance"'
NAMES = {"master_name": "Group", "master_address": "Master address"}


def _groups(board: Board) -> None:
    board.row("Groups")
    masters = sel("redis_sentinel_group_masters", GROUP)
    board.add(
        stat_panel(
            "Sentinel groups",
            "Selected Sentinel groups (master names) the exporter follows.",
            "none",
            f"count({masters})",
        ),
        stat_panel(
            "Groups in split brain",
            "Groups where two or more answering nodes report role master. Briefly 2 after a "
            "requested failover, until Sentinel reconfigures the old master.",
            "none",
            f"count({masters} > 1) or vector(0)",
            thresholds=BAD_ABOVE_ZERO,
        ),
        stat_panel(
            "Groups without a master",
            "Groups where no answering node reports role master.",
            "none",
            f"count({masters} == 0) or vector(0)",
            thresholds=BAD_ABOVE_ZERO,
        ),
        stat_panel(
            "Groups where Sentinels disagree",
            "Groups whose answering Sentinels do not all name the same master address.",
            "none",
            f"count({sel('redis_sentinel_group_master_agreement', GROUP)} == 0) or vector(0)",
            thresholds=BAD_ABOVE_ZERO,
        ),
        stat_panel(
            "Failovers in time range",
            "Failovers of the selected groups within the dashboard's time range (each failover "
            "raises redis_sentinel_failovers_total by one; an exporter restart also counts).",
            "none",
            f"sum(changes({sel('redis_sentinel_failovers_total', GROUP)}[$__range]))",
            thresholds=steps((None, "green"), (1, "orange")),
        ),
        stat_panel(
            "Sentinels in TILT",
            "Sentinels of the selected groups in TILT mode, where they stop acting.",
            "none",
            f"sum({sel('redis_sentinel_tilt')})",
            thresholds=BAD_ABOVE_ZERO,
        ),
    )
    role_master = sel("redis_instance_info", GROUP, 'role="master"')
    board.add(
        table_panel(
            "Current master",
            "Per group, each address the Sentinels name as master (and how many Sentinels do) "
            "and each node that reports role master. One row per group when healthy; two rows "
            "of a group are a disagreement or split brain.",
            [
                Column(
                    "count by (master_name, master_address) "
                    f"({sel('redis_sentinel_master_status', GROUP)})",
                    "Sentinels naming it",
                ),
                Column(
                    "max by (master_name, master_address) "
                    f'(label_join({role_master}, "master_address", "", "instance"))',
                    "Reports role master",
                    mappings=values({1: ("yes", "green")}),
                ),
            ],
            size=(12, 7),
            labels=NAMES,
        ),
        timeline_panel(
            "Master over time",
            "Which node reported role master, per group; overlapping lanes are split brain.",
            [Q(f"max by (master_name, instance) ({role_master})", "{{master_name}}: {{instance}}")],
            values({1: ("master", "green")}),
            size=(12, 7),
        ),
        timeseries_panel(
            "Split brain: nodes reporting role master",
            "Answering nodes of each group that report role master: 1 is healthy, 2 or more is "
            "split brain, 0 means no master.",
            "none",
            [Q(masters, "{{master_name}}")],
            thresholds=steps((None, "green"), (2, "red")),
        ),
        timeline_panel(
            "Sentinels agree on the master",
            "Whether every answering Sentinel of the group names the same master address.",
            [Q(sel("redis_sentinel_group_master_agreement", GROUP), "{{master_name}}")],
            values({1: ("agree", "green"), 0: ("disagree", "red")}),
            size=(12, 8),
        ),
    )


def _failovers(board: Board) -> None:
    board.row("Failover history")
    board.add(
        timeseries_panel(
            "Failovers",
            "Failovers per group, counted once each however many Sentinels announce them.",
            "none",
            [
                Q(
                    "sum by (master_name) "
                    f"({increase(sel('redis_sentinel_failovers_total', GROUP))})",
                    "{{master_name}}",
                )
            ],
            size=(16, 8),
            bars=True,
        ),
        table_panel(
            "Time since last failover",
            "Per group, how long ago the exporter last saw a failover.",
            [
                Column(
                    "time() - max by (master_name) "
                    f"({sel('redis_sentinel_group_last_failover_timestamp_seconds', GROUP)})",
                    "Since last failover",
                    "s",
                )
            ],
            size=(8, 8),
            labels=NAMES,
        ),
    )


def _sentinels(board: Board) -> None:
    board.row("Sentinels")
    per_sentinel = "max by (master_name, instance) ({})".format
    board.add(
        timeseries_panel(
            "Sentinel quorum: ok Sentinels vs quorum",
            "Per group: the fewest Sentinels any Sentinel sees as ok (itself included), the "
            "configured quorum, and the Sentinels answering the exporter. A failover needs the "
            "quorum to agree and a majority to authorise it.",
            "none",
            [
                Q(
                    f"min by (master_name) ({sel('redis_sentinel_master_ok_sentinels', GROUP)})",
                    "{{master_name}} ok Sentinels",
                ),
                Q(
                    "max by (master_name) "
                    f"({sel('redis_sentinel_master_setting_ckquorum', GROUP)})",
                    "{{master_name}} quorum",
                ),
                Q(
                    sel("redis_sentinel_group_sentinels_up", GROUP),
                    "{{master_name}} Sentinels answering",
                ),
            ],
        ),
        timeline_panel(
            "CKQUORUM per Sentinel",
            "SENTINEL CKQUORUM of each group as each Sentinel runs it: OK when enough Sentinels "
            "are reachable to reach the quorum and authorise a failover.",
            [
                Q(
                    per_sentinel(
                        sel("redis_sentinel_master_ckquorum_status", GROUP, SENTINEL_NODE)
                    ),
                    "{{master_name}} via {{instance}}",
                )
            ],
            values({1: ("OK", "green"), 0: ("NOQUORUM", "red")}),
            size=(12, 8),
        ),
        timeline_panel(
            "Master status per Sentinel",
            "Whether each Sentinel sees its group's master as ok (not subjectively down).",
            [
                Q(
                    per_sentinel(sel("redis_sentinel_master_status", GROUP, SENTINEL_NODE)),
                    "{{master_name}} via {{instance}}",
                )
            ],
            values({1: ("ok", "green"), 0: ("down", "red")}),
        ),
        timeline_panel(
            "Sentinel TILT mode",
            "Sentinels in TILT mode (after clock jumps or long stalls) stop acting for 30 s.",
            [Q(sel("redis_sentinel_tilt"), "{{instance}}")],
            values({0: ("normal", "green"), 1: ("TILT", "red")}),
        ),
    )


def _lag(metric: str) -> str:
    """Lag per replica (`replica` = its host:port) as its master reports it, with the group."""
    joined = f'label_join({sel(metric)}, "replica", ":", "slave_ip", "slave_port")'
    return f"max by (master_name, replica) ({with_group(joined)})"


def _replication(board: Board) -> None:
    board.row("Replication")
    board.add(
        stat_panel(
            "Replicas answering",
            "Replicas of the selected groups that answered the exporter's last poll.",
            "none",
            f"sum({sel('redis_sentinel_group_replicas_up', GROUP)})",
            size=(6, 4),
        ),
        stat_panel(
            "Replica links down",
            "Replicas whose link to their master is down.",
            "none",
            f"count({sel('redis_master_link_up')} == 0) or vector(0)",
            thresholds=BAD_ABOVE_ZERO,
            size=(6, 4),
        ),
        stat_panel(
            "Highest replication lag (bytes)",
            "The largest replica lag in bytes (master offset minus the replica's).",
            "bytes",
            f"max({sel('redis_connected_slave_lag_bytes')})",
            size=(6, 4),
        ),
        stat_panel(
            "Replicas syncing",
            "Replicas loading a full sync from their master now.",
            "none",
            f"sum({sel('redis_master_sync_in_progress')})",
            size=(6, 4),
        ),
        timeseries_panel(
            "Replicas per group",
            "Replicas answering the exporter, and the fewest any Sentinel sees as ok.",
            "none",
            [
                Q(
                    sel("redis_sentinel_group_replicas_up", GROUP),
                    "{{master_name}} answering the exporter",
                ),
                Q(
                    f"min by (master_name) ({sel('redis_sentinel_master_ok_slaves', GROUP)})",
                    "{{master_name}} ok per Sentinels",
                ),
            ],
        ),
        timeline_panel(
            "Replica link status",
            "Each replica's link to its master (master_link_status).",
            [
                Q(
                    f"max by (master_name, instance) ({with_group(sel('redis_master_link_up'))})",
                    "{{master_name}}: {{instance}}",
                )
            ],
            values({1: ("up", "green"), 0: ("down", "red")}),
            size=(12, 8),
        ),
        timeseries_panel(
            "Replication lag (bytes)",
            "Bytes each replica is behind its master, as the master reports it.",
            "bytes",
            [Q(_lag("redis_connected_slave_lag_bytes"), "{{master_name}}: {{replica}}")],
        ),
        timeseries_panel(
            "Replication lag (seconds)",
            "Seconds since the master last heard from each replica (replicas ack every second).",
            "s",
            [Q(_lag("redis_connected_slave_lag_seconds"), "{{master_name}}: {{replica}}")],
        ),
        timeseries_panel(
            "Seconds since replica last heard from master",
            "master_last_io_seconds_ago on each replica; the master pings every 10 s by default.",
            "s",
            [
                Q(
                    f"max by (master_name, instance) "
                    f"({with_group(sel('redis_master_last_io_seconds_ago'))})",
                    "{{master_name}}: {{instance}}",
                )
            ],
        ),
        timeseries_panel(
            "Sync activity",
            "Replicas running a full sync now, and full and partial resyncs the masters served "
            "per interval (sync_full, sync_partial_ok).",
            "short",
            [
                Q(sel("redis_master_sync_in_progress"), "{{instance}} syncing"),
                Q(increase(sel("redis_replica_resyncs_full")), "{{instance}} full resyncs served"),
                Q(
                    increase(sel("redis_replica_partial_resync_accepted")),
                    "{{instance}} partial resyncs served",
                ),
            ],
        ),
    )


def build() -> dict[str, Any]:
    board = Board(
        UID,
        TITLE,
        "Sentinel groups seen by redis-ha-exporter: the master, failovers, split brain, "
        "Sentinel quorum and TILT, replica links, lag and syncs.",
        sel("redis_instance_info", IN_GROUPS),
    )
    annotate_failovers(board)
    _groups(board)
    _failovers(board)
    _sentinels(board)
    _replication(board)
    return board.build()
