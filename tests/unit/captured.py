"""Loaders for the captured server replies in tests/fixtures (see tests/fixtures/capture.py).

Replies are stored as received: INFO as CRLF text, arrays as JSON with bytes decoded. `wire()`
turns JSON strings back into bytes, as redis-py hands them to our parsers.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from redis_ha_exporter import sources
from redis_ha_exporter.exposition import NodeBodies, join_packed
from redis_ha_exporter.poll import poll
from redis_ha_exporter.replies import decode, dict_list
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import Command, PollOptions, Reply
from redis_ha_exporter.sources.config import parse_config
from redis_ha_exporter.sources.sentinel import SentinelGroupView
from tests.promtext import Series, parse_series

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FLAVORS = ("redis70", "valkey81", "valkey91")
ROLES = ("master", "replica", "sentinel")
GROUP = "mymaster"
NOW = 1_800_000_000.0


def info_text(flavor: str, role: str) -> str:
    return (FIXTURES / f"info_{flavor}_{role}.txt").read_bytes().decode("utf-8")


def raw_fields(text: str) -> dict[str, str]:
    """Every `key:value` line of an INFO text, read independently of the code under test."""
    out = {}
    for line in text.split("\r\n"):
        if line and not line.startswith("#"):
            key, value = line.split(":", 1)
            out[key] = value
    return out


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def wire(value: Any) -> Any:
    """JSON-decoded reply -> the shape redis-py returns with raw replies (str -> bytes)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return [wire(v) for v in value]
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    return value


def sentinel_view(flavor: str) -> SentinelGroupView:
    replies = wire(load_json(f"sentinel_{flavor}.json"))
    (master,) = dict_list(replies["masters"])
    return SentinelGroupView(
        name=master["name"],
        master=master,
        replicas=tuple(dict_list(replies["replicas"][GROUP])),
        sentinels=tuple(dict_list(replies["sentinels"][GROUP])),
        ckquorum_ok=True,
        ckquorum_message=decode(replies["ckquorum"][GROUP]),
    )


def snapshot(flavor: str, role: str, **overrides: Any) -> NodeSnapshot:
    """A successful poll of the captured node, as the poller would have stored it: the real
    `poll()` with every registered source, answered from the captured replies, after a
    baseline poll whose slowlog and COMMANDLOG were still empty (so the captured entries
    count as new)."""
    from tests.unit.fake_client import FakeClient, data_answer, info_bytes, sentinel_answer

    if role == "sentinel":
        answer = sentinel_answer(flavor)
    else:
        answer = data_answer(flavor, info_bytes(flavor, role))

    def baseline(command: Command) -> Reply:
        if command[:2] in (("SLOWLOG", "GET"), ("COMMANDLOG", "GET")):
            return []
        return 0 if command[:2] in (("SLOWLOG", "LEN"), ("COMMANDLOG", "LEN")) else answer(command)

    text = info_text(flavor, role)
    start = NodeSnapshot(f"127.0.0.1:{raw_fields(text)['tcp_port']}", "unknown", (GROUP,))
    first = asyncio.run(poll(FakeClient(baseline), start, sources.ALL, PollOptions()))
    prev = replace(first, polls=1, last_success_at=NOW)
    snap = asyncio.run(poll(FakeClient(answer), prev, sources.ALL, PollOptions()))
    fields: dict[str, Any] = {
        "polled_at": NOW,
        "duration": 0.004,
        "last_success_at": NOW,
        "polls": 3,
        "poll_seconds_total": 0.012,
    }
    records = dict(snap.records)
    for record in overrides.pop("records", {}).values():
        records[type(record)] = record
    fields["records"] = records
    fields.update(overrides)
    return replace(snap, **fields)


def config_values(flavor: str) -> dict[str, str]:
    """The captured CONFIG GET reply of the master."""
    return parse_config([wire(load_json(f"config_{flavor}.json"))])


def with_records(snap: NodeSnapshot, *records: object) -> NodeSnapshot:
    """`snap` with these records added or replaced."""
    return replace(snap, records={**snap.records, **{type(r): r for r in records}})


def without(snap: NodeSnapshot, *kinds: type) -> NodeSnapshot:
    return replace(snap, records={k: v for k, v in snap.records.items() if k not in kinds})


def render(snap: NodeSnapshot, *, openmetrics: bool = False, include_data: bool = True) -> str:
    """The node's body as the renderer makes it for `/metrics` (INFO from its template)."""
    packed, _ = NodeBodies(sources.ALL).packed(snap, include_data, None)
    return join_packed([packed], openmetrics).decode("utf-8")


@dataclass(frozen=True)
class Exposition:
    """Rendered text, parsed once (and validated by prometheus_client's text parser)."""

    text: str
    series: tuple[Series, ...]
    types: dict[str, str]

    def values(self, name: str, **match: str) -> list[float]:
        return [
            s.value
            for s in self.series
            if s.name == name and all(s.labels.get(k) == v for k, v in match.items())
        ]

    def value(self, name: str, **match: str) -> float | None:
        found = self.values(name, **match)
        if len(found) > 1:
            raise AssertionError(f"{name}{match} matches {len(found)} series")
        return found[0] if found else None


def exposition(snap: NodeSnapshot, *, include_data: bool = True) -> Exposition:
    text = render(snap, include_data=include_data)
    return Exposition(text, tuple(parse_series(text)), types(text))


@cache
def captured_exposition(flavor: str, role: str) -> Exposition:
    """The exposition of an unmodified captured node (cached: snapshots are immutable)."""
    return exposition(snapshot(flavor, role))


def types(text: str) -> dict[str, str]:
    """`# TYPE` lines of an exposition: name -> type."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, mtype = line.split(" ", 3)
            out[name] = mtype
    return out
