"""The walks of one node after its poll: each walking source's rounds sent on the node's
connection until it has no more or its time budget is spent, its record and cost put into
the snapshot the poll published.

A walk runs after the poll, so key checks over 100,000 keys never delay INFO; the poller
gives it a deadline before the next tick as well, so it never delays the next poll either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from redis_ha_exporter.poll import Connection
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import NodeView, PollOptions, Run, Source, is_refusal
from redis_ha_exporter.sources.info import InfoRecord
from redis_ha_exporter.sources.walks import WalkRecord

log = logging.getLogger("redis_ha_exporter.walk")
T = TypeVar("T")


class SourceFailed(Exception):
    """A walking source raised on replies it did not expect: that source's walk is given up
    for this poll, the node's other walks and polls go on."""


def _pure(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except Exception as exc:  # a source's bug must not stop the node's poller
        raise SourceFailed(type(exc).__name__) from None


def walking(sources: Sequence[Source[Any]]) -> tuple[Source[Any], ...]:
    return tuple(s for s in sources if s.walk is not None)


def view(snap: NodeSnapshot, options: PollOptions) -> NodeView:
    """What a walk knows of the node: the poll's snapshot it follows."""
    info = snap.get(InfoRecord)
    return NodeView(
        snap.instance,
        snap.kind,
        snap.version,
        snap.polls,
        options,
        run_id=info.run_id if info else "",
        valkey=snap.valkey,
        role=snap.role,
        replicas=len(info.replicas) if info else 0,
        keyspace=info.keyspace if info else {},
    )


async def walk(
    client: Connection,
    snap: NodeSnapshot,
    sources: Sequence[Source[Any]],
    options: PollOptions,
    deadline: float,
    round_timeout: float,
) -> NodeSnapshot:
    """The snapshot with each walking source's new record. `deadline` (monotonic) bounds
    them all; each round trip has `round_timeout` (the poll's). Raises what a round trip raises
    (the connection is then not to be trusted); a refusal drops the source until the node
    reconnects, like a poll's. With nothing to walk it returns `snap` itself, so a node
    without walks is not published (and rendered) twice per poll."""
    if snap.kind != "data":
        return snap
    node = view(snap, options)
    records = dict(snap.records)
    old = snap.get(WalkRecord)
    runs = dict(old.runs) if old else {}
    refused = set(snap.refused)
    changed = False
    for src in walking(sources):
        assert src.walk is not None
        if src.name in refused:
            continue
        prev = src.previous(snap)
        try:
            state = _pure(src.walk.start, node, prev)
            if state is not None and _pure(src.walk.due, node, prev):
                found = await _walk_one(client, node, src, prev, state, deadline, round_timeout)
            else:
                found = None
        except SourceFailed as exc:
            # Its last figures are kept, and the walk counts as cut short (logged once).
            why = f"failed on a reply it did not expect ({exc}); its last figures are kept"
            if not runs.get(src.name, (None, ""))[1]:
                log.warning(
                    "node %s: %s %s",
                    snap.instance,
                    src.name,
                    why,
                    extra={"event": "walk_failed", "instance": snap.instance},
                )
            runs[src.name] = (Run(0.0, 0, 0), why)
            changed = True
            continue
        if state is None:
            # Not configured, or not on this node's role: a record it had is dropped.
            if src.record in records or src.name in runs:
                records.pop(src.record, None)
                runs.pop(src.name, None)
                changed = True
            continue
        if found is None:  # not due this poll
            continue
        record, run, refusal = found
        changed = True
        if refusal:
            refused.add(src.name)
            log.info(
                "node %s refused %s (%.200s); polling it without %s until it reconnects",
                snap.instance,
                *refusal,
                src.name,
                extra={"event": "command_refused", "instance": snap.instance},
            )
            records.pop(src.record, None)
            runs.pop(src.name, None)
            continue
        assert record is not None
        stopped = src.walk.stopped(record)
        was = runs.get(src.name, (run, ""))[1]
        if stopped and not was:
            log.warning(
                "node %s: %s stopped early: %s",
                snap.instance,
                src.name,
                stopped,
                extra={"event": "walk_truncated", "instance": snap.instance},
            )
        elif was and not stopped:
            log.info("node %s: %s covers every key again", snap.instance, src.name)
        records[src.record] = record
        runs[src.name] = (run, stopped)
    if not changed:
        return snap
    if runs:
        records[WalkRecord] = WalkRecord(runs)
    else:
        records.pop(WalkRecord, None)
    return replace(snap, records=records, refused=frozenset(refused))


async def _walk_one(
    client: Connection,
    node: NodeView,
    src: Source[Any],
    prev: object,
    state: object,
    deadline: float,
    round_timeout: float,
) -> tuple[object | None, Run, tuple[str, Exception] | None]:
    """One source's walk: its record (None when refused), its run, and the refusal."""
    walk = src.walk
    assert walk is not None
    started = time.monotonic()
    budget = walk.budget.of(node.options)
    limit = (
        f"its time budget of {budget:g}s ({walk.budget.flag})"
        if started + budget <= deadline
        else f"the next poll, due before {walk.budget.flag} ({budget:g}s) ran out"
    )
    deadline = min(started + budget, deadline)
    rounds = sent = 0
    state, commands = _pure(walk.step, node, state, ())
    while commands and time.monotonic() < deadline:
        async with asyncio.timeout(round_timeout):
            replies = await client.roundtrip(commands)
        rounds += 1
        sent += len(commands)
        for command, reply in zip(commands, replies, strict=False):
            if is_refusal(reply):
                what = " ".join(str(w) for w in command[:2]).upper()
                run = Run(time.monotonic() - started, rounds, sent)
                return None, run, (what, reply)
        state, commands = _pure(walk.step, node, state, replies)
    run = Run(time.monotonic() - started, rounds, sent, limit if commands else "")
    return _pure(walk.finish, node, prev, state, run), run, None
