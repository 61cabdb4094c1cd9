"""A stand-in for the redis.asyncio client the poll uses, answering from the captured replies:
the dedicated captures of INFO, CONFIG, SLOWLOG, LATENCY and SENTINEL, then whatever
`commands_<flavor>_<role>.json` holds for every other registered source.

It offers what `poll()` and the poller call of a `wire.Link`: `roundtrip(commands)` and
`close()`. Every round trip's commands are recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from redis_ha_exporter.sources.base import Command, Reply
from redis_ha_exporter.wire import Link, ReplyError
from tests.unit.captured import FIXTURES, load_json, wire

Answer = Callable[[Command], Reply]
SENTINEL_MYID = "5e" * 20


class FakeClient:
    """`answer(command)` gives each reply; an exception it returns is an error reply."""

    def __init__(
        self,
        answer: Answer,
        *,
        fail: Exception | None = None,
        delay: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.answer = answer
        self.fail = fail
        self.delay = delay
        self.pipelines: list[tuple[Command, ...]] = []  # one entry per round trip
        self.closed = False

    async def roundtrip(self, commands: Sequence[Command]) -> list[Reply]:
        commands = tuple(commands)
        self.pipelines.append(commands)
        if self.delay is not None:
            await self.delay()
        if self.fail is not None:
            raise self.fail
        return [self.answer(c) for c in commands]

    def close(self) -> None:
        self.closed = True

    @property
    def link(self) -> Link:
        """As the poller holds a connection."""
        return cast(Link, self)

    @property
    def commands(self) -> list[Command]:
        return [c for p in self.pipelines for c in p]


def info_bytes(flavor: str, role: str) -> bytes:
    return (FIXTURES / f"info_{flavor}_{role}.txt").read_bytes()


def captured_replies(flavor: str, role: str) -> dict[Command, Reply]:
    """Every source's commands and the captured node's replies (tests/fixtures/capture.py
    records them for each registered source), keyed by command."""
    out: dict[Command, Reply] = {}
    for command, reply in load_json(f"commands_{flavor}_{role}.json"):
        key = tuple(int(w) if isinstance(w, int) else str(w) for w in command)
        out[key] = ReplyError(reply["error"]) if isinstance(reply, dict) else wire(reply)
    return out


def unknown_command(command: Command) -> ReplyError:
    words = [w.decode() if isinstance(w, bytes) else str(w) for w in command]
    args = " ".join(f"'{a}'" for a in words[1:])
    return ReplyError(f"unknown command '{words[0]}', with args beginning with: {args}")


def data_answer(flavor: str = "redis70", info: bytes | None = None) -> Answer:
    """A data node (the captured master) answering every command a poll sends it."""
    text = info if info is not None else info_bytes(flavor, "master")
    slowlog = wire(load_json(f"slowlog_{flavor}.json"))
    config = wire(load_json(f"config_{flavor}.json"))
    latency = wire(load_json(f"latency_{flavor}.json"))
    others = captured_replies(flavor, "master")

    def answer(command: Command) -> Reply:
        match command:
            case ("INFO", *_):
                return text
            case ("SLOWLOG", "GET", _):
                return slowlog
            case ("SLOWLOG", "LEN"):
                return len(slowlog)
            case ("LATENCY", "LATEST"):
                return latency
            case ("CONFIG", "GET", *_):
                return config
        return others.get(command) or unknown_command(command)

    return answer


def sentinel_answer(
    flavor: str = "redis70",
    info: bytes | None = None,
    extra_masters: Sequence[list[Any]] = (),
) -> Answer:
    """A Sentinel (the captured one); `extra_masters` are more SENTINEL MASTERS entries, whose
    groups get the captured group's replicas and Sentinels. Anything else is unknown to it."""
    text = info if info is not None else info_bytes(flavor, "sentinel")
    captured = load_json(f"sentinel_{flavor}.json")
    masters = wire(captured["masters"] + list(extra_masters))
    (group,) = captured["replicas"]
    others = captured_replies(flavor, "sentinel")

    def answer(command: Command) -> Reply:
        match command:
            case ("INFO", *_):
                return text
            case ("SENTINEL", "MASTERS"):
                return masters
            case ("SENTINEL", "MYID"):
                return SENTINEL_MYID.encode()
            case ("SENTINEL", "REPLICAS" | "SENTINELS" | "CKQUORUM" as what, _):
                return wire(captured[str(what).lower()][group])
        return others.get(command) or unknown_command(command)

    return answer


def master_entry(flavor: str, name: str, port: int) -> list[Any]:
    """A SENTINEL MASTERS entry like the captured one, for another group."""
    entry = load_json(f"sentinel_{flavor}.json")["masters"][0]
    fields = dict(zip(entry[0::2], entry[1::2], strict=True))
    fields |= {"name": name, "port": str(port), "runid": "c0" * 20}
    return [item for pair in fields.items() for item in pair]
