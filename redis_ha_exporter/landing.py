"""The live status page `/`: per Sentinel group a diagram of master, replicas and Sentinels and
a failover timeline; per node memory, ops/s, clients and last poll. Rendered here only: the
page's small script fetches the live part (`render_main`, at `/api/topology.html`) every 2 s
and swaps it in.
"""

from __future__ import annotations

import math
import time
from html import escape

from redis_ha_exporter import __version__
from redis_ha_exporter.status import GroupEntry, NodeEntry, ReplicaEntry, Status, status
from redis_ha_exporter.store import StoreView

REFRESH_SECONDS = 2
_BW, _BH, _ROW = 170, 32, 40  # diagram: box width and height, row pitch
_COLS = (0, 230, 560)  # x of the Sentinel, master and replica columns
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

_CSS = """
:root{--ok:#17702b;--bad:#b3261e;--mute:#666;--line:#d0d7de;--sent:#3b5bdb}
*{box-sizing:border-box}
body{font:14px/1.35 system-ui,sans-serif;margin:0;padding:.6em 1em;color:#222}
header{display:flex;flex-wrap:wrap;gap:.2em 1.2em;align-items:baseline}
h1{font-size:1.25em;margin:0}h2{font-size:1.05em;margin:.1em 0}
h3{font-size:.85em;margin:.4em 0 .1em;color:var(--mute)}
code{background:#f3f3f3;padding:0 .2em;border-radius:3px}
.groups{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,36em),1fr));
gap:.7em;margin:.6em 0}
.group{border:1px solid var(--line);border-radius:6px;padding:.4em .6em;min-width:0}
.summary{margin:.1em 0 .3em;font-size:.9em}
svg.topo{display:block;width:100%;max-width:730px;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#222}svg text.sub{font-size:9.5px;fill:#555}
.node rect{fill:#eef6ee;stroke:var(--ok)}.node.master rect{fill:#d3efd9;stroke-width:2}
.node.sentinel rect{fill:#eef2fb;stroke:var(--sent)}.node.sentinel.odd rect{stroke:var(--bad)}
.node.down rect{fill:#fdecea;stroke:var(--bad);stroke-dasharray:4 3}
svg .node.down text{fill:var(--bad)}
.edge line{stroke:var(--ok);stroke-width:1.5}.edge.bad line{stroke:var(--bad);stroke-dasharray:5 3}
svg .edge text{font-size:9.5px;text-anchor:end}svg .edge.bad text{fill:var(--bad)}
.names line{stroke:#8da2d8;stroke-dasharray:2 3}.names.odd line{stroke:var(--bad)}
.timeline{list-style:none;margin:0;padding:0;max-height:8.5em;overflow:auto;font-size:.85em}
.timeline li{position:relative;padding:.05em 0 .05em 1.1em}
.timeline li::before{content:"";position:absolute;left:.2em;top:0;bottom:0;width:2px;
background:var(--line)}
.timeline li::after{content:"";position:absolute;left:0;top:.45em;width:.6em;height:.6em;
border-radius:50%;background:var(--sent)}
.timeline-empty{margin:0;font-size:.85em}
table.nodes{border-collapse:collapse;width:100%;font-size:.85em}
.nodes th,.nodes td{border-bottom:1px solid var(--line);padding:.12em .4em;text-align:left;
vertical-align:top;overflow-wrap:break-word}
.nodes td.err{overflow-wrap:anywhere}.nodes td.num{white-space:nowrap}
.nodes th{background:#f3f3f3;position:sticky;top:0}.nodes tr.is-down td{background:#fdf3f2}
.nodes td.num{text-align:right}.nodes tr.is-down .mem{opacity:.55}.nodes tr.is-down .num{color:#888}
.mem{display:flex;flex-wrap:wrap;align-items:center;gap:0 .4em;min-width:6.5em}
.bar{flex:0 0 6em;height:.6em;background:#e8e8e8;border-radius:3px;overflow:hidden}
.bar i{display:block;height:100%;background:var(--ok)}.bar i.warn{background:#d4a72c}
.bar i.full{background:var(--bad)}.bar.nolimit i{background:#8da2d8}
.st-up{color:var(--ok);font-weight:600}.st-down,.bad{color:var(--bad);font-weight:600}
span.warn{color:#8a6100;font-weight:600}
.muted{color:var(--mute)}#live.stale{color:var(--bad)}
"""

# The page's only script: every REFRESH_SECONDS it fetches the live part, rendered here by
# render_main (api/topology.html), and swaps it in. One renderer, in Python; no markup in JS.
_SCRIPT = (
    '\n(() => {\n"use strict";\n'
    + f"const EVERY={REFRESH_SECONDS};"
    + r"""
const app=document.getElementById("app"),live=document.getElementById("live");
const page={refreshes:0,refresh};
async function refresh(){
  try{if(!document.hidden){const r=await fetch("api/topology.html",{cache:"no-store"});
      if(!r.ok)throw new Error("HTTP "+r.status);app.innerHTML=await r.text();
      page.refreshes++;live.className="";
      live.textContent=`live: data of ${r.headers.get("X-Data-Of")}, refreshed every ${EVERY} s`;}
  }catch(e){live.className="stale";live.textContent=`refresh failed (${e.message}); retrying`;}
  finally{setTimeout(refresh,EVERY*1000);}}
window.statusPage=page;setTimeout(refresh,EVERY*1000);
})();
"""
)
# A group with two masters this soon after a failover: the old master is not reconfigured yet
# (Sentinel demotes it on its next INFO round, within ~10 s); longer is a split brain.
FAILOVER_SETTLE_SECONDS = 30.0
_ROLES = {"slave": "replica"}


def _esc(value: object) -> str:
    return escape(str(value))


def _short(text: str, n: int = 26) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _fixed1(x: float) -> str:
    """One decimal, rounding half up (Python's round() would round half to even)."""
    tenths = math.floor(x * 10 + 0.5)
    return f"{'-' if tenths < 0 else ''}{abs(tenths) // 10}.{abs(tenths) % 10}"


def _bytes(n: int | None) -> str:
    if n is None:
        return "?"
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{n} B" if unit == 0 else f"{_fixed1(value)} {_UNITS[unit]}"


def when(at: float) -> str:
    """A time as the page shows it, in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _num(v: int | None) -> str:
    return "?" if v is None else str(v)


def _box(x: int, y: int, cls: str, addr: str, sub: str, title: str) -> str:
    return (
        f'<g class="node {cls}"><title>{_esc(title)}</title>'
        f'<rect x="{x}" y="{y}" width="{_BW}" height="{_BH}" rx="4"/>'
        f'<text x="{x + 7}" y="{y + 13}">{_esc(_short(addr))}</text>'
        f'<text class="sub" x="{x + 7}" y="{y + 26}">{_esc(_short(sub, 32))}</text></g>'
    )


def _down_sub(n: NodeEntry | None) -> str:
    return "down: " + n["error"] if n is not None and n["error"] else "down"


def _data_sub(n: NodeEntry | None, word: str) -> str:
    if n is None or not n["up"]:
        return _down_sub(n)
    return f"{word} · {_num(n['ops_per_sec'])} ops/s · {_num(n['connected_clients'])} clients"


def _edge_label(r: ReplicaEntry) -> str:
    if not r["up"]:
        return "down"
    parts = [r["link"] or "link ?"]
    if r["sync_state"] and r["sync_state"] != "online":
        parts.append(r["sync_state"])
    parts.append("lag ?" if r["lag_bytes"] is None else _bytes(r["lag_bytes"]))
    if r["lag_seconds"] is not None:
        parts.append(f"{r['lag_seconds']}s")
    return " · ".join(parts)


def _masters(g: GroupEntry) -> list[str]:
    m = g["master"]
    return [] if m is None else [m] if isinstance(m, str) else m


def _diagram(g: GroupEntry, nodes: dict[str, NodeEntry]) -> str:
    """Sentinels (left, dotted to the master each names), masters, replicas (right); edges
    master -> replica labelled with link state and lag; down nodes red and dashed."""
    ms, reps = _masters(g), g["replicas"]
    # With no master answering, the one the Sentinels name stays in the master column, down.
    lost = (
        None
        if ms
        else next((r for r in reps if not r["up"] and r["instance"] == g["sentinel_master"]), None)
    )
    if lost is not None:
        ms, reps = [lost["instance"]], [r for r in reps if r is not lost]
    rows = max(len(g["sentinels"]), len(ms), len(reps), 1)

    def top(n: int) -> int:
        return 4 + (rows - max(n, 1)) * _ROW // 2

    mt, rt, st, h = top(len(ms)), top(len(reps)), top(len(g["sentinels"])), rows * _ROW + 8
    half = _BH // 2
    lines, boxes = [], []
    for i, s in enumerate(g["sentinels"]):
        if s["up"] and s["names_master"] in ms:
            j = ms.index(s["names_master"] or "")
            odd = " odd" if s["names_master"] != g["sentinel_master"] else ""
            lines.append(
                f'<g class="names{odd}"><line x1="{_COLS[0] + _BW}" y1="{st + i * _ROW + half}" '
                f'x2="{_COLS[1]}" y2="{mt + j * _ROW + half}"/></g>'
            )
    for i, r in enumerate(reps):
        if not ms:
            break
        j = ms.index(r["replicates"]) if r["replicates"] in ms else 0
        y, label = rt + i * _ROW + half, _edge_label(r)
        bad = "" if r["up"] and r["link"] == "up" else " bad"
        lines.append(
            f'<g class="edge{bad}"><title>{_esc(ms[j] + " → " + r["instance"] + ": " + label)}'
            f'</title><line x1="{_COLS[1] + _BW}" y1="{mt + j * _ROW + half}" x2="{_COLS[2]}" '
            f'y2="{y}"/><text x="{_COLS[2] - 6}" y="{y - 4}">{_esc(label)}</text></g>'
        )
    for i, s in enumerate(g["sentinels"]):
        down = "" if s["up"] else " down"
        odd = " odd" if s["up"] and s["names_master"] != g["sentinel_master"] else ""
        sub = (
            "names " + (s["names_master"] or "?")
            if s["up"]
            else _down_sub(nodes.get(s["instance"]))
        )
        cls = "sentinel" + down + odd
        boxes.append(
            _box(_COLS[0], st + i * _ROW, cls, s["instance"], sub, f"{s['instance']} — {sub}")
        )
    for i, m in enumerate(ms):
        node = nodes.get(m)
        sub, down = _data_sub(node, "master"), "" if node is not None and node["up"] else " down"
        boxes.append(_box(_COLS[1], mt + i * _ROW, "data master" + down, m, sub, f"{m} — {sub}"))
    if not ms:
        sub = "Sentinels name " + (g["sentinel_master"] or "?")
        boxes.append(_box(_COLS[1], mt, "data master down", "no master", sub, sub))
    for i, r in enumerate(reps):
        sub, down = _data_sub(nodes.get(r["instance"]), "replica"), "" if r["up"] else " down"
        cls, addr = "data replica" + down, r["instance"]
        boxes.append(_box(_COLS[2], rt + i * _ROW, cls, addr, sub, f"{addr} — {sub}"))
    width = _COLS[2] + _BW
    return (
        f'<svg class="topo" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img" '
        f'aria-label="{_esc("topology of " + g["name"])}">' + "".join(lines + boxes) + "</svg>"
    )


def _timeline(g: GroupEntry) -> str:
    """Failovers, newest first."""
    if not g["history"]:
        return '<p class="muted timeline-empty">no failover seen since the exporter started</p>'
    items = (
        f'<li><time>{_esc(when(f["at"]))}</time> <code class="from">{_esc(f["from"])}</code> → '
        f'<code class="to">{_esc(f["to"])}</code> <span class="muted">epoch {_esc(f["epoch"])}'
        "</span></li>"
        for f in reversed(g["history"])
    )
    return '<ol class="timeline">' + "".join(items) + "</ol>"


def _two_masters(g: GroupEntry, now: float) -> str:
    """What several answering masters mean: the seconds after a failover in which the old
    master still says role:master, or a split brain when it lasts."""
    last = g["history"][-1] if g["history"] else None
    if (
        last is not None
        and now - last["at"] <= FAILOVER_SETTLE_SECONDS
        and g["sentinel_master"] == last["to"]
        and last["to"] in _masters(g)
    ):
        return ' <span class="warn">failover in progress: old master not yet reconfigured</span>'
    return ' <span class="bad">split brain</span>'


def _group(g: GroupEntry, nodes: dict[str, NodeEntry], now: float) -> str:
    ms = _masters(g)
    m = " ".join(f"<code>{_esc(a)}</code>" for a in ms)
    if not ms:
        m = '<span class="bad">none</span>'
    elif len(ms) > 1:
        m += _two_masters(g, now)
    agree = '<span class="bad">no Sentinel answers</span>'
    if any(s["up"] for s in g["sentinels"]):
        agree = "agree" if g["agreement"] else '<span class="bad">disagree</span>'
    return (
        f'<article class="group" data-group="{_esc(g["name"])}"><h2>Group '
        f'<code>{_esc(g["name"])}</code></h2><p class="summary">Master: <span class="master">'
        f'{m}</span> · Sentinels name: <code class="sentinel-master">'
        f"{_esc(g['sentinel_master'] or '-')}</code> ({agree}) · "
        f"failovers seen: {_esc(g['failovers'])}</p>{_diagram(g, nodes)}<h3>Failovers</h3>"
        f"{_timeline(g)}</article>"
    )


def _mem(n: NodeEntry) -> str:
    """Used memory against maxmemory, or against the host's memory when there is no limit."""
    used, limit_max, system = n["memory_used_bytes"], n["maxmemory_bytes"], n["system_memory_bytes"]
    if n["kind"] != "data" or used is None:
        return "-"
    limit = limit_max or system
    text = (
        f"{_bytes(used)} / {_bytes(limit_max)}"
        if limit_max
        else f"{_bytes(used)} of {_bytes(system) if system else '?'} system · no limit"
    )
    if not limit:
        return f'<div class="mem"><small>{_esc(text)}</small></div>'
    pct = min(max(used / limit * 100, 0.0), 100.0)
    level = "" if not limit_max else "full" if pct >= 90 else "warn" if pct >= 75 else ""
    return (
        f'<div class="mem"><div class="bar{"" if limit_max else " nolimit"}"><i class="{level}" '
        f'style="width:{_fixed1(pct)}%"></i></div><small>{_esc(text)}</small></div>'
    )


def _node_row(n: NodeEntry) -> str:
    state = "not yet polled"
    if n["polled"]:
        up = n["up"]
        state = '<span class="st-up">up</span>' if up else '<span class="st-down">down</span>'
    age = n["last_poll_age_seconds"]
    age_text = "never" if age is None else _fixed1(age) + "s ago"
    row = ' class="is-down"' if n["polled"] and not n["up"] else ""
    return (
        f"<tr{row}>"
        f"<td>{_esc(n['instance'])}</td><td>{_esc(n['kind'])}</td>"
        f"<td>{_esc(_ROLES.get(n['role'], n['role']) or '-')}"
        f"</td><td>{_esc(', '.join(n['groups']) or '-')}</td><td>{state}</td><td>{_mem(n)}</td>"
        f'<td class="num">{_esc(_num(n["ops_per_sec"]))}</td>'
        f'<td class="num">{_esc(_num(n["connected_clients"]))}</td><td>{_esc(age_text)}</td>'
        f'<td class="err">{_esc(n["error"] or "-")}{_refused(n)}</td></tr>'
    )


def _refused(n: NodeEntry) -> str:
    """The command families a node refuses: their series (and panels) are missing."""
    if not n["refused"]:
        return ""
    return f'<br><small class="bad">refuses {_esc(", ".join(n["refused"]))}</small>'


def render_main(doc: Status) -> str:
    """The page's live part: on first load inside the page, then every refresh alone."""
    nodes = {n["instance"]: n for n in doc["nodes"]}
    groups = ""
    if doc["groups"]:
        groups = (
            '<section class="groups">'
            + "".join(_group(g, nodes, doc["generated_at"]) for g in doc["groups"])
            + "</section>"
        )
    return (
        f'{groups}<h2>Nodes ({len(doc["nodes"])})</h2><table class="nodes"><thead><tr>'
        "<th>address</th><th>kind</th><th>role</th><th>groups</th><th>state</th><th>memory</th>"
        "<th>ops/s</th><th>clients</th><th>last poll</th><th>last error</th></tr></thead><tbody>"
        + "".join(_node_row(n) for n in doc["nodes"])
        + "</tbody></table>"
    )


def render_landing(view: StoreView, now: float | None = None) -> str:
    doc = status(view, time.time() if now is None else now)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>redis-ha-exporter</title><style>{_CSS}</style></head><body><header>"
        f"<h1>redis-ha-exporter {_esc(__version__)}</h1><nav><a href='metrics'>Metrics</a> · "
        "<a href='health'>Health</a> · <a href='ready'>Ready</a> · "
        "<a href='api/topology'>API</a></nav><span id='live' class='muted'>data of "
        f"{_esc(when(doc['generated_at']))}; refreshed every {REFRESH_SECONDS} s with "
        f"JavaScript</span></header><main id='app'>{render_main(doc)}</main>"
        f"<script>{_SCRIPT}</script></body></html>"
    )
