"""Every metric name, type and help text the exporter emits, in one place.

INFO-derived names follow redis_exporter's field maps (the compatibility contract), so
community dashboards and alert rules keep working. Names without `redis_` are added by
`metric()`; the namespace is fixed to `redis`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "summary", "histogram", "untyped"]
NAMESPACE = "redis"


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str
    type: MetricType
    help: str


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\n"):
        if line.strip():
            field, metric = line.split()
            out[field] = metric
    return out


# INFO field -> metric name (without namespace), exported as gauges.
INFO_GAUGES = _pairs("""
uptime_in_seconds uptime_in_seconds
process_id process_id
io_threads_active io_threads_active
configured_hz configured_hz
hz hz
connected_clients connected_clients
blocked_clients blocked_clients
maxclients max_clients
tracking_clients tracking_clients
clients_in_timeout_table clients_in_timeout_table
pubsub_clients pubsub_clients
watching_clients watching_clients
total_watched_keys total_watched_keys
total_blocking_keys total_blocking_keys
total_blocking_keys_on_nokey total_blocking_keys_on_nokey
client_longest_output_list client_longest_output_list
client_biggest_input_buf client_biggest_input_buf
client_recent_max_output_buffer client_recent_max_output_buffer_bytes
client_recent_max_input_buffer client_recent_max_input_buffer_bytes
allocator_active allocator_active_bytes
allocator_allocated allocator_allocated_bytes
allocator_resident allocator_resident_bytes
allocator_frag_ratio allocator_frag_ratio
allocator_frag_bytes allocator_frag_bytes
allocator_muzzy allocator_muzzy_bytes
allocator_rss_ratio allocator_rss_ratio
allocator_rss_bytes allocator_rss_bytes
used_memory memory_used_bytes
used_memory_rss memory_used_rss_bytes
used_memory_peak memory_used_peak_bytes
used_memory_lua memory_used_lua_bytes
used_memory_vm_eval memory_used_vm_eval_bytes
used_memory_scripts_eval memory_used_scripts_eval_bytes
used_memory_overhead memory_used_overhead_bytes
used_memory_startup memory_used_startup_bytes
used_memory_dataset memory_used_dataset_bytes
number_of_cached_scripts number_of_cached_scripts
number_of_functions number_of_functions
number_of_libraries number_of_libraries
used_memory_vm_functions memory_used_vm_functions_bytes
used_memory_scripts memory_used_scripts_bytes
used_memory_functions memory_used_functions_bytes
used_memory_vm_total memory_used_vm_total
maxmemory memory_max_bytes
total_system_memory total_system_memory_bytes
maxmemory_reservation memory_max_reservation_bytes
maxmemory_desired_reservation memory_max_reservation_desired_bytes
maxfragmentationmemory_reservation memory_max_fragmentation_reservation_bytes
maxfragmentationmemory_desired_reservation memory_max_fragmentation_reservation_desired_bytes
mem_fragmentation_ratio mem_fragmentation_ratio
mem_fragmentation_bytes mem_fragmentation_bytes
mem_clients_slaves mem_clients_slaves
mem_clients_normal mem_clients_normal
mem_cluster_links mem_cluster_links_bytes
mem_aof_buffer mem_aof_buffer_bytes
mem_replication_backlog mem_replication_backlog_bytes
expired_stale_perc expired_stale_percentage
mem_not_counted_for_evict mem_not_counted_for_eviction_bytes
mem_total_replication_buffers mem_total_replication_buffers_bytes
mem_overhead_db_hashtable_rehashing mem_overhead_db_hashtable_rehashing_bytes
lazyfree_pending_objects lazyfree_pending_objects
lazyfreed_objects lazyfreed_objects
active_defrag_running active_defrag_running
migrate_cached_sockets migrate_cached_sockets_total
active_defrag_hits defrag_hits
active_defrag_misses defrag_misses
active_defrag_key_hits defrag_key_hits
active_defrag_key_misses defrag_key_misses
loading loading_dump_file
async_loading async_loading
rdb_changes_since_last_save rdb_changes_since_last_save
rdb_bgsave_in_progress rdb_bgsave_in_progress
rdb_last_save_time rdb_last_save_timestamp_seconds
rdb_last_bgsave_status rdb_last_bgsave_status
rdb_last_bgsave_time_sec rdb_last_bgsave_duration_sec
rdb_current_bgsave_time_sec rdb_current_bgsave_duration_sec
rdb_saves rdb_saves_total
rdb_last_cow_size rdb_last_cow_size_bytes
rdb_last_load_keys_expired rdb_last_load_expired_keys
rdb_last_load_keys_loaded rdb_last_load_loaded_keys
aof_enabled aof_enabled
aof_rewrite_in_progress aof_rewrite_in_progress
aof_rewrite_scheduled aof_rewrite_scheduled
aof_last_rewrite_time_sec aof_last_rewrite_duration_sec
aof_current_rewrite_time_sec aof_current_rewrite_duration_sec
aof_last_cow_size aof_last_cow_size_bytes
aof_current_size aof_current_size_bytes
aof_base_size aof_base_size_bytes
aof_pending_rewrite aof_pending_rewrite
aof_buffer_length aof_buffer_length
aof_rewrite_buffer_length aof_rewrite_buffer_length
aof_pending_bio_fsync aof_pending_bio_fsync
aof_delayed_fsync aof_delayed_fsync
aof_last_bgrewrite_status aof_last_bgrewrite_status
aof_last_write_status aof_last_write_status
module_fork_in_progress module_fork_in_progress
module_fork_last_cow_size module_fork_last_cow_size
current_eviction_exceeded_time current_eviction_exceeded_time_ms
pubsub_channels pubsub_channels
pubsub_patterns pubsub_patterns
pubsubshard_channels pubsubshard_channels
tracking_total_keys tracking_total_keys
tracking_total_items tracking_total_items
tracking_total_prefixes tracking_total_prefixes
instantaneous_eventloop_cycles_per_sec instantaneous_eventloop_cycles_per_sec
instantaneous_eventloop_duration_usec instantaneous_eventloop_duration_usec
connected_slaves connected_slaves
repl_backlog_size replication_backlog_bytes
repl_backlog_active repl_backlog_is_active
repl_backlog_first_byte_offset repl_backlog_first_byte_offset
repl_backlog_histlen repl_backlog_history_bytes
master_repl_offset master_repl_offset
second_repl_offset second_repl_offset
slave_expires_tracked_keys slave_expires_tracked_keys
slave_priority slave_priority
sync_full replica_resyncs_full
sync_partial_ok replica_partial_resync_accepted
sync_partial_err replica_partial_resync_denied
cluster_stats_messages_sent cluster_messages_sent_total
cluster_stats_messages_received cluster_messages_received_total
server_threads server_threads_total
long_lock_waits long_lock_waits_total
current_client_thread current_client_thread
""")

# INFO field -> metric name (without namespace), exported as counters.
INFO_COUNTERS = _pairs("""
total_connections_received connections_received_total
total_commands_processed commands_processed_total
rejected_connections rejected_connections_total
total_net_input_bytes net_input_bytes_total
total_net_output_bytes net_output_bytes_total
total_net_repl_input_bytes net_repl_input_bytes_total
total_net_repl_output_bytes net_repl_output_bytes_total
expired_subkeys expired_subkeys_total
expired_keys expired_keys_total
expired_time_cap_reached_count expired_time_cap_reached_total
expire_cycle_cpu_milliseconds expire_cycle_cpu_time_ms_total
evicted_keys evicted_keys_total
evicted_clients evicted_clients_total
evicted_scripts evicted_scripts_total
total_eviction_exceeded_time eviction_exceeded_time_ms_total
keyspace_hits keyspace_hits_total
keyspace_misses keyspace_misses_total
eventloop_cycles eventloop_cycles_total
eventloop_duration_sum eventloop_duration_sum_usec_total
eventloop_duration_cmd_sum eventloop_duration_cmd_sum_usec_total
used_cpu_sys cpu_sys_seconds_total
used_cpu_user cpu_user_seconds_total
used_cpu_sys_children cpu_sys_children_seconds_total
used_cpu_user_children cpu_user_children_seconds_total
used_cpu_sys_main_thread cpu_sys_main_thread_seconds_total
used_cpu_user_main_thread cpu_user_main_thread_seconds_total
unexpected_error_replies unexpected_error_replies
total_error_replies total_error_replies
dump_payload_sanitizations dump_payload_sanitizations
total_reads_processed total_reads_processed
total_writes_processed total_writes_processed
io_threaded_reads_processed io_threaded_reads_processed
io_threaded_writes_processed io_threaded_writes_processed
client_query_buffer_limit_disconnections client_query_buffer_limit_disconnections_total
client_output_buffer_limit_disconnections client_output_buffer_limit_disconnections_total
reply_buffer_shrinks reply_buffer_shrinks_total
reply_buffer_expands reply_buffer_expands_total
acl_access_denied_auth acl_access_denied_auth_total
acl_access_denied_cmd acl_access_denied_cmd_total
acl_access_denied_key acl_access_denied_key_total
acl_access_denied_channel acl_access_denied_channel_total
cached_keys cached_keys_total
storage_provider_read_hits storage_provider_read_hits
storage_provider_read_misses storage_provider_read_misses
used_active_time_main_thread active_time_main_thread_seconds_total
""")


def _d(name: str, mtype: MetricType, help_text: str) -> MetricDef:
    return MetricDef(f"{NAMESPACE}_{name}", mtype, help_text)


# Metrics not derived one-to-one from an INFO field.
UP = _d("up", "gauge", "1 if the last poll of the node succeeded, 0 otherwise.")
INSTANCE_INFO = _d("instance_info", "gauge", "Information about the Redis instance.")
SLAVE_INFO = _d("slave_info", "gauge", "Information about the Redis replica.")
START_TIME = _d(
    "start_time_seconds", "gauge", "Start time of the Redis instance since unix epoch in seconds."
)
LATEST_FORK = _d("latest_fork_seconds", "gauge", "Duration of the latest fork in seconds.")
MASTER_LINK_UP = _d("master_link_up", "gauge", "1 if the replica's link to its master is up.")
MASTER_LAST_IO = _d(
    "master_last_io_seconds_ago", "gauge", "Seconds since the replica last heard from its master."
)
MASTER_SYNC = _d("master_sync_in_progress", "gauge", "1 while the replica syncs from its master.")
MASTER_LINK_DOWN_SINCE = _d(
    "master_link_down_since_seconds",
    "gauge",
    "Seconds the replica's link to its master has been down; 0 while it is up.",
)
SLAVE_REPL_OFFSET = _d("slave_repl_offset", "gauge", "Replication offset of the replica.")
SLAVE_OFFSET = _d(
    "connected_slave_offset_bytes",
    "gauge",
    "Replication offset of a connected replica, as seen by the master.",
)
SLAVE_LAG = _d(
    "connected_slave_lag_seconds",
    "gauge",
    "Seconds since the master last heard from a connected replica.",
)
SLAVE_LAG_BYTES = _d(
    "connected_slave_lag_bytes",
    "gauge",
    "Bytes a connected replica is behind: master_repl_offset minus the replica's offset.",
)
DB_KEYS = _d("db_keys", "gauge", "Total number of keys by DB.")
DB_KEYS_EXPIRING = _d("db_keys_expiring", "gauge", "Total number of expiring keys by DB.")
DB_AVG_TTL = _d(
    "db_avg_ttl_seconds", "gauge", "Average TTL of keys with an expiry, in seconds, by DB."
)
DB_KEYS_CACHED = _d("db_keys_cached", "gauge", "Cached keys by DB (KeyDB).")
COMMANDS = _d("commands_total", "counter", "Total number of calls per command.")
COMMANDS_DURATION = _d(
    "commands_duration_seconds_total", "counter", "Total time spent per command, in seconds."
)
COMMANDS_REJECTED = _d(
    "commands_rejected_calls_total", "counter", "Calls rejected before execution, per command."
)
COMMANDS_FAILED = _d(
    "commands_failed_calls_total", "counter", "Calls that failed during execution, per command."
)
LATENCY_PERCENTILES = _d(
    "latency_percentiles_usec", "summary", "Latency percentiles per command, in microseconds."
)
ERRORS = _d("errors_total", "counter", "Total number of error replies per error type.")
CONFIG_MAXMEMORY = _d("config_maxmemory", "gauge", "CONFIG maxmemory in bytes.")
CONFIG_MAXCLIENTS = _d("config_maxclients", "gauge", "CONFIG maxclients.")
CONFIG_IO_THREADS = _d("config_io_threads", "gauge", "CONFIG io-threads.")
CONFIG_REPL_BACKLOG = _d("config_repl_backlog_size", "gauge", "CONFIG repl-backlog-size in bytes.")
CONFIG_SAVE_RULES = _d(
    "config_save_rules",
    "gauge",
    "Number of RDB snapshot rules in CONFIG save; 0 when RDB snapshots are off.",
)
CONFIG_COBL_BYTES = _d(
    "config_client_output_buffer_limit_bytes",
    "gauge",
    "CONFIG client-output-buffer-limit in bytes.",
)
CONFIG_COBL_SECONDS = _d(
    "config_client_output_buffer_limit_overcome_seconds",
    "gauge",
    "CONFIG client-output-buffer-limit soft limit duration in seconds.",
)
SLOWLOG_LENGTH = _d("slowlog_length", "gauge", "Number of entries in the slowlog.")
SLOWLOG_LAST_ID = _d("slowlog_last_id", "gauge", "Id of the newest slowlog entry.")
SLOW_LAST_DURATION = _d(
    "last_slow_execution_duration_seconds",
    "gauge",
    "Duration of the newest slowlog entry, in seconds.",
)
SLOWLOG_ENTRIES = _d(
    "slowlog_entries_total", "counter", "Slowlog entries seen by the exporter, per command."
)
SLOWLOG_DURATION = _d(
    "slowlog_duration_seconds_total",
    "counter",
    "Execution time of slowlog entries seen, per command, in seconds.",
)
SLOWLOG_MISSED = _d(
    "slowlog_entries_missed_total",
    "counter",
    "Slowlog entries that fell off the log between two polls and were never seen.",
)
LATENCY_SPIKE_LAST = _d(
    "latency_spike_last", "gauge", "Unix time of the latest latency spike per event."
)
LATENCY_SPIKE_DURATION = _d(
    "latency_spike_duration_seconds",
    "gauge",
    "Duration of the latest latency spike per event, in seconds.",
)
KEY_GROUPS_DURATION = _d(
    "last_key_groups_scrape_duration_milliseconds",
    "gauge",
    "Duration of the last key group collection in milliseconds (always 0: not collected).",
)

SENTINEL_INFO_GAUGES = {
    "sentinel_masters": _d(
        "sentinel_masters", "gauge", "The number of masters this sentinel is watching."
    ),
    "sentinel_tilt": _d("sentinel_tilt", "gauge", "1 while the Sentinel is in TILT mode."),
    "sentinel_tilt_since_seconds": _d(
        "sentinel_tilt_since_seconds",
        "gauge",
        "Seconds since TILT mode started, -1 when not in TILT.",
    ),
    "sentinel_total_tilt": _d(
        "sentinel_total_tilt", "counter", "Times this Sentinel entered TILT mode."
    ),
    "sentinel_running_scripts": _d(
        "sentinel_running_scripts", "gauge", "Number of scripts in execution right now."
    ),
    "sentinel_scripts_queue_length": _d(
        "sentinel_scripts_queue_length", "gauge", "Queue of user scripts to execute."
    ),
    "sentinel_simulate_failure_flags": _d(
        "sentinel_simulate_failure_flags", "gauge", "Failure simulation flags."
    ),
}
SENTINEL_MASTER_STATUS = _d(
    "sentinel_master_status", "gauge", "1 if the Sentinel sees the master as ok."
)
SENTINEL_MASTER_SLAVES = _d(
    "sentinel_master_slaves", "gauge", "The number of replicas of the master."
)
SENTINEL_MASTER_SENTINELS = _d(
    "sentinel_master_sentinels", "gauge", "The number of sentinels monitoring this master."
)
SENTINEL_CKQUORUM = _d(
    "sentinel_master_ckquorum_status", "gauge", "1 if SENTINEL CKQUORUM succeeds for the master."
)
SENTINEL_OK_SENTINELS = _d(
    "sentinel_master_ok_sentinels",
    "gauge",
    "Sentinels monitoring this master that are not down, this one included.",
)
SENTINEL_OK_SLAVES = _d(
    "sentinel_master_ok_slaves", "gauge", "Replicas of the master that are not down."
)
# SENTINEL MASTERS field -> metric
SENTINEL_MASTER_SETTINGS = {
    "quorum": _d("sentinel_master_setting_ckquorum", "gauge", "Quorum configured for the master."),
    "failover-timeout": _d(
        "sentinel_master_setting_failover_timeout",
        "gauge",
        "failover-timeout for the master, in ms.",
    ),
    "parallel-syncs": _d(
        "sentinel_master_setting_parallel_syncs", "gauge", "parallel-syncs for the master."
    ),
    "down-after-milliseconds": _d(
        "sentinel_master_setting_down_after_milliseconds",
        "gauge",
        "down-after-milliseconds for the master.",
    ),
    "config-epoch": _d(
        "sentinel_master_config_epoch",
        "gauge",
        "Config epoch of the master as seen by the Sentinel.",
    ),
}
SENTINEL_LAST_OK_PING = _d(
    "sentinel_master_last_ok_ping_reply_seconds",
    "gauge",
    "Seconds since the master last answered a PING.",
)

# Our own HA view, across the nodes of one Sentinel group.
SENTINEL_FAILOVERS = _d(
    "sentinel_failovers_total",
    "counter",
    "Failovers observed per Sentinel group, counted once per config epoch.",
)
GROUP_MASTERS = _d(
    "sentinel_group_masters",
    "gauge",
    "Polled nodes of the group reporting role master (2+ is split brain).",
)
GROUP_REPLICAS_UP = _d(
    "sentinel_group_replicas_up", "gauge", "Replicas of the group that answered the last poll."
)
GROUP_SENTINELS_UP = _d(
    "sentinel_group_sentinels_up", "gauge", "Sentinels of the group that answered the last poll."
)
GROUP_AGREEMENT = _d(
    "sentinel_group_master_agreement",
    "gauge",
    "1 if every answering Sentinel names the same master address.",
)
GROUP_LAST_FAILOVER = _d(
    "sentinel_group_last_failover_timestamp_seconds",
    "gauge",
    "Unix time the exporter last saw a failover of the group.",
)

# Exporter self-metrics.
LAST_SCRAPE_DURATION = _d(
    "exporter_last_scrape_duration_seconds",
    "gauge",
    "Duration of the last poll of the node, in seconds.",
)
LAST_SCRAPE_CONNECT = _d(
    "exporter_last_scrape_connect_time_seconds",
    "gauge",
    "Time spent connecting in the last poll; 0 when a persistent connection was reused.",
)
LAST_SCRAPE_ERROR = _d(
    "exporter_last_scrape_error", "gauge", "1 with the error text as label if the last poll failed."
)
LAST_POLL_TIMESTAMP = _d(
    "exporter_last_poll_timestamp_seconds", "gauge", "Unix time the last poll of the node finished."
)
SCRAPES = _d("exporter_scrapes_total", "counter", "Polls of the node since the exporter started.")
SCRAPE_DURATION = _d(
    "exporter_scrape_duration_seconds", "summary", "Durations of polls of the node."
)
TARGET_SCRAPE_ERRORS = _d(
    "target_scrape_request_errors_total", "counter", "Errors in requests to the exporter."
)
BUILD_INFO = _d("exporter_build_info", "gauge", "redis-ha-exporter build information.")
