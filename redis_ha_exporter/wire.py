"""One node's poll connection: RESP2 commands packed once and written on a bare asyncio protocol,
replies read with hiredis; no pool, pipeline object or retry machinery per poll.

Why not redis-py here: its pipeline round trip costs three times as much CPU per poll as these
few bytes on a socket (measured in the issue behind this module), a poll is the one thing the
exporter does all day, and importing it costs 20 MB of memory. redis-py still serves what needs
its features: the Sentinel event subscriptions (`connection.make_client`), imported only when
there are Sentinels. The handshake is ours too (AUTH, SELECT, CLIENT SETNAME and PING in one
round trip), so a connection is one object and really closes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, cast

import hiredis

from redis_ha_exporter.address import RedisAddress
from redis_ha_exporter.config import MAX_REPLY_BYTES, Credentials, TlsOptions

Command = tuple[str | int | bytes, ...]
Reply = Any
CLIENT_NAME = "redis-ha-exporter"
# What every connection sends besides the sources' commands: PING when it is made, and the
# best-effort name (README: least privilege).
CONNECTION_ACL = ("+ping", "+client|setname")


class LinkError(ConnectionError):
    """The connection failed, was lost, or the stream from the server made no sense."""


class ReplyTooLarge(LinkError):
    """The replies of one round trip passed the size limit (`--max-reply-bytes`)."""


class ReplyError(Exception):
    """An error reply (`-ERR ...`, `-NOPERM ...`), as the server worded it."""


class AuthError(ReplyError):
    """The server refused our credentials."""


class ClientName:
    """Names each new connection `redis-ha-exporter`; after the server refuses once, it
    stops asking and calls `on_refused` (one log line) instead of failing the connection."""

    def __init__(self, enabled: bool, on_refused: Callable[[Exception], None]) -> None:
        self.enabled = enabled
        self._on_refused = on_refused

    def refused(self, exc: Exception) -> None:
        """The server said no: stop asking, say so once."""
        self.enabled = False
        self._on_refused(exc)


def pack_command(command: Command) -> bytes:
    """A command as RESP2 bytes."""
    words = [w if isinstance(w, bytes) else str(w).encode() for w in command]
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


# The same commands come back every poll, so each is packed once (never AUTH: see _handshake).
pack = lru_cache(maxsize=4096)(pack_command)


class Link(asyncio.Protocol):
    """The protocol of one connection: replies are read with hiredis as they arrive and handed
    to the one round trip waiting for them. Error replies come back as ReplyError values in
    their place."""

    def __init__(self, max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        self._reader = hiredis.Reader(replyError=ReplyError)
        self._max = max_reply_bytes
        self._received = 0
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[list[Reply]] | None = None
        self._wanted = 0
        self._replies: list[Reply] = []
        self._lost = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but offer its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > self._max:
            # The partial reply goes now, not whenever the link's cycles are collected: a
            # server that keeps sending too much would otherwise hold the limit per poll.
            self._reader = hiredis.Reader(replyError=ReplyError)
            self._replies = []
            self._fail(ReplyTooLarge(f"reply over the limit of {self._max} bytes"))
            self.close()
            return
        self._reader.feed(data)
        try:
            while self._wanted:
                reply = self._reader.gets()
                if reply is False:  # RESP2 has no booleans: False means "incomplete"
                    return
                self._replies.append(reply)
                self._wanted -= 1
                if not self._wanted:
                    self._finish()
        except hiredis.ProtocolError as exc:
            self._fail(LinkError(f"protocol error: {exc}"))
            self.close()
        if self._reader.has_data():
            # Bytes nobody asked for: the stream is out of step, and nothing read from it
            # again could be trusted.
            self._fail(LinkError("unexpected data from the server"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._fail(LinkError(f"connection lost: {exc}" if exc else "closed by server"))

    # -- use -------------------------------------------------------------------------------

    async def roundtrip(self, commands: Sequence[Command], *, secret: bool = False) -> list[Reply]:
        """Send `commands` at once and return their replies in order; `secret` commands are
        not kept packed."""
        if not commands:
            return []
        if self._transport is None or self._transport.is_closing() or self._lost:
            raise LinkError("connection closed")
        assert self._waiter is None, "one round trip at a time"
        waiter: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._wanted, self._replies, self._received = len(commands), [], 0
        packer = pack_command if secret else pack
        self._transport.write(b"".join(packer(c) for c in commands))
        try:
            return await waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _finish(self) -> None:
        waiter, replies, self._replies = self._waiter, self._replies, []
        if waiter is not None and not waiter.done():
            waiter.set_result(replies)

    def _fail(self, exc: BaseException) -> None:
        self._wanted = 0
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


# `rediss://` as it is without TLS options: the system's CAs, the host name checked.
SYSTEM_TLS = TlsOptions()


def context_of(options: TlsOptions) -> ssl.SSLContext:
    """The client context of `options`, made once per set of files: loading CAs reads them,
    and a node that keeps failing would otherwise pay that on every reconnect. The server
    name is not part of a context (each connection sends its own), so groups with their own
    names share one. A reload forgets them all (`forget_contexts`): files change in place."""
    return _context(replace(options, server_name=None))


@lru_cache(maxsize=16)
def _context(options: TlsOptions) -> ssl.SSLContext:
    return options.context()


def forget_contexts() -> None:
    _context.cache_clear()


def tls_context(address: RedisAddress, options: TlsOptions) -> ssl.SSLContext | None:
    """The TLS of a `rediss://` address, made as `options` say; None for plain ones."""
    return context_of(options) if address.tls else None


async def open_link(
    address: RedisAddress,
    credentials: Credentials,
    name: ClientName | None = None,
    max_reply_bytes: int = MAX_REPLY_BYTES,
    tls: TlsOptions = SYSTEM_TLS,
) -> Link:
    """Connect and authenticate; raises what a failed connection or handshake raises (the
    caller's deadline bounds it)."""
    loop = asyncio.get_running_loop()
    link: Link

    def protocol() -> Link:
        return Link(max_reply_bytes)

    if address.scheme == "unix":
        _, link = await loop.create_unix_connection(protocol, address.path)
    else:
        context = tls_context(address, tls)
        _, link = await loop.create_connection(
            protocol,
            address.host,
            address.port,
            ssl=context,
            server_hostname=(tls.server_name or address.host) if context is not None else None,
        )
    try:
        await _handshake(link, address, credentials, name)
    except BaseException:
        link.close()
        raise
    return link


async def _handshake(
    link: Link, address: RedisAddress, credentials: Credentials, name: ClientName | None
) -> None:
    """AUTH, SELECT, CLIENT SETNAME and PING in one round trip, each only when needed (PING
    always: it proves the server answers us)."""
    password = credentials.password.get_secret_value() if credentials.password else None
    user = credentials.username
    naming = name is not None and name.enabled
    auth: list[Command] = []
    if password is not None:
        auth = [("AUTH", user, password) if user else ("AUTH", password)]
    select: list[Command] = [("SELECT", address.db)] if address.db else []
    setname: list[Command] = [("CLIENT", "SETNAME", CLIENT_NAME)] if naming else []
    replies = await link.roundtrip([*auth, *select, *setname, ("PING",)], secret=bool(auth))
    if auth and isinstance(replies[0], ReplyError):
        raise AuthError(str(replies[0]))
    if isinstance(replies[-1], ReplyError):
        raise replies[-1]  # NOAUTH: the server wants a password we do not have
    if select and isinstance(replies[len(auth)], ReplyError):
        raise replies[len(auth)]  # a database the server does not have
    if setname and name is not None and isinstance(replies[-2], ReplyError):
        name.refused(replies[-2])
