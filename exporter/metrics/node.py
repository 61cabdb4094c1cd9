"""One node's snapshot -> its metric families: self-metrics always, data while fresh.

redis_up{instance="10.0.0.1:6379"} 1
redis_exporter_last_scrape_error{err="",instance="10.0.0.1:6379"} 0
redis_slowlog_entries_total{cmd="debug",instance="10.0.0.1:6379"} 3
redis_sentinel_master_ok_slaves{instance="10.0.0.9:26379",master_name="mymaster",...} 2
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.metrics import names as n
from exporter.metrics.info import add_info
from exporter.metrics.model import Family, FamilyBuilder
from exporter.snapshot import NodeSnapshot
from exporter.sources.info import to_number
from exporter.sources.sentinel import SentinelGroupView, is_down

DEFAULT_DATABASES = 16


def node_families(snap: NodeSnapshot, *, now: float, include_data: bool) -> list[Family]:
    """Families for one node. `include_data` is False once its data is too old to trust."""
    b = FamilyBuilder(snap.instance)
    if not snap.polled:
        return []
    b.add(n.UP, 1 if snap.up else 0)
    b.add(n.LAST_SCRAPE_DURATION, snap.duration)
    b.add(n.LAST_SCRAPE_CONNECT, snap.connect_time)
    b.add(n.LAST_SCRAPE_ERROR, 1 if snap.error else 0, err=snap.error)
    b.add(n.LAST_POLL_TIMESTAMP, snap.polled_at)
    b.add(n.SCRAPES, snap.polls)
    b.add(n.SCRAPE_DURATION, snap.poll_seconds_total, "_sum")
    b.add(n.SCRAPE_DURATION, snap.polls, "_count")
    if include_data and snap.last_success_at is not None:
        _data(b, snap, now)
    return b.build()


def _data(b: FamilyBuilder, snap: NodeSnapshot, now: float) -> None:
    data_node = snap.kind == "data"
    add_info(
        b,
        snap.info,
        now=now,
        # Role and version describe the node as it is now: a node that stopped answering
        # must not go on claiming to be the master.
        with_instance_info=snap.up,
        master_name=",".join(snap.groups),
        databases=_databases(snap.config) if data_node else None,
    )
    b.add(n.KEY_GROUPS_DURATION, 0)
    if data_node:
        _config(b, snap.config)
        _slowlog(b, snap)
        for event in snap.latency or ():
            b.add(n.LATENCY_SPIKE_LAST, event.timestamp, event_name=event.name)
            b.add(n.LATENCY_SPIKE_DURATION, event.latest_ms / 1e3, event_name=event.name)
    for view in snap.sentinel_groups:
        _sentinel_view(b, view)


def _databases(config: Mapping[str, str]) -> int:
    value = to_number(config.get("databases", ""))
    # Zero-fill is bounded so a hostile or odd reply cannot explode cardinality.
    return int(value) if value is not None and 0 < value <= 1024 else DEFAULT_DATABASES


def _config(b: FamilyBuilder, config: Mapping[str, str]) -> None:
    for key, defn in (
        ("maxmemory", n.CONFIG_MAXMEMORY),
        ("maxclients", n.CONFIG_MAXCLIENTS),
        ("io-threads", n.CONFIG_IO_THREADS),
        ("repl-backlog-size", n.CONFIG_REPL_BACKLOG),
    ):
        value = to_number(config.get(key, ""))
        if value is not None:
            b.add(defn, value)
    words = config.get("client-output-buffer-limit", "").split()
    for i in range(0, len(words) - 3, 4):
        cls, hard, soft, seconds = words[i : i + 4]
        values = [to_number(v) for v in (hard, soft, seconds)]
        if None in values:
            continue
        b.add(n.CONFIG_COBL_BYTES, values[0] or 0.0, **{"class": cls, "limit": "hard"})
        b.add(n.CONFIG_COBL_BYTES, values[1] or 0.0, **{"class": cls, "limit": "soft"})
        b.add(n.CONFIG_COBL_SECONDS, values[2] or 0.0, **{"class": cls, "limit": "soft"})


def _slowlog(b: FamilyBuilder, snap: NodeSnapshot) -> None:
    if snap.slowlog_len is not None:
        b.add(n.SLOWLOG_LENGTH, snap.slowlog_len)
        newest = snap.slowlog_newest
        b.add(n.SLOWLOG_LAST_ID, newest.id if newest else 0)
        b.add(n.SLOW_LAST_DURATION, newest.duration_us / 1e6 if newest else 0)
    tally = snap.slowlog
    if tally.last_id is None:
        return
    for cmd in sorted(tally.entries):
        b.add(n.SLOWLOG_ENTRIES, tally.entries[cmd], cmd=cmd)
        b.add(n.SLOWLOG_DURATION, tally.seconds.get(cmd, 0.0), cmd=cmd)
    b.add(n.SLOWLOG_MISSED, tally.missed)


def _sentinel_view(b: FamilyBuilder, view: SentinelGroupView) -> None:
    labels = {"master_name": view.name, "master_address": view.master_address}
    b.add(
        n.SENTINEL_CKQUORUM,
        1 if view.ckquorum_ok else 0,
        master_name=view.name,
        message=view.ckquorum_message,
    )
    b.add(n.SENTINEL_OK_SENTINELS, 1 + sum(not is_down(s) for s in view.sentinels), **labels)
    b.add(n.SENTINEL_OK_SLAVES, sum(not is_down(r) for r in view.replicas), **labels)
    for key, defn in n.SENTINEL_MASTER_SETTINGS.items():
        value = to_number(view.master.get(key, ""))
        if value is not None:
            b.add(defn, value, **labels)
    ping = to_number(view.master.get("last-ok-ping-reply", ""))
    if ping is not None:
        b.add(n.SENTINEL_LAST_OK_PING, ping / 1e3, **labels)
