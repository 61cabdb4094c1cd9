"""The Sentinel source's names: INFO's sentinel section, SENTINEL MASTERS and per-group
replies, and our own view of each group across its polled nodes."""

from __future__ import annotations

from redis_ha_exporter.metrics.model import metric

SENTINEL_INFO_GAUGES = {
    "sentinel_masters": metric(
        "sentinel_masters", "gauge", "The number of masters this sentinel is watching."
    ),
    "sentinel_tilt": metric("sentinel_tilt", "gauge", "1 while the Sentinel is in TILT mode."),
    "sentinel_tilt_since_seconds": metric(
        "sentinel_tilt_since_seconds",
        "gauge",
        "Seconds since TILT mode started, -1 when not in TILT.",
    ),
    "sentinel_total_tilt": metric(
        "sentinel_total_tilt", "counter", "Times this Sentinel entered TILT mode."
    ),
    "sentinel_running_scripts": metric(
        "sentinel_running_scripts", "gauge", "Number of scripts in execution right now."
    ),
    "sentinel_scripts_queue_length": metric(
        "sentinel_scripts_queue_length", "gauge", "Queue of user scripts to execute."
    ),
    "sentinel_simulate_failure_flags": metric(
        "sentinel_simulate_failure_flags", "gauge", "Failure simulation flags."
    ),
}
SENTINEL_MASTER_STATUS = metric(
    "sentinel_master_status", "gauge", "1 if the Sentinel sees the master as ok."
)
SENTINEL_MASTER_SLAVES = metric(
    "sentinel_master_slaves", "gauge", "The number of replicas of the master."
)
SENTINEL_MASTER_SENTINELS = metric(
    "sentinel_master_sentinels", "gauge", "The number of sentinels monitoring this master."
)
SENTINEL_CKQUORUM = metric(
    "sentinel_master_ckquorum_status", "gauge", "1 if SENTINEL CKQUORUM succeeds for the master."
)
SENTINEL_OK_SENTINELS = metric(
    "sentinel_master_ok_sentinels",
    "gauge",
    "Sentinels monitoring this master that are not down, this one included.",
)
SENTINEL_PEER_INFO = metric(
    "sentinel_peer_info",
    "gauge",
    "Another Sentinel monitoring this master, as this one sees it (--include-sentinel-peer-info).",
)
SENTINEL_OK_SLAVES = metric(
    "sentinel_master_ok_slaves", "gauge", "Replicas of the master that are not down."
)
# SENTINEL MASTERS field -> metric
SENTINEL_MASTER_SETTINGS = {
    "quorum": metric(
        "sentinel_master_setting_ckquorum", "gauge", "Quorum configured for the master."
    ),
    "failover-timeout": metric(
        "sentinel_master_setting_failover_timeout",
        "gauge",
        "failover-timeout for the master, in ms.",
    ),
    "parallel-syncs": metric(
        "sentinel_master_setting_parallel_syncs", "gauge", "parallel-syncs for the master."
    ),
    "down-after-milliseconds": metric(
        "sentinel_master_setting_down_after_milliseconds",
        "gauge",
        "down-after-milliseconds for the master.",
    ),
    "config-epoch": metric(
        "sentinel_master_config_epoch",
        "gauge",
        "Config epoch of the master as seen by the Sentinel.",
    ),
}
SENTINEL_LAST_OK_PING = metric(
    "sentinel_master_last_ok_ping_reply_seconds",
    "gauge",
    "Seconds since the master last answered a PING.",
)


# Our own HA view, across the nodes of one Sentinel group.
SENTINEL_FAILOVERS = metric(
    "sentinel_failovers_total",
    "counter",
    "Failovers observed per Sentinel group, counted once per config epoch.",
)
GROUP_MASTERS = metric(
    "sentinel_group_masters",
    "gauge",
    "Polled nodes of the group reporting role master (2+ is split brain).",
)
GROUP_REPLICAS_UP = metric(
    "sentinel_group_replicas_up", "gauge", "Replicas of the group that answered the last poll."
)
GROUP_SENTINELS_UP = metric(
    "sentinel_group_sentinels_up", "gauge", "Sentinels of the group that answered the last poll."
)
GROUP_AGREEMENT = metric(
    "sentinel_group_master_agreement",
    "gauge",
    "1 if every answering Sentinel names the same master address.",
)
GROUP_LAST_FAILOVER = metric(
    "sentinel_group_last_failover_timestamp_seconds",
    "gauge",
    "Unix time the exporter last saw a failover of the group.",
)
