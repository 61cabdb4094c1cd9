"""INFO's metric names: redis_exporter's field maps (the compatibility contract), so community
dashboards and alert rules keep working, and the families derived from more than one field."""

from __future__ import annotations

from redis_ha_exporter.metrics.model import NAMESPACE, MetricDef, metric


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
mem_replicas_repl_buffer mem_replicas_repl_buffer_bytes
replicas_waiting_psync replicas_waiting_psync
replicas_repl_buffer_size replicas_repl_buffer_size_bytes
replicas_repl_buffer_peak replicas_repl_buffer_peak_bytes
slowlog_commands_time_ms_max slowlog_commands_time_ms_max
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
slowlog_commands_count slowlog_commands_total
slowlog_commands_time_ms_sum slowlog_commands_time_ms_total
""")


# Metrics not derived one-to-one from an INFO field.
INSTANCE_INFO = metric("instance_info", "gauge", "Information about the Redis instance.")
SLAVE_INFO = metric("slave_info", "gauge", "Information about the Redis replica.")
START_TIME = metric(
    "start_time_seconds", "gauge", "Start time of the Redis instance since unix epoch in seconds."
)
LATEST_FORK = metric("latest_fork_seconds", "gauge", "Duration of the latest fork in seconds.")
MASTER_LINK_UP = metric("master_link_up", "gauge", "1 if the replica's link to its master is up.")
MASTER_LAST_IO = metric(
    "master_last_io_seconds_ago", "gauge", "Seconds since the replica last heard from its master."
)
MASTER_SYNC = metric(
    "master_sync_in_progress", "gauge", "1 while the replica syncs from its master."
)
MASTER_LINK_DOWN_SINCE = metric(
    "master_link_down_since_seconds",
    "gauge",
    "Seconds the replica's link to its master has been down; 0 while it is up.",
)
SLAVE_REPL_OFFSET = metric("slave_repl_offset", "gauge", "Replication offset of the replica.")
SLAVE_OFFSET = metric(
    "connected_slave_offset_bytes",
    "gauge",
    "Replication offset of a connected replica, as seen by the master.",
)
SLAVE_LAG = metric(
    "connected_slave_lag_seconds",
    "gauge",
    "Seconds since the master last heard from a connected replica.",
)
SLAVE_LAG_BYTES = metric(
    "connected_slave_lag_bytes",
    "gauge",
    "Bytes a connected replica is behind: master_repl_offset minus the replica's offset.",
)
DB_KEYS = metric("db_keys", "gauge", "Total number of keys by DB.")
DB_KEYS_EXPIRING = metric("db_keys_expiring", "gauge", "Total number of expiring keys by DB.")
DB_AVG_TTL = metric(
    "db_avg_ttl_seconds", "gauge", "Average TTL of keys with an expiry, in seconds, by DB."
)
DB_KEYS_WITH_EXPIRING_ITEMS = metric(
    "db_keys_with_expiring_items",
    "gauge",
    "Keys with fields that expire (Redis subexpiry, Valkey keys_with_volatile_items), by DB.",
)
ACTIVE_TIME_IO_THREAD = metric(
    "active_time_io_thread_seconds_total",
    "counter",
    "Time an I/O thread spent busy, in seconds (Valkey 9.1 used_active_time_io_thread_N).",
)
KEYSIZES_STRING_BYTES = metric(
    "db_keysizes_string_bytes",
    "histogram",
    "String keys by value size in bytes, by DB (Redis 8 INFO keysizes: power-of-two bins).",
)
KEYSIZES_ITEMS = metric(
    "db_keysizes_items",
    "histogram",
    "Collection keys by number of items, by DB and type (Redis 8 INFO keysizes).",
)
DB_KEYS_CACHED = metric("db_keys_cached", "gauge", "Cached keys by DB (KeyDB).")
COMMANDS = metric("commands_total", "counter", "Total number of calls per command.")
COMMANDS_DURATION = metric(
    "commands_duration_seconds_total", "counter", "Total time spent per command, in seconds."
)
COMMANDS_REJECTED = metric(
    "commands_rejected_calls_total", "counter", "Calls rejected before execution, per command."
)
COMMANDS_FAILED = metric(
    "commands_failed_calls_total", "counter", "Calls that failed during execution, per command."
)
LATENCY_PERCENTILES = metric(
    "latency_percentiles_usec", "summary", "Latency percentiles per command, in microseconds."
)
ERRORS = metric("errors_total", "counter", "Total number of error replies per error type.")

# Every one-to-one INFO field, with its family.
MAPPED: dict[str, MetricDef] = {
    **{
        f: MetricDef(f"{NAMESPACE}_{m}", "gauge", f"INFO field {f}.")
        for f, m in INFO_GAUGES.items()
    },
    **{
        f: MetricDef(f"{NAMESPACE}_{m}", "counter", f"INFO field {f}.")
        for f, m in INFO_COUNTERS.items()
    },
}
