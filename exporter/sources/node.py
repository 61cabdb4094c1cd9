"""A data node's poll: one pipelined round trip of INFO, SLOWLOG, LATENCY and (sometimes) CONFIG."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from exporter.sources.info import parse_info
from exporter.sources.sentinel import decode
from exporter.sources.slowlog import SlowlogEntry, parse_entries

# CONFIG parameters we read; never `CONFIG GET *`, which is large and includes secrets.
CONFIG_PARAMS = (
    "maxmemory",
    "maxmemory-policy",
    "maxclients",
    "databases",
    "save",
    "appendonly",
    "slowlog-max-len",
    "slowlog-log-slower-than",
    "io-threads",
    "repl-backlog-size",
    "client-output-buffer-limit",
)


@dataclass(frozen=True, slots=True)
class LatencyEvent:
    name: str
    timestamp: int
    latest_ms: int


@dataclass(frozen=True, slots=True)
class DataPlan:
    """Which commands to pipeline this poll."""

    info_args: tuple[str, ...]
    slowlog_fetch: int
    slowlog: bool
    latency: bool
    config: bool
    config_multi: bool  # CONFIG GET with several parameters needs Redis >= 7


@dataclass(frozen=True, slots=True)
class DataReply:
    info: dict[str, dict[str, str]]
    slowlog_entries: tuple[SlowlogEntry, ...] | None
    slowlog_len: int | None
    latency: tuple[LatencyEvent, ...] | None
    config: Mapping[str, str] | None
    refused: Mapping[str, str]  # command family -> the server's error text


async def fetch_info(client: Redis, *args: str) -> dict[str, dict[str, str]]:
    reply = await client.execute_command("INFO", *args)  # type: ignore[no-untyped-call]
    return parse_info(decode(reply))


async def fetch_data(client: Redis, plan: DataPlan) -> DataReply:
    slots: list[str] = []
    async with client.pipeline(transaction=False) as pipe:
        pipe.execute_command("INFO", *plan.info_args)
        slots.append("info")
        if plan.slowlog:
            pipe.execute_command("SLOWLOG", "GET", plan.slowlog_fetch)
            pipe.execute_command("SLOWLOG", "LEN")
            slots += ["slowlog", "slowlog_len"]
        if plan.latency:
            pipe.execute_command("LATENCY", "LATEST")
            slots.append("latency")
        if plan.config:
            if plan.config_multi:
                pipe.execute_command("CONFIG", "GET", *CONFIG_PARAMS)
                slots.append("config")
            else:
                for param in CONFIG_PARAMS:
                    pipe.execute_command("CONFIG", "GET", param)
                    slots.append("config")
        replies = await pipe.execute(raise_on_error=False)
    by_slot: dict[str, list[Any]] = {}
    for slot, reply in zip(slots, replies, strict=True):
        by_slot.setdefault(slot, []).append(reply)
    info_reply = by_slot["info"][0]
    if isinstance(info_reply, Exception):
        raise info_reply
    refused: dict[str, str] = {}

    def ok(slot: str) -> list[Any] | None:
        values = by_slot.get(slot)
        if values is None:
            return None
        for value in values:
            if isinstance(value, Exception):
                refused[slot.removesuffix("_len")] = str(value)
                return None
        return values

    slowlog = ok("slowlog")
    slowlog_len = ok("slowlog_len")
    latency = ok("latency")
    config = ok("config")
    return DataReply(
        info=parse_info(decode(info_reply)),
        slowlog_entries=tuple(parse_entries(slowlog[0])) if slowlog else None,
        slowlog_len=_int(slowlog_len[0]) if slowlog_len else None,
        latency=parse_latency(latency[0]) if latency else None,
        config=parse_config(config) if config else None,
        refused=refused,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_latency(reply: Any) -> tuple[LatencyEvent, ...]:
    events = []
    if isinstance(reply, (list, tuple)):
        for item in reply:
            if isinstance(item, (list, tuple)) and len(item) >= 3:
                ts, latest = _int(item[1]), _int(item[2])
                if ts is not None and latest is not None:
                    events.append(LatencyEvent(decode(item[0]), ts, latest))
    return tuple(events)


def parse_config(replies: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for reply in replies:
        if isinstance(reply, (list, tuple)):
            items = [decode(v) for v in reply]
            out.update(zip(items[0::2], items[1::2], strict=False))
    return out
