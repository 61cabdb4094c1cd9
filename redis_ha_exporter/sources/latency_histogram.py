"""LATENCY HISTOGRAM (Redis 7+, Valkey): each command's latency distribution, cumulative
power-of-two microsecond buckets, with its sum and count from INFO commandstats.

redis_commands_latencies_usec_bucket{cmd="get",le="8",instance="10.0.0.1:6379"} 1520
redis_commands_latencies_usec_bucket{cmd="get",le="+Inf",instance="10.0.0.1:6379"} 1601
redis_commands_latencies_usec_sum{cmd="get",instance="10.0.0.1:6379"} 9011
redis_commands_latencies_usec_count{cmd="get",instance="10.0.0.1:6379"} 1601
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import decode, to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Command, NodeView, Reply, Setting, Source
from redis_ha_exporter.sources.info import InfoRecord

EXCLUDE = Setting(
    "exclude_latency_histogram_metrics",
    bool,
    False,
    "--exclude-latency-histogram-metrics",
    ("REDIS_EXPORTER_EXCLUDE_LATENCY_HISTOGRAM_METRICS",),
    "do not read `LATENCY HISTOGRAM` (redis_commands_latencies_usec): its reply and series "
    "grow with the number of distinct commands a node serves",
    metavar="BOOL",
)

LATENCIES = metric(
    "commands_latencies_usec",
    "histogram",
    "A histogram of latencies per command, in microseconds.",
)
# The reply's buckets hold the latencies the server measured up to ~1 s; a command word is a
# label, so a bound keeps a hostile reply from exploding cardinality.
MAX_COMMANDS = 1024


@dataclass(frozen=True, slots=True)
class LatencyHistogramRecord:
    """Per command: its calls and its cumulative ((upper bound in usec, calls), ...)."""

    commands: Mapping[str, tuple[int, tuple[tuple[int, int], ...]]] = field(default_factory=dict)


def commands(node: NodeView, prev: LatencyHistogramRecord | None) -> Sequence[Command]:
    if EXCLUDE.of(node.options) or node.version < (7,):
        return ()
    return [("LATENCY", "HISTOGRAM")]


def _pairs(flat: Reply) -> dict[str, Reply]:
    """A RESP2 flat [key, value, ...] list (RESP3 maps arrive as dicts) as a dict."""
    if isinstance(flat, dict):
        return {decode(k): v for k, v in flat.items()}
    if not isinstance(flat, (list, tuple)):
        return {}
    return {decode(k): v for k, v in zip(flat[0::2], flat[1::2], strict=False)}


def parse_histograms(reply: Reply) -> dict[str, tuple[int, tuple[tuple[int, int], ...]]]:
    """`[cmd, [calls, n, histogram_usec, [bound, count, ...]], ...]`; malformed commands are
    skipped, never raised on."""
    out: dict[str, tuple[int, tuple[tuple[int, int], ...]]] = {}
    for cmd, body in _pairs(reply).items():
        if len(out) >= MAX_COMMANDS:
            break
        fields = _pairs(body)
        calls = to_int(fields.get("calls"))
        buckets = _pairs(fields.get("histogram_usec"))
        bins = [(to_int(k), to_int(v)) for k, v in buckets.items()]
        if calls is None or not cmd or any(b is None or c is None for b, c in bins):
            continue
        out[cmd.lower()] = (calls, tuple(sorted((int(b or 0), int(c or 0)) for b, c in bins)))
    return out


def parse(
    node: NodeView, prev: LatencyHistogramRecord | None, replies: Sequence[Reply]
) -> LatencyHistogramRecord:
    return LatencyHistogramRecord(parse_histograms(replies[0]))


# `cmdstat_get:calls=1601,usec=9011,usec_per_call=...`: usec is the command's total time.
_USEC = re.compile(r"^cmdstat_([^:\r\n]+):[^\r\n]*?\busec=([0-9]+)", re.MULTILINE)


def command_usec(info_text: str) -> dict[str, int]:
    """Each command's total microseconds from the INFO reply the node keeps: read when the
    histograms are rendered, so no node holds a copy between polls."""
    return {cmd.lower(): int(usec) for cmd, usec in _USEC.findall(info_text)}


def families(snap: NodeSnapshot, record: LatencyHistogramRecord, b: FamilyBuilder) -> None:
    if not record.commands:
        return
    info = snap.get(InfoRecord)
    usec = command_usec(info.raw) if info is not None else {}
    for cmd in sorted(record.commands):
        calls, buckets = record.commands[cmd]
        for bound, count in buckets:
            b.add(LATENCIES, count, "_bucket", cmd=cmd, le=str(bound))
        b.add(LATENCIES, calls, "_bucket", cmd=cmd, le="+Inf")
        b.add(LATENCIES, usec.get(cmd, 0), "_sum", cmd=cmd)
        b.add(LATENCIES, calls, "_count", cmd=cmd)


SOURCE = Source(
    "latency histogram",
    LatencyHistogramRecord,
    DATA,
    commands,
    parse,
    families,
    metrics=declared(globals()),
    settings=(EXCLUDE,),
    acl=("+latency|histogram",),
)
