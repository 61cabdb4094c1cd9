"""A Sentinel stand-in that names one master and N replicas on loopback ports where nothing
answers, so one process gives an exporter N dead nodes to discover and poll.

    .venv/bin/python -m bench.fakesentinel --nodes 5000 --mode silent --out stats.json

`--mode refused`: each node's port is bound but not listening, so a connection is refused at
once. `--mode silent`: each port listens and accepts, then never replies, so polls time out.
It prints one JSON line `{"sentinel": port, "nodes": [...]}` once everything listens, and on
SIGTERM or SIGINT writes what it was asked, and how many connections the dead nodes accepted,
to `--out`. It answers what our exporter asks a Sentinel (redis_ha_exporter/sources/
sentinel.py and info.py, the event subscription of events.py); anything else gets an error
reply and is counted under `unknown`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import signal
import socket
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import hiredis

from bench.replay import HOST, generic, node_run_id, raise_nofile
from bench.resp import error

GROUP = b"mymaster"
MYID = node_run_id(0).encode()
Entry = Sequence[tuple[bytes, bytes | int]]


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def array(items: Sequence[bytes]) -> bytes:
    """An array of already encoded replies."""
    return b"*%d\r\n" % len(items) + b"".join(items)


def _fields(entry: Entry) -> bytes:
    """A Sentinel entry: a flat array of field names and values, all bulk strings."""
    return array([bulk(x) for k, v in entry for x in (k, v if isinstance(v, bytes) else b"%d" % v)])


def _node(port: int, role: bytes, extra: Entry) -> Entry:
    """A node as Sentinel lists one it cannot reach (fields as redis-sentinel 7.0 sends)."""
    addr = f"{HOST}:{port}".encode()
    return [
        (b"name", GROUP if role == b"master" else addr),
        (b"ip", HOST.encode()),
        (b"port", port),
        (b"runid", node_run_id(port).encode()),
        (b"flags", b"s_down,%s,disconnected" % role),
        (b"link-pending-commands", 100),
        (b"link-refcount", 1),
        (b"last-ping-sent", 60000),
        (b"last-ok-ping-reply", 60000),
        (b"last-ping-reply", 60000),
        (b"s-down-time", 55000),
        (b"down-after-milliseconds", 5000),
        (b"info-refresh", 60000),
        (b"role-reported", role),
        (b"role-reported-time", 600000),
        *extra,
    ]


@dataclass(slots=True)
class Topology:
    """The replies that describe the dead nodes, encoded once."""

    master: int
    replicas: Sequence[int]
    sentinel: int
    replies: dict[tuple[bytes, ...], bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        master = _node(
            self.master,
            b"master",
            [
                (b"config-epoch", 0),
                (b"num-slaves", len(self.replicas)),
                (b"num-other-sentinels", 0),
                (b"quorum", 1),
                (b"failover-timeout", 180000),
                (b"parallel-syncs", 1),
            ],
        )
        replica: Entry = [
            (b"master-link-down-time", 0),
            (b"master-link-status", b"err"),
            (b"master-host", HOST.encode()),
            (b"master-port", self.master),
            (b"slave-priority", 100),
            (b"slave-repl-offset", 0),
            (b"replica-announced", 1),
        ]
        replicas = array([_fields(_node(p, b"slave", replica)) for p in self.replicas])
        ckquorum = b"+OK 1 usable Sentinels. Quorum and failover authorization can be reached\r\n"
        # Keyed by the request upper-cased, the group name included.
        group = GROUP.upper()
        self.replies = {
            (b"SENTINEL", b"MASTERS"): array([_fields(master)]),
            (b"SENTINEL", b"MASTER", group): _fields(master),
            (b"SENTINEL", b"MYID"): bulk(MYID),
            (b"SENTINEL", b"REPLICAS", group): replicas,
            (b"SENTINEL", b"SLAVES", group): replicas,
            (b"SENTINEL", b"SENTINELS", group): b"*0\r\n",
            (b"SENTINEL", b"CKQUORUM", group): ckquorum,
            (b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", group): array(
                [bulk(HOST.encode()), bulk(b"%d" % self.master)]
            ),
        }

    def info(self, sections: Sequence[bytes]) -> bytes:
        server = (
            "# Server\r\nredis_version:7.0.15\r\nredis_mode:sentinel\r\n"
            f"run_id:{MYID.decode()}\r\ntcp_port:{self.sentinel}\r\n"
        )
        sentinel = (
            "# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\n"
            f"master0:name={GROUP.decode()},status=sdown,address={HOST}:{self.master},"
            f"slaves={len(self.replicas)},sentinels=1\r\n"
        )
        wanted = {s.lower() for s in sections} or {b"default"}
        parts = [server] if wanted & {b"server", b"default", b"all", b"everything"} else []
        if wanted & {b"sentinel", b"default", b"all", b"everything"}:
            parts.append(sentinel)
        return bulk("\r\n".join(parts).encode())


@dataclass(slots=True)
class Stats:
    commands: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    sentinel_connections: int = 0
    dead_connections: int = 0  # accepted by the silent nodes

    def as_json(self) -> dict[str, object]:
        return {
            "commands": dict(self.commands),
            "unknown": dict(self.unknown),
            "sentinel_connections": self.sentinel_connections,
            "dead_connections": self.dead_connections,
        }


class _SentinelProtocol(asyncio.Protocol):
    def __init__(self, topology: Topology, stats: Stats) -> None:
        self._topology = topology
        self._stats = stats
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        self._channels = 0  # subscribed ones: PING is answered the pub/sub way

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._stats.sentinel_connections += 1

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._reader.feed(data)
        out: list[bytes] = []
        try:
            while (request := self._reader.gets()) is not False:
                out.append(self._answer(request))
        except hiredis.ProtocolError:
            out.append(error("ERR Protocol error"))
            self._transport.close()
        self._transport.write(b"".join(out))

    def _answer(self, request: object) -> bytes:
        if not isinstance(request, list) or not request:
            return error("ERR Protocol error: expected an array of bulk strings")
        key = tuple(bytes(a).upper() for a in request)
        self._stats.commands[b" ".join(key[:2] if key[0] == b"SENTINEL" else key[:1]).decode()] += 1
        if key[0] == b"INFO":
            return self._topology.info(key[1:])
        if key[0] == b"SUBSCRIBE":
            replies = []
            for channel in request[1:]:
                self._channels += 1
                replies.append(
                    array([bulk(b"subscribe"), bulk(channel), b":%d\r\n" % self._channels])
                )
            return b"".join(replies)
        if key[0] == b"PING" and self._channels:
            return array([bulk(b"pong"), bulk(request[1] if len(request) > 1 else b"")])
        reply = self._topology.replies.get(key) or generic(key)
        if reply is None:
            self._stats.unknown[b" ".join(key[:2]).decode("latin-1")] += 1
            return error(f"ERR unknown command '{key[0].decode('latin-1')}'")
        return reply


class _SilentProtocol(asyncio.Protocol):
    """Accepts and reads, never answers; closes its side when the client gives up."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._stats.dead_connections += 1

    def data_received(self, data: bytes) -> None:
        pass


async def serve(nodes: int, mode: str, stats: Stats, ready: asyncio.Future[Topology]) -> None:
    """Reserve `nodes + 1` dead ports (a master and its replicas), then serve the Sentinel
    until cancelled."""
    loop = asyncio.get_running_loop()
    held: list[socket.socket] = []
    servers: list[asyncio.Server] = []
    try:
        for _ in range(nodes + 1):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))  # bound, so no one else takes the port while we run
            held.append(sock)
            if mode == "silent":
                silent = functools.partial(_SilentProtocol, stats)
                servers.append(await loop.create_server(silent, sock=sock, backlog=128))
        ports = [s.getsockname()[1] for s in held]
        sentinel = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sentinel.bind((HOST, 0))
        topology = Topology(ports[0], ports[1:], sentinel.getsockname()[1])
        factory = functools.partial(_SentinelProtocol, topology, stats)
        servers.append(await loop.create_server(factory, sock=sentinel, backlog=128))
        ready.set_result(topology)
        await asyncio.Future()  # until cancelled
    finally:
        for server in servers:
            server.close()
        for sock in held:
            sock.close()


async def _main(nodes: int, mode: str) -> Stats:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stats = Stats()
    ready: asyncio.Future[Topology] = loop.create_future()
    task = asyncio.create_task(serve(nodes, mode, stats, ready))
    topology = await ready
    nodes_out = [topology.master, *topology.replicas]
    print(json.dumps({"sentinel": topology.sentinel, "nodes": nodes_out}), flush=True)
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, required=True, help="replicas (plus one master)")
    parser.add_argument("--mode", choices=("refused", "silent"), default="silent")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # Each dead node: its port, and in silent mode the connection it accepted.
    raise_nofile(2 * args.nodes + 64)
    stats = asyncio.run(_main(args.nodes, args.mode))
    args.out.write_text(json.dumps(stats.as_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
