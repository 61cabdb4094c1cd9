"""Sentinel replies: INFO plus the SENTINEL MASTERS / REPLICAS / SENTINELS / CKQUORUM family.

Only commands Sentinel understands are sent, so its error counters never grow because of us.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from exporter.sources.info import parse_info


@dataclass(frozen=True, slots=True)
class SentinelGroupView:
    """What one Sentinel says about one monitored master."""

    name: str
    master: Mapping[str, str]
    replicas: tuple[Mapping[str, str], ...]
    sentinels: tuple[Mapping[str, str], ...]
    ckquorum_ok: bool
    ckquorum_message: str

    @property
    def master_address(self) -> str:
        return f"{self.master.get('ip', '')}:{self.master.get('port', '')}"


def decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def flat_to_dict(reply: Any) -> dict[str, str]:
    """`[k1, v1, k2, v2, ...]` -> dict; odd trailing items are dropped."""
    if not isinstance(reply, (list, tuple)):
        return {}
    items = [decode(v) for v in reply]
    return dict(zip(items[0::2], items[1::2], strict=False))


def parse_dict_list(reply: Any) -> list[dict[str, str]]:
    if not isinstance(reply, (list, tuple)):
        return []
    return [d for d in (flat_to_dict(item) for item in reply) if d]


def flags(entry: Mapping[str, str]) -> set[str]:
    return set(entry.get("flags", "").split(","))


def is_down(entry: Mapping[str, str]) -> bool:
    return bool(flags(entry) & {"s_down", "o_down", "disconnected"})


async def fetch_sentinel(
    client: Redis, only: frozenset[str] = frozenset()
) -> tuple[dict[str, dict[str, str]], tuple[SentinelGroupView, ...]]:
    """INFO and every monitored group's view, in two pipelined round trips."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.execute_command("INFO")
        pipe.execute_command("SENTINEL", "MASTERS")
        info_reply, masters_reply = await pipe.execute()
    info = parse_info(decode(info_reply))
    masters = [m for m in parse_dict_list(masters_reply) if "name" in m]
    if only:
        masters = [m for m in masters if m["name"] in only]
    if not masters:
        return info, ()
    async with client.pipeline(transaction=False) as pipe:
        for master in masters:
            name = master["name"]
            pipe.execute_command("SENTINEL", "REPLICAS", name)
            pipe.execute_command("SENTINEL", "SENTINELS", name)
            pipe.execute_command("SENTINEL", "CKQUORUM", name)
        replies = await pipe.execute(raise_on_error=False)
    views = []
    for i, master in enumerate(masters):
        replicas, sentinels, ckquorum = replies[3 * i : 3 * i + 3]
        ok = not isinstance(ckquorum, Exception)
        views.append(
            SentinelGroupView(
                name=master["name"],
                master=master,
                replicas=tuple(parse_dict_list(_ok(replicas))),
                sentinels=tuple(parse_dict_list(_ok(sentinels))),
                ckquorum_ok=ok,
                ckquorum_message=decode(ckquorum) if ok else str(ckquorum),
            )
        )
    return info, tuple(views)


def _ok(reply: Any) -> Any:
    return None if isinstance(reply, (Exception, ResponseError)) else reply
