"""The rows of the many-node scenarios in the result table, and their notes."""

from __future__ import annotations

from typing import Any

from bench.report import Row, median

NOTES = [
    "N nodes: one replay server process answers on N loopback ports with replies captured from "
    "a real redis-server holding the same data set (bench/replay.py); each exporter runs alone "
    "against a fresh one. Ours polls the N nodes (static targets from a YAML --config-file) "
    "every 10 s and gets a gzip scrape of /metrics every 15 s; redis_exporter gets a gzip "
    "`/scrape?target=redis://...` for each node every 10 s, spread over the interval. "
    "CPU % is the median over 15 s sub-windows; CPU per node-poll is CPU over the window "
    "divided by the INFO commands the replay server received in it (one per poll of either).",
    "Poll-start lateness is measured at the replay server (arrival of each poll's INFO) against "
    "each node's fixed grid, anchored at the earliest grid position its polls show (see "
    "bench/lateness.py); the inter-arrival variant is in the JSON. redis_exporter polls on "
    "demand, so it has none.",
    "HTTP latency is from the request's first byte sent to the body's last byte read, over "
    "keep-alive connections, by a load generator in its own process. CPU per request is the "
    "exporter's CPU during the burst less its idle rate measured just before (polling "
    "included), divided by the requests. /metrics of redis_exporter covers one node, so it "
    "is not compared.",
]


def _get(side: dict[str, Any] | None, *path: str) -> float | None:
    value: Any = side
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, list):
        return median(value)
    return None if value is None else float(value)


def rows(nodes: int, result: dict[str, Any]) -> list[Row]:
    ours, theirs = result.get("ours"), result.get("theirs")
    scenario = f"{nodes} nodes, 10 s interval"
    scrape_note = "n/a"
    if ours is not None and "bursts" in ours and "scrape_c1" not in ours["bursts"]:
        scrape_note = f"unavailable (HTTP {ours.get('scrape_endpoint_status')})"
    absent = "not run" if theirs is None else "failed" if "error" in theirs else "n/a"
    out: list[Row] = []

    def add(
        figure: str, *path: str, factor: float = 1.0, theirs_note: str = "", ours_note: str = ""
    ) -> None:
        o, t = _get(ours, *path), _get(theirs, *path)
        out.append(
            Row(
                scenario,
                figure,
                None if o is None else o * factor,
                None if t is None else t * factor,
                ours_note=ours_note or "n/a",
                theirs_note=theirs_note or absent,
            )
        )

    sub = f"median of {len((ours or {}).get('cpu_percent', []))} x 15 s"
    add(f"CPU, % of one core ({sub})", "cpu_percent")
    add("CPU per node-poll, ms", "cpu_ms_per_node_poll")
    add("node-polls per second (at the replay server)", "node_polls_per_second")
    add("RSS max, MiB", "rss_mib_max")
    add("RSS at end, MiB", "rss_mib_end")
    on_demand = "polls on demand" if theirs is not None else absent
    for q in ("p50", "p99"):
        figure = f"poll-start lateness {q}, ms (vs each node's grid)"
        add(figure, "lateness", f"grid_ms_{q}", theirs_note=on_demand)
    one_node = "one node only" if theirs is not None else absent
    for c in (1, 16):
        for q in ("p50", "p99"):
            key = f"latency_ms_{q}"
            add(
                f"/metrics gzip latency c{c} {q}, ms",
                "bursts",
                f"metrics_c{c}",
                key,
                theirs_note=one_node,
            )
    add(
        "/metrics gzip body, KiB",
        "bursts",
        "metrics_c1",
        "body",
        "bytes",
        factor=1 / 1024,
        theirs_note=one_node,
    )
    for c in (1, 16):
        for q in ("p50", "p99"):
            add(
                f"/scrape latency c{c} {q}, ms",
                "bursts",
                f"scrape_c{c}",
                f"latency_ms_{q}",
                ours_note=scrape_note,
            )
    add(
        "CPU per /scrape request, ms (c16, idle subtracted)",
        "bursts",
        "scrape_c16",
        "cpu_ms_per_request",
        ours_note=scrape_note,
    )
    return out
