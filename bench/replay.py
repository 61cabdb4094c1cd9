"""A RESP server on many loopback ports that answers each command with the reply captured from a
real Redis (bench/capture.py), so one process stands in for up to a few thousand nodes.

    .venv/bin/python -m bench.replay --capture CAPTURE.json --nodes 1000 --out stats.json

It prints one JSON line `{"ports": [...]}` once every port listens, and on SIGTERM or SIGINT
writes the arrival times (time.monotonic(), the system-wide CLOCK_MONOTONIC) of every INFO per
port, and its counters, to `--out`. Each port has its own `run_id` and `tcp_port` in INFO, as
the exporter treats servers with one run_id as one node.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import re
import resource
import signal
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import hiredis

from bench.resp import Key, error, load_capture, normalize

HOST = "127.0.0.1"
_RUN_ID = re.compile(rb"\r\nrun_id:[0-9a-f]+")
_TCP_PORT = re.compile(rb"\r\ntcp_port:\d+")
_OK, _PONG = b"+OK\r\n", b"+PONG\r\n"


def node_run_id(port: int) -> str:
    return hashlib.sha1(b"replay-%d" % port, usedforsecurity=False).hexdigest()


def _per_port(raw: bytes, port: int) -> bytes:
    """An INFO reply with this port's run_id and tcp_port (a `$` bulk string)."""
    header, _, rest = raw.partition(b"\r\n")
    body = rest[: int(header[1:])]
    body = _RUN_ID.sub(b"\r\nrun_id:" + node_run_id(port).encode(), body)
    body = _TCP_PORT.sub(b"\r\ntcp_port:%d" % port, body)
    return b"$%d\r\n%s\r\n" % (len(body), body)


def _hello(args: Key) -> bytes:
    if len(args) > 1 and args[1] not in (b"2",):
        return b"-NOPROTO this replay server speaks RESP2 only\r\n"
    fields: list[bytes | int] = [b"server", b"redis", b"version", b"7.0.15", b"proto", 2]
    fields += [b"id", 1, b"mode", b"standalone", b"role", b"master", b"modules"]
    out = [b"*%d\r\n" % (len(fields) + 1)]
    for f in fields:
        out.append(b":%d\r\n" % f if isinstance(f, int) else b"$%d\r\n%s\r\n" % (len(f), f))
    return b"".join(out) + b"*0\r\n"


def generic(args: Key) -> bytes | None:
    """Connection-level commands, when the capture has no reply for them."""
    name = args[0]
    if name in (b"AUTH", b"SELECT", b"READONLY", b"QUIT", b"RESET"):
        return _OK
    if name == b"HELLO":
        return _hello(args)
    if name == b"PING":
        return _PONG if len(args) == 1 else b"$%d\r\n%s\r\n" % (len(args[1]), args[1])
    if name == b"CLIENT" and len(args) > 1 and args[1] in (b"SETNAME", b"SETINFO"):
        return _OK
    return None


@dataclass(slots=True)
class Stats:
    arrivals: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    connections: Counter[int] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        return {
            "arrivals": {str(p): times for p, times in self.arrivals.items()},
            "connections": {str(p): n for p, n in self.connections.items()},
            "commands": dict(self.commands),
            "unknown": dict(self.unknown),
        }


class Replayer:
    """The reply to each request, by normalized command; INFO arrivals are recorded."""

    def __init__(self, replies: Mapping[Key, bytes]) -> None:
        self.replies = dict(replies)
        self.stats = Stats()
        self._info_keys = {k for k, raw in replies.items() if b"\r\nrun_id:" in raw[:4096]}
        self._info_cache: dict[tuple[Key, int], bytes] = {}

    def answer(self, port: int, request: object, now: float) -> bytes:
        if not isinstance(request, list) or not request:
            return error("ERR Protocol error: expected an array of bulk strings")
        key = normalize(request)
        name = key[0]
        self.stats.commands[name.decode("latin-1")] += 1
        if name == b"INFO":
            self.stats.arrivals[port].append(now)
        if key in self._info_keys:
            cached = self._info_cache.get((key, port))
            if cached is None:
                cached = self._info_cache[key, port] = _per_port(self.replies[key], port)
            return cached
        reply = self.replies.get(key)
        if reply is None:
            reply = generic(key)
        if reply is None:
            self.stats.unknown[b" ".join(key[:2]).decode("latin-1")] += 1
            words = " ".join(a.decode("latin-1") for a in request[:1])
            return error(f"ERR unknown command '{words}'")
        return reply


class _NodeProtocol(asyncio.Protocol):
    def __init__(self, replayer: Replayer, port: int) -> None:
        self._replayer = replayer
        self._port = port
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._replayer.stats.connections[self._port] += 1

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        now = time.monotonic()
        self._reader.feed(data)
        out: list[bytes] = []
        quit_ = False
        try:
            while (request := self._reader.gets()) is not False:
                out.append(self._replayer.answer(self._port, request, now))
                quit_ = quit_ or (isinstance(request, list) and request[:1] == [b"QUIT"])
        except hiredis.ProtocolError:
            out.append(error("ERR Protocol error"))
            quit_ = True
        if out:
            self._transport.write(b"".join(out))
        if quit_:
            self._transport.close()


def raise_nofile(needed: int) -> int:
    """Raise the soft limit of open files to the hard one; the limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SystemExit(f"replay: {needed} open files needed, `ulimit -n` allows {soft}")
    return soft


async def serve(replayer: Replayer, nodes: int, ports_out: asyncio.Future[list[int]]) -> None:
    """Listen on `nodes` free loopback ports until cancelled."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.Server] = []
    ports: list[int] = []
    try:
        for _ in range(nodes):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
            factory = functools.partial(_NodeProtocol, replayer, port)
            servers.append(await loop.create_server(factory, sock=sock, backlog=128))
            ports.append(port)
        ports_out.set_result(ports)
        await asyncio.Future()  # until cancelled
    finally:
        for server in servers:
            server.close()


async def _main(capture: Path, nodes: int) -> Stats:
    replayer = Replayer(load_capture(capture))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ports: asyncio.Future[list[int]] = loop.create_future()
    task = asyncio.create_task(serve(replayer, nodes, ports))
    print(json.dumps({"ports": await ports}), flush=True)
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return replayer.stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, required=True)
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # Each node: a listening socket, the exporter's connection, a transient one or two.
    raise_nofile(3 * args.nodes + 64)
    stats = asyncio.run(_main(args.capture, args.nodes))
    args.out.write_text(json.dumps(stats.as_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
