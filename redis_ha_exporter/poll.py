"""One poll of one node: the sources' commands in one round trip (a second only when a source
asks for more), each source's replies parsed into its record, a new snapshot out.

The poller's loop, and later `/scrape` and the benchmarks, all call `poll()`; it knows nothing
about timing, reconnects or backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from redis_ha_exporter.replies import decode
from redis_ha_exporter.snapshot import NodeKind, NodeSnapshot
from redis_ha_exporter.sources.base import Command, NodeView, PollOptions, Reply, Source, is_refusal
from redis_ha_exporter.sources.info import InfoRecord, parse_info
from redis_ha_exporter.sources.sentinel import SentinelRecord

log = logging.getLogger("redis_ha_exporter.poll")


@dataclass(slots=True)
class _Plan:
    source: Source[Any]
    prev: object | None
    commands: list[Command]
    replies: list[Reply]


class Connection(Protocol):
    """What a poll needs of a node's connection (`wire.Link`; a fake in the unit tests)."""

    async def roundtrip(self, commands: Sequence[Command]) -> list[Reply]:
        """One round trip; error replies come back as exceptions in their place."""
        ...


async def run_commands(client: Connection, commands: Sequence[Command]) -> list[Reply]:
    return await client.roundtrip(commands) if commands else []


async def identify(client: Connection) -> InfoRecord:
    """What the node is and its versions, from `INFO server` (understood by every kind)."""
    (reply,) = await run_commands(client, [("INFO", "server")])
    if isinstance(reply, Exception):
        raise reply
    return InfoRecord.of(parse_info(decode(reply)))


async def poll(
    client: Connection,
    prev: NodeSnapshot,
    sources: Sequence[Source[Any]],
    options: PollOptions,
) -> NodeSnapshot:
    """Poll the node once. Raises on I/O errors and on an error reply to INFO; the caller
    turns that into a failed snapshot. The result has `up=True` and no timings yet."""
    kind, version, valkey = prev.kind, prev.version, prev.valkey
    if kind == "unknown" or not version:
        known = await identify(client)
        kind, version, valkey = known.kind, known.version, known.valkey
    for _attempt in range(2):
        node = NodeView(prev.instance, kind, version, prev.polls, options, valkey=valkey)
        # Records of another kind (a port now served by a Sentinel) are not carried over.
        base = prev if prev.kind == kind else replace(prev, records={}, refused=frozenset())
        records, refused, refusals = await _collect(client, node, base, sources)
        found = records.get(InfoRecord)
        assert isinstance(found, InfoRecord)  # INFO is required: its failure raised
        info = found
        version, valkey = info.version or version, info.valkey
        detected = info.kind
        if detected == kind:
            for line in refusals:  # not when the commands went to a node of another kind
                # The server's words go to the log as the exception, which the log redacts.
                log.info(
                    "node %s refused %s (%.200s); polling it without %s until it reconnects",
                    *line,
                    extra={"event": "command_refused", "instance": prev.instance},
                )
            break
        # The same port now serves the other kind (restart): plan again, once, for it.
        log.info(
            "node %s is now a %s node",
            prev.instance,
            detected,
            extra={"event": "kind_change", "instance": prev.instance},
        )
        kind, prev = detected, replace(prev, kind=detected, records={}, refused=frozenset())
    else:
        kind = detected
    identity = _identity(kind, info, records)
    restarted = kind == "data" and bool(prev.identity) and bool(identity)
    restarted = restarted and identity != prev.identity
    if restarted:
        log.warning(
            "node %s restarted (a new run_id): its counters start again from zero",
            prev.instance,
            extra={"event": "node_restart", "instance": prev.instance},
        )
    return NodeSnapshot(
        prev.instance,
        kind,
        prev.groups,
        up=True,
        version=version,
        valkey=valkey,
        role=info.role,
        identity=identity,
        refused=refused,
        restarts=prev.restarts + restarted,
        records=records,
        polls=prev.polls,
        poll_seconds_total=prev.poll_seconds_total,
        last_success_at=prev.last_success_at,
    )


def _identity(kind: NodeKind, info: InfoRecord, records: dict[type, object]) -> str:
    if kind == "sentinel":
        sentinel = records.get(SentinelRecord)
        return sentinel.myid if isinstance(sentinel, SentinelRecord) else ""
    return info.run_id


async def _collect(
    client: Connection, node: NodeView, prev: NodeSnapshot, sources: Sequence[Source[Any]]
) -> tuple[dict[type, object], frozenset[str], list[tuple[str, str, Exception, str]]]:
    """Records by type, the sources refused so far, and (instance, what, source) of each
    source refused in this poll, for the caller to log."""
    plans = [
        _Plan(src, src.previous(prev), [], [])
        for src in sources
        if node.kind in src.kinds and src.name not in prev.refused
    ]
    for plan in plans:
        plan.commands = list(plan.source.commands(node, plan.prev))
    replies = await run_commands(client, [c for p in plans for c in p.commands])
    offset = 0
    for plan in plans:
        plan.replies = replies[offset : offset + len(plan.commands)]
        offset += len(plan.commands)
    extra: list[tuple[_Plan, list[Command]]] = []
    for plan in plans:
        if plan.replies and not isinstance(plan.replies[0], Exception):
            more = list(plan.source.more(node, plan.prev, plan.replies))
            if more:
                extra.append((plan, more))
    if extra:
        replies = await run_commands(client, [c for _, more in extra for c in more])
        offset = 0
        for plan, more in extra:
            plan.replies += replies[offset : offset + len(more)]
            offset += len(more)

    records: dict[type, object] = {}
    refused = set(prev.refused)
    refusals: list[tuple[str, str, Exception, str]] = []
    for plan in plans:
        src = plan.source
        if not plan.commands:
            if plan.prev is not None:
                records[src.record] = plan.prev  # not re-read this poll (CONFIG)
            continue
        first = plan.replies[0]
        if isinstance(first, Exception):
            if src.required:
                raise first
            if is_refusal(first):
                refused.add(src.name)
                command = " ".join(str(w) for w in plan.commands[0][:2]).upper()
                refusals.append((node.instance, command, first, src.name))
            else:
                # LOADING, BUSY and the like pass; keep what we had.
                log.debug("node %s: %s failed: %s", node.instance, src.name, first)
                if plan.prev is not None:
                    records[src.record] = plan.prev
            continue
        record = records[src.record] = src.parse(node, plan.prev, plan.replies)
        if isinstance(record, InfoRecord):
            node = replace(node, run_id=record.run_id)  # the other sources parse with it
    return records, frozenset(refused), refusals
