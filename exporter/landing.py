"""The HTML landing page: every node's state and, per Sentinel group, the topology as the
exporter sees it. Plain HTML and CSS; no JavaScript."""

from __future__ import annotations

import time
from html import escape

from exporter import __version__
from exporter.metrics.groups import master_views
from exporter.replies import parse_kv_list
from exporter.snapshot import NodeSnapshot
from exporter.store import StoreView

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.95em}
th{background:#f3f3f3}.up{color:#17702b;font-weight:600}.down{color:#b3261e;font-weight:600}
code{background:#f3f3f3;padding:0 .2em}
"""


def _age(ts: float | None, now: float) -> str:
    return "never" if ts is None else f"{max(now - ts, 0):.1f}s ago"


def _state(up: bool) -> str:
    return '<span class="up">up</span>' if up else '<span class="down">down</span>'


def _nodes_table(nodes: list[NodeSnapshot], now: float) -> str:
    rows = []
    for s in nodes:
        rows.append(
            "<tr>"
            f"<td>{escape(s.instance)}</td><td>{escape(s.kind)}</td>"
            f"<td>{escape(s.role or '-')}</td>"
            f"<td>{escape(','.join(s.groups) or '-')}</td>"
            f"<td>{_state(s.up) if s.polled else 'not yet polled'}</td>"
            f"<td>{_age(s.polled_at if s.polled else None, now)}</td>"
            f"<td>{escape(s.error) or '-'}</td></tr>"
        )
    return (
        "<table><tr><th>address</th><th>kind</th><th>role</th><th>group</th><th>state</th>"
        "<th>last poll</th><th>last error</th></tr>" + "".join(rows) + "</table>"
    )


def _replica_rows(master: NodeSnapshot | None, replicas: list[NodeSnapshot]) -> str:
    lags: dict[str, tuple[str, str]] = {}
    if master is not None and master.up:
        repl = master.info.get("replication", {})
        try:
            master_offset = int(repl.get("master_repl_offset", ""))
        except ValueError:
            master_offset = None
        for key, value in repl.items():
            if key.startswith("slave") and key[5:].isdigit():
                r = parse_kv_list(value)
                lag = "-"
                if master_offset is not None and r.get("offset", "").isdigit():
                    lag = str(max(master_offset - int(r["offset"]), 0))
                lags[f"{r.get('ip', '')}:{r.get('port', '')}"] = (r.get("state", ""), lag)
    rows = []
    for s in replicas:
        link = s.info.get("replication", {}).get("master_link_status", "-") if s.up else "-"
        state, lag = lags.get(s.instance, ("-", "-"))
        rows.append(
            f"<tr><td>{escape(s.instance)}</td><td>{_state(s.up)}</td><td>{escape(link)}</td>"
            f"<td>{escape(state)}</td><td>{escape(lag)}</td></tr>"
        )
    return "".join(rows)


def _group_section(store: StoreView, name: str, now: float) -> str:
    state = store.groups[name]
    nodes = [s for s in store.nodes.values() if name in s.groups]
    data = [s for s in nodes if s.kind == "data"]
    masters = [s for s in data if s.up and s.role == "master"]
    replicas = [s for s in data if s not in masters]
    views = master_views(name, nodes)
    last = (
        "none seen"
        if state.last_failover_at is None
        else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(state.last_failover_at))
    )
    master_txt = ", ".join(escape(m.instance) for m in masters) or '<span class="down">none</span>'
    sentinel_rows = "".join(
        f"<tr><td>{escape(s.instance)}</td><td>{_state(s.up)}</td>"
        f"<td>{escape(views.get(s.instance, '-'))}</td></tr>"
        for s in sorted((s for s in nodes if s.kind == "sentinel"), key=lambda s: s.instance)
    )
    return (
        f"<h2>Group <code>{escape(name)}</code></h2>"
        f"<p>Master: {master_txt} &middot; Sentinels name: "
        f"{escape(', '.join(sorted(set(views.values()))) or '-')} &middot; "
        f"failovers seen: {state.failovers} &middot; last failover: {escape(last)}</p>"
        "<table><tr><th>replica</th><th>state</th><th>master link</th><th>sync state</th>"
        "<th>lag (bytes)</th></tr>"
        + _replica_rows(masters[0] if masters else None, sorted(replicas, key=lambda s: s.instance))
        + "</table><table><tr><th>sentinel</th><th>state</th><th>names master</th></tr>"
        + sentinel_rows
        + "</table>"
    )


def render_landing(store: StoreView) -> str:
    now = time.time()
    nodes = sorted(store.nodes.values(), key=lambda s: s.instance)
    groups = "".join(_group_section(store, name, now) for name in sorted(store.groups))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>redis-ha-exporter</title>"
        f"<style>{_CSS}</style></head><body><h1>redis-ha-exporter {escape(__version__)}</h1>"
        "<p><a href='metrics'>Metrics</a> &middot; <a href='health'>Health</a> &middot; "
        "<a href='ready'>Ready</a></p>"
        f"{groups}<h2>Nodes</h2>{_nodes_table(nodes, now)}</body></html>"
    )
