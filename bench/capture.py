"""A recording proxy between an exporter and a real Redis: it forwards both ways and keeps the
raw reply to each distinct command, for the replay server. Runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, deque
from pathlib import Path
from types import TracebackType

import hiredis

from bench.processes import http_get, http_status, start_ours, start_theirs, stop, wait_until
from bench.resp import SECRET_COMMANDS, Key, frame_end, normalize, save_capture

HOST = "127.0.0.1"


class RecordingProxy:
    """Listens on a free loopback port per `listen()` call, each forwarding to one upstream."""

    def __init__(self) -> None:
        self.replies: dict[Key, bytes] = {}
        self.calls: Counter[Key] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._lock = threading.Lock()

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def listen(self, upstream_port: int) -> int:
        """Start forwarding a new local port to `upstream_port`; returns the local port."""
        future = asyncio.run_coroutine_threadsafe(self._listen(upstream_port), self._loop)
        return future.result(10)

    def count(self, first_word: bytes) -> int:
        with self._lock:
            return sum(n for key, n in self.calls.items() if key[:1] == (first_word,))

    def snapshot(self) -> dict[Key, bytes]:
        with self._lock:
            return dict(self.replies)

    async def _listen(self, upstream_port: int) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.CancelledError):  # at close
                await self._session(reader, writer, upstream_port)

        server = await asyncio.start_server(handle, HOST, 0)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    async def _session(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, upstream_port: int
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(HOST, upstream_port)
        except OSError:
            client_w.close()
            return
        pending: deque[Key | None] = deque()  # one per request in flight; None: not recorded
        upward = asyncio.create_task(self._requests(client_r, server_w, pending))
        try:
            await self._replies(server_r, client_w, pending)
        finally:
            upward.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await upward
            for w in (client_w, server_w):
                w.close()

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pending: deque[Key | None]
    ) -> None:
        parser = hiredis.Reader()
        while data := await reader.read(65536):
            parser.feed(data)
            while (request := parser.gets()) is not False:
                key = normalize(request) if isinstance(request, list) and request else None
                pending.append(None if key is None or key[0] in SECRET_COMMANDS else key)
            writer.write(data)
            await writer.drain()
        writer.write_eof()

    async def _replies(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pending: deque[Key | None]
    ) -> None:
        buf = b""
        while data := await reader.read(65536):
            writer.write(data)
            buf += data
            while buf and (end := frame_end(buf)) is not None:
                raw, buf = buf[:end], buf[end:]
                key = pending.popleft() if pending else None
                if key is not None:
                    with self._lock:
                        self.replies[key] = raw  # the latest reply wins
                        self.calls[key] += 1
            await writer.drain()


def record(upstream_port: int, password: str, workdir: Path, with_theirs: bool, code: Path) -> Path:
    """Capture what our exporter (a few polls, 1 s apart) and redis_exporter (two /metrics and
    one /scrape) send to the server on `upstream_port`; the capture file's path."""
    with RecordingProxy() as proxy:
        port = proxy.listen(upstream_port)
        addr = f"{HOST}:{port}"
        args = ["--redis-addr", addr, "--poll-interval", "1", "--poll-timeout", "0.5"]
        ours = start_ours(args, password, workdir / "capture-ours.log", code)
        try:
            # The identifying INFO server, then polls: the first carries CONFIG GET.
            wait_until("our exporter's polls", lambda: proxy.count(b"INFO") >= 4, 30, ours.proc)
            http_status(f"{ours.url}/scrape?target={addr}")
        finally:
            stop(ours.proc)
        if with_theirs:
            port = proxy.listen(upstream_port)
            log = workdir / "capture-theirs.log"
            theirs = start_theirs(f"redis://{HOST}:{port}", password, log)
            try:
                wait_until("redis_exporter", lambda: http_status(theirs.url) == 200, 30)
                for _ in range(2):
                    http_get(f"{theirs.url}/metrics")
                http_get(f"{theirs.url}/scrape?target=redis://{HOST}:{port}")
            finally:
                stop(theirs.proc)
        replies = proxy.snapshot()
        calls = {" ".join(a.decode("latin-1") for a in k): n for k, n in proxy.calls.items()}
    path = workdir / "capture.json"
    save_capture(path, replies, {"calls": calls})
    return path
