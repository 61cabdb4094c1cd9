"""HTTP/1.1 load generator with keep-alive connections, in its own process so that the process
under test is charged only for serving. Latency runs from just before the request is written to
the last byte of the body (gzip bodies are not decompressed on the clock).

    echo '{"mode": "burst", ...}' | .venv/bin/python -m bench.httpload   # JSON result on stdout

Modes: `burst` (a closed loop of `concurrency` workers over `paths` for `duration` seconds or
`max_requests` requests, optionally `pause` seconds apart) and
`paced` (each job's path requested every `period` s from `start_at + offset`, on a shared pool
of connections per address).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.procstat import cpu_seconds

TIMEOUT = 60.0


@dataclass(slots=True)
class Result:
    status: int  # 0: no answer (the error is in `error`)
    latency: float
    size: int
    body: bytes = b""
    error: str = ""


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened by its owner after an error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.answered = 0  # responses read on the current connection

    async def open(self) -> None:
        self.answered = 0
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, limit=1 << 20
        )

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def get(self, path: str, headers: dict[str, str], keep: bool = False) -> Result:
        if self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        started = time.monotonic()
        self._writer.write(request)
        status, body, close = await asyncio.wait_for(self._response(self._reader), TIMEOUT)
        latency = time.monotonic() - started
        self.answered += 1
        if close:
            self.close()
        return Result(status, latency, len(body), body if keep else b"")

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before the response")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close"
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return status, b"".join(chunks), close
        if "content-length" in headers:
            return status, await reader.readexactly(int(headers["content-length"])), close
        return status, await reader.read(), True


async def _get(conn: Connection, path: str, headers: dict[str, str], keep: bool) -> Result:
    """One request; like Prometheus's client, a request that fails on a kept-alive connection
    (the server may have closed it while idle) is sent again once on a new one."""
    for attempt in range(2):
        reused = conn.is_open and conn.answered > 0
        started = time.monotonic()
        try:
            return await conn.get(path, headers, keep)
        except TimeoutError:  # before OSError, its base class: never sent again
            conn.close()
            error = f"timeout after {TIMEOUT:g} s"
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()
            if reused and attempt == 0:
                continue
            error = f"{type(exc).__name__}: {exc}"
        break
    return Result(0, time.monotonic() - started, 0, error=error)


def _cpu(pid: int | None) -> float | None:
    return cpu_seconds(pid) if pid else None


async def burst(spec: dict[str, Any]) -> dict[str, Any]:
    """`concurrency` connections, each asking for the next of `paths` as soon as it has its
    answer (or `pause` seconds after it), for `duration` seconds or `max_requests` requests."""
    host, port, headers = spec["host"], int(spec["port"]), dict(spec.get("headers", {}))
    paths = itertools.cycle(spec["paths"])
    conns = [Connection(host, port) for _ in range(int(spec["concurrency"]))]
    await asyncio.gather(*(c.open() for c in conns))  # not on the clock
    budget = itertools.count()
    max_requests = int(spec.get("max_requests", 10**9))
    pause = float(spec.get("pause", 0.0))
    results: list[Result] = []
    first: list[bytes] = []

    async def worker(conn: Connection) -> None:
        for sent in itertools.count():
            if time.monotonic() >= deadline or next(budget) >= max_requests:
                break
            if pause and sent:
                await asyncio.sleep(pause)
            result = await _get(conn, next(paths), headers, keep=not first)
            if result.body:
                first.append(result.body)
            results.append(result)

    cpu_start, t_start = _cpu(spec.get("cpu_pid")), time.monotonic()
    deadline = t_start + float(spec["duration"])
    await asyncio.gather(*(worker(c) for c in conns))
    cpu_end, t_end = _cpu(spec.get("cpu_pid")), time.monotonic()
    for c in conns:
        c.close()
    return {
        "t_start": t_start,
        "t_end": t_end,
        "cpu_start": cpu_start,
        "cpu_end": cpu_end,
        "latencies": [r.latency for r in results if r.status == 200],
        "statuses": dict(Counter(str(r.status) for r in results)),
        "errors": sorted({r.error for r in results if r.error})[:5],
        "body": _describe(first[0]) if first else {},
    }


def _describe(body: bytes) -> dict[str, int]:
    """Size of a body as sent and as text, and its number of samples (non-comment lines)."""
    text = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    samples = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    return {"bytes": len(body), "text_bytes": len(text), "samples": samples}


class Pool:
    """Idle keep-alive connections per address, shared by the paced jobs."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}

    def take(self, host: str, port: int) -> Connection:
        idle = self._idle.setdefault((host, port), [])
        return idle.pop() if idle else Connection(host, port)

    def give(self, conn: Connection) -> None:
        if conn.is_open:
            self._idle.setdefault((conn.host, conn.port), []).append(conn)


async def paced(spec: dict[str, Any]) -> dict[str, Any]:
    """Each job every `period` seconds from `start_at + offset` until `start_at + duration`;
    per request [scheduled time, send lag, latency, status, body bytes]."""
    start_at, end_at = float(spec["start_at"]), float(spec["start_at"]) + float(spec["duration"])
    events: list[tuple[float, int]] = []
    for index, job in enumerate(spec["jobs"]):
        t = start_at + float(job.get("offset", 0.0))
        while t < end_at:
            events.append((t, index))
            t += float(job["period"])
    events.sort()
    pool = Pool()
    log: dict[str, list[list[float]]] = {job["name"]: [] for job in spec["jobs"]}
    tasks: set[asyncio.Task[None]] = set()

    async def one(at: float, job: dict[str, Any]) -> None:
        conn = pool.take(job["host"], int(job["port"]))
        lag = time.monotonic() - at
        result = await _get(conn, job["path"], dict(job.get("headers", {})), keep=False)
        pool.give(conn)
        log[job["name"]].append([at, lag, result.latency, result.status, result.size])

    for at, index in events:
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(at, spec["jobs"][index]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return {"requests": log}


def main() -> int:
    spec = json.loads(sys.stdin.read())
    run = {"burst": burst, "paced": paced}[spec["mode"]]
    out = asyncio.run(run(spec))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["loadgen_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
