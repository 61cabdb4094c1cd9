"""The "Redis node" dashboard: one or more data nodes' memory, traffic, latency, clients, keys,
slow queries, persistence, and (node_app.py) what the application keeps in them."""

from __future__ import annotations

from typing import Any

from dashboards.board import Board, annotate_failovers
from dashboards.node_app import application_rows
from dashboards.panels import (
    BAD_ABOVE_ZERO,
    MEMORY,
    OK_FAILED,
    ON_OFF,
    Column,
    Q,
    bargauge_panel,
    nan_as,
    stat_panel,
    table_panel,
    timeseries_panel,
    values,
)
from dashboards.promql import GROUP, NODE, increase, memory_ratio, rate, sel

UID = "redis-ha-node"
TITLE = "Redis node"
DATA_NODES = sel("redis_instance_info", GROUP, 'redis_mode!="sentinel"')

CONDITIONAL = {
    "Slow queries by command": "no command has been slower than slowlog-log-slower-than since the "
    "exporter started, so no redis_slowlog_entries_total series exists yet",
    "Average slow query duration by command": "as Slow queries by command: no slowlog entry yet",
    "AOF everysec health (delayed fsyncs)": "AOF is off (appendonly no); Redis reports "
    "aof_delayed_fsync and aof_pending_bio_fsync only while it is on",
}

HITS = sel("redis_keyspace_hits_total")
MISSES = sel("redis_keyspace_misses_total")
COMMAND_SECONDS = "redis_commands_duration_seconds_total"
NO_LIMIT = values({0: ("no limit", "blue")})


def _overview(board: Board) -> None:
    board.row("Overview")
    board.add(
        stat_panel(
            "Nodes up",
            "Selected data nodes whose last poll succeeded (redis_up).",
            "none",
            f"sum({sel('redis_up')})",
        ),
        stat_panel(
            "Nodes down",
            "Selected data nodes whose last poll failed.",
            "none",
            f"count({sel('redis_up')} == 0) or vector(0)",
            thresholds=BAD_ABOVE_ZERO,
        ),
        stat_panel(
            "Highest memory use of limit",
            "The fullest selected node: used memory over maxmemory, or over the host's memory "
            "where maxmemory is 0 (no limit).",
            "percentunit",
            f"max({memory_ratio()})",
            thresholds=MEMORY,
        ),
        stat_panel(
            "Ops/s",
            "Commands processed per second, summed over the selected nodes.",
            "ops",
            f"sum({rate(sel('redis_commands_processed_total'))})",
        ),
        stat_panel(
            "Hit rate",
            "Key lookups that found the key (keyspace hits over hits plus misses), over the "
            "selected nodes. NaN (shown as 'no lookups') while nothing reads keys.",
            "percentunit",
            f"sum({rate(HITS)}) / (sum({rate(HITS)}) + sum({rate(MISSES)}))",
            mappings=[nan_as("no lookups")],
        ),
        stat_panel(
            "Connected clients",
            "Client connections, summed over the selected nodes (the exporter's own included).",
            "none",
            f"sum({sel('redis_connected_clients')})",
        ),
    )


def _memory(board: Board) -> None:
    board.row("Memory")
    limit = (
        f'label_replace({sel("redis_memory_max_bytes")} > 0, "limit", "maxmemory", "", "") '
        f"or on(job, instance) "
        f'label_replace({sel("redis_total_system_memory_bytes")}, "limit", '
        f'"system memory (no maxmemory)", "", "")'
    )
    board.add(
        timeseries_panel(
            "Memory used vs maxmemory",
            "Used memory (used_memory) against the node's limit: maxmemory, or the host's memory "
            "where maxmemory is 0 (no limit).",
            "bytes",
            [
                Q(sel("redis_memory_used_bytes"), "{{instance}} used"),
                Q(limit, "{{instance}} {{limit}}"),
            ],
        ),
        bargauge_panel(
            "Memory used % of limit",
            "Used memory over maxmemory; where maxmemory is 0 (no limit), over the host's memory.",
            "percentunit",
            [Q(memory_ratio(), "{{instance}}")],
            thresholds=MEMORY,
            max_value=1,
        ),
        table_panel(
            "maxmemory and eviction policy",
            "Per node: used memory, maxmemory ('no limit' when 0), the host's memory, the share "
            "used, and maxmemory-policy (allkeys-lru evicts any key when the limit is reached).",
            [
                Column(
                    f"max by (instance, maxmemory_policy) ({sel('redis_memory_max_bytes')} "
                    f"* on(job, instance) group_left(maxmemory_policy) "
                    f"{sel('redis_instance_info')})",
                    "maxmemory",
                    "bytes",
                    NO_LIMIT,
                ),
                Column(f"max by (instance) ({sel('redis_memory_used_bytes')})", "Used", "bytes"),
                Column(memory_ratio("instance"), "Used of limit", "percentunit"),
                Column(
                    f"max by (instance) ({sel('redis_total_system_memory_bytes')})",
                    "System memory",
                    "bytes",
                ),
            ],
            size=(12, 8),
            labels={"instance": "Node", "maxmemory_policy": "Eviction policy"},
        ),
        timeseries_panel(
            "Evicted and expired keys",
            "Keys evicted to stay under maxmemory (only with a maxmemory-policy such as "
            "allkeys-lru and a limit set) and keys removed on expiry, per second.",
            "cps",
            [
                Q(rate(sel("redis_evicted_keys_total")), "{{instance}} evicted"),
                Q(rate(sel("redis_expired_keys_total")), "{{instance}} expired"),
            ],
        ),
    )


def _latency(quantile: str) -> str:
    return sel("redis_latency_percentiles_usec", NODE, f'quantile="{quantile}"')


def _nonempty_dbs(metric: str) -> str:
    """Databases holding keys, and db0 always, so an empty node still shows a line."""
    db0 = sel(metric, NODE, 'db="db0"')
    return f"{sel(metric)} > 0 or {db0}"


def _traffic(board: Board) -> None:
    board.row("Traffic and latency")
    board.add(
        timeseries_panel(
            "Ops/s per node",
            "Commands processed per second (total_commands_processed).",
            "ops",
            [Q(rate(sel("redis_commands_processed_total")), "{{instance}}")],
        ),
        timeseries_panel(
            "Commands by cmd (top 10)",
            "Calls per second of the 10 busiest commands, summed over the selected nodes.",
            "ops",
            [Q(f"topk(10, sum by (cmd) ({rate(sel('redis_commands_total'))}))", "{{cmd}}")],
        ),
        timeseries_panel(
            "Keyspace hit rate",
            "Key lookups that found the key, per node. Gaps while nothing reads keys.",
            "percentunit",
            [Q(f"{rate(HITS)} / ({rate(HITS)} + {rate(MISSES)})", "{{instance}}")],
        ),
        timeseries_panel(
            "Network I/O",
            "Bytes per second received from and sent to clients and replicas.",
            "Bps",
            [
                Q(rate(sel("redis_net_input_bytes_total")), "{{instance}} in"),
                Q(rate(sel("redis_net_output_bytes_total")), "{{instance}} out"),
            ],
        ),
        timeseries_panel(
            "Command latency p99 (top 10 commands)",
            "99th percentile latency of the 10 slowest commands (INFO latencystats, since the "
            "server started or CONFIG RESETSTAT), worst node of the selection.",
            "µs",
            [Q(f"topk(10, max by (cmd) ({_latency('99')}))", "{{cmd}}")],
        ),
        timeseries_panel(
            "Command latency p99 now (top 10 commands)",
            "99th percentile latency over the last rate interval, from LATENCY HISTOGRAM "
            "(Redis 7+ and Valkey; power-of-two buckets, so within a factor of two): what "
            "the RedisCommandLatencyHigh alert watches. Empty with "
            "--exclude-latency-histogram-metrics.",
            "µs",
            [
                Q(
                    "topk(10, histogram_quantile(0.99, sum by (cmd, le) "
                    f"({rate(sel('redis_commands_latencies_usec_bucket'))})))",
                    "{{cmd}}",
                )
            ],
        ),
        table_panel(
            "Command latency percentiles by command",
            "p50, p99 and p99.9 latency per command (INFO latencystats, since start or CONFIG "
            "RESETSTAT), worst node of the selection.",
            [Column(f"max by (cmd) ({_latency(q)})", f"p{q}", "µs") for q in ("50", "99", "99.9")],
            size=(12, 8),
            sort_by="p99",
            labels={"cmd": "Command"},
        ),
        timeseries_panel(
            "Time spent per command (top 10)",
            "Share of the server's time spent executing each command (seconds per second).",
            "percentunit",
            [Q(f"topk(10, sum by (cmd) ({rate(sel(COMMAND_SECONDS))}))", "{{cmd}}")],
            size=(24, 8),
        ),
    )


def _clients_and_keys(board: Board) -> None:
    board.row("Clients and keys")
    board.add(
        timeseries_panel(
            "Connected and blocked clients",
            "Client connections, clients blocked in BLPOP and the like, and maxclients. No "
            "maxclients line: the node refuses CONFIG (renamed, or not in the exporter's ACL), "
            'see redis_exporter_refused_commands{cmd="CONFIG"}.',
            "short",
            [
                Q(sel("redis_connected_clients"), "{{instance}} connected"),
                Q(sel("redis_blocked_clients"), "{{instance}} blocked"),
                Q(sel("redis_config_maxclients"), "{{instance}} maxclients"),
            ],
        ),
        timeseries_panel(
            "Rejected connections",
            "Connections refused per second because maxclients was reached.",
            "cps",
            [Q(rate(sel("redis_rejected_connections_total")), "{{instance}}")],
        ),
        timeseries_panel(
            "Keys per db",
            "Keys in each database that has any (db0 always shown).",
            "short",
            [Q(_nonempty_dbs("redis_db_keys"), "{{instance}} {{db}}")],
        ),
        timeseries_panel(
            "Keys with an expiry per db",
            "Keys with a TTL in each database that has keys (db0 always shown).",
            "short",
            [Q(_nonempty_dbs("redis_db_keys_expiring"), "{{instance}} {{db}}")],
        ),
    )


def _slow_queries(board: Board) -> None:
    board.row("Slow queries")
    entries = sel("redis_slowlog_entries_total")
    board.add(
        timeseries_panel(
            "Slow queries by command",
            "Slowlog entries per second by command, each entry counted once.",
            "cps",
            [Q(f"sum by (cmd) ({rate(entries)})", "{{cmd}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "Average slow query duration by command",
            "Mean execution time of the slowlog entries of each command.",
            "s",
            [
                Q(
                    f"sum by (cmd) ({rate(sel('redis_slowlog_duration_seconds_total'))}) "
                    f"/ sum by (cmd) ({rate(entries)})",
                    "{{cmd}}",
                )
            ],
            size=(8, 8),
        ),
        timeseries_panel(
            "Slowlog entries missed",
            "Slowlog entries that left the log before the exporter read them: raise "
            "slowlog-max-len or --slowlog-fetch-max when this is not 0.",
            "cps",
            [Q(rate(sel("redis_slowlog_entries_missed_total")), "{{instance}}")],
            size=(8, 8),
        ),
    )


def _persistence(board: Board) -> None:
    board.row("Persistence")
    by = "max by (instance) ({})".format
    board.add(
        table_panel(
            "Persistence: RDB and AOF status",
            "Per node: RDB snapshot rules (off when CONFIG save is empty), age of the last "
            "successful RDB save, last BGSAVE result, changes since, AOF on/off, last AOF write "
            "and rewrite results, and whether a BGSAVE or AOF rewrite runs now. RDB save rules "
            "empty: the node refuses CONFIG (redis_exporter_refused_commands).",
            [
                Column(
                    by(sel("redis_config_save_rules")),
                    "RDB save rules",
                    "none",
                    values({0: ("off", "text")}),
                ),
                Column(
                    by(f"time() - {sel('redis_rdb_last_save_timestamp_seconds')}"),
                    "Last good RDB save",
                    "s",
                ),
                Column(by(sel("redis_rdb_last_bgsave_status")), "Last BGSAVE", "none", OK_FAILED),
                Column(by(sel("redis_rdb_changes_since_last_save")), "Changes since save", "short"),
                Column(by(sel("redis_aof_enabled")), "AOF", "none", ON_OFF),
                Column(by(sel("redis_aof_last_write_status")), "AOF last write", "none", OK_FAILED),
                Column(
                    by(sel("redis_aof_last_bgrewrite_status")),
                    "AOF last rewrite",
                    "none",
                    OK_FAILED,
                ),
                Column(by(sel("redis_rdb_bgsave_in_progress")), "BGSAVE running", "none", ON_OFF),
                Column(
                    by(sel("redis_aof_rewrite_in_progress")), "AOF rewrite running", "none", ON_OFF
                ),
            ],
            labels={"instance": "Node"},
        ),
        timeseries_panel(
            "Age of last successful RDB save",
            "Seconds since the last successful RDB save (rdb_last_save_time). It keeps growing "
            "where RDB snapshots are off (see RDB save rules).",
            "s",
            [Q(f"time() - {sel('redis_rdb_last_save_timestamp_seconds')}", "{{instance}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "RDB saves",
            "RDB saves completed (BGSAVE, SAVE and those for full resyncs) per interval.",
            "short",
            [Q(increase(sel("redis_rdb_saves_total")), "{{instance}}")],
            size=(8, 8),
            bars=True,
        ),
        timeseries_panel(
            "Changes since last save",
            "Writes not yet in an RDB snapshot: what a crash would lose without AOF.",
            "short",
            [Q(sel("redis_rdb_changes_since_last_save"), "{{instance}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "AOF everysec health (delayed fsyncs)",
            "With appendfsync everysec: the last AOF write result (1 ok), fsyncs Redis delayed "
            "because the previous one took over 2 s (writes stall then), and fsync jobs queued.",
            "short",
            [
                Q(
                    f"{sel('redis_aof_last_write_status')} and on(job, instance) "
                    f"{sel('redis_aof_enabled')} == 1",
                    "{{instance}} last write ok",
                ),
                Q(increase(sel("redis_aof_delayed_fsync")), "{{instance}} delayed fsyncs"),
                Q(sel("redis_aof_pending_bio_fsync"), "{{instance}} pending fsyncs"),
            ],
            size=(12, 8),
        ),
        timeseries_panel(
            "Latest fork duration",
            "How long the latest fork (for BGSAVE, AOF rewrite or a full resync) blocked the "
            "server.",
            "s",
            [Q(sel("redis_latest_fork_seconds"), "{{instance}}")],
            size=(12, 8),
        ),
    )


def build() -> dict[str, Any]:
    board = Board(
        UID,
        TITLE,
        "Data nodes (masters and replicas) seen by redis-ha-exporter: memory, traffic, latency, "
        "clients, keys, slow queries, persistence, and Celery queues and results.",
        DATA_NODES,
    )
    annotate_failovers(board)
    _overview(board)
    _memory(board)
    _traffic(board)
    _clients_and_keys(board)
    _slow_queries(board)
    _persistence(board)
    application_rows(board)
    return board.build()
