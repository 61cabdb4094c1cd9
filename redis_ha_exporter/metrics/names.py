"""The names no source owns: each node's self-metrics and the exporter's own.

Every source declares its families in its own module (`sources/`); `sources.metric_defs()`
gathers them all.
"""

from __future__ import annotations

from redis_ha_exporter.metrics.model import metric

UP = metric("up", "gauge", "1 if the last poll of the node succeeded, 0 otherwise.")
KEY_GROUPS_DURATION = metric(
    "last_key_groups_scrape_duration_milliseconds",
    "gauge",
    "Duration of the last key group collection in milliseconds (always 0: not collected).",
)


# Exporter self-metrics.
LAST_SCRAPE_DURATION = metric(
    "exporter_last_scrape_duration_seconds",
    "gauge",
    "Duration of the last poll of the node, in seconds.",
)
LAST_SCRAPE_CONNECT = metric(
    "exporter_last_scrape_connect_time_seconds",
    "gauge",
    "Time spent connecting in the last poll; 0 when a persistent connection was reused.",
)
LAST_SCRAPE_ERROR = metric(
    "exporter_last_scrape_error", "gauge", "1 with the error text as label if the last poll failed."
)
LAST_POLL_TIMESTAMP = metric(
    "exporter_last_poll_timestamp_seconds", "gauge", "Unix time the last poll of the node finished."
)
SCRAPES = metric(
    "exporter_scrapes_total", "counter", "Polls of the node since the exporter started."
)
SCRAPE_DURATION = metric(
    "exporter_scrape_duration_seconds", "summary", "Durations of polls of the node."
)
TARGET_SCRAPE_ERRORS = metric(
    "target_scrape_request_errors_total", "counter", "Errors in requests to the exporter."
)
REFUSED = metric(
    "exporter_refused_commands",
    "gauge",
    "1 per command family the node refuses (NOPERM, renamed or unknown); its series are missing.",
)
RESTARTS = metric(
    "exporter_node_restarts_total",
    "counter",
    "Restarts of the node seen by the exporter (its run_id changed at the same address).",
)
BUILD_INFO = metric("exporter_build_info", "gauge", "redis-ha-exporter build information.")
DISCOVERY_REJECTED = metric(
    "exporter_discovery_rejected",
    "gauge",
    "Nodes the Sentinels of the group name outside --discovery-allow; they are never contacted.",
)
DISCOVERY_CAPPED = metric(
    "exporter_discovery_capped_nodes",
    "gauge",
    "Nodes discovered beyond --max-nodes; they are not polled.",
)
CONFIG_RELOAD_OK = metric(
    "exporter_config_last_reload_successful",
    "gauge",
    "Whether the last reload of the configuration (SIGHUP, POST /-/reload) worked.",
)
CONFIG_RELOAD_AT = metric(
    "exporter_config_last_reload_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful load of the configuration.",
)
