"""Exactly what an exporter cost a Redis server in a window: commands, their execution time and
connections, from INFO commandstats and total_connections_received, the probe excluded.

Each window boundary sends, on one connection opened before the first window,
`MULTI / INFO stats commandstats / CONFIG RESETSTAT / EXEC`. The INFO reports what ran since the
previous boundary's reset; a command is counted after it runs, and MULTI runs at once while the
rest waits for EXEC, so the only probe commands it includes are the previous reset
(`config|resetstat`), the previous EXEC and this MULTI, one call each. They are left out by
name (the exporters never send them; `probe_calls` shows they were one each). The probe's
connection predates the first reset, so it is not in `total_connections_received`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from bench.resp import encode_command, frame_end

PROBE_COMMANDS = frozenset({"multi", "exec", "config|resetstat"})


@dataclass(frozen=True, slots=True)
class Window:
    """Counters since the previous boundary, the probe's own commands left out."""

    calls: int
    usec: int
    connections: int
    by_command: dict[str, tuple[int, int]]  # name -> (calls, usec)
    probe_calls: dict[str, int]


def parse_info(text: str) -> tuple[dict[str, tuple[int, int]], int]:
    commands: dict[str, tuple[int, int]] = {}
    connections = 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("cmdstat_"):
            fields = dict(item.split("=", 1) for item in value.split(","))
            commands[key.removeprefix("cmdstat_")] = (int(fields["calls"]), int(fields["usec"]))
        elif key == "total_connections_received":
            connections = int(value)
    return commands, connections


class CommandStats:
    def __init__(self, port: int, password: str) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._buf = b""
        self._call([b"AUTH", password.encode()])

    def close(self) -> None:
        self._sock.close()

    def _read(self) -> bytes:
        while (end := frame_end(self._buf) if self._buf else None) is None:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the probe connection")
            self._buf += data
        reply, self._buf = self._buf[:end], self._buf[end:]
        if reply.startswith(b"-"):
            raise RuntimeError(f"probe command failed: {reply.decode(errors='replace').strip()}")
        return reply

    def _call(self, *commands: list[bytes]) -> list[bytes]:
        self._sock.sendall(b"".join(encode_command(c) for c in commands))
        return [self._read() for _ in commands]

    def boundary(self) -> Window:
        """End the current window (and start the next); the first call's figures include
        whatever ran before, and are meant to be dropped."""
        replies = self._call(
            [b"MULTI"], [b"INFO", b"stats", b"commandstats"], [b"CONFIG", b"RESETSTAT"], [b"EXEC"]
        )
        exec_reply = replies[-1]  # *2, $len, INFO text, +OK
        header, _, rest = exec_reply.split(b"\r\n", 1)[1].partition(b"\r\n")
        text = rest[: int(header[1:])].decode()
        commands, connections = parse_info(text)
        kept = {k: v for k, v in commands.items() if k not in PROBE_COMMANDS}
        return Window(
            calls=sum(c for c, _ in kept.values()),
            usec=sum(u for _, u in kept.values()),
            connections=connections,
            by_command=kept,
            probe_calls={k: v[0] for k, v in commands.items() if k in PROBE_COMMANDS},
        )
