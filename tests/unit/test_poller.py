"""redis_ha_exporter.poller: the cadence helpers, error descriptions, and one poll with its retry
and deadline, against a fake client (no server)."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from redis_ha_exporter import sources
from redis_ha_exporter.address import parse_address
from redis_ha_exporter.config import Credentials
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.poller import (
    NodePoller,
    PollSettings,
    describe_error,
    next_tick,
    phase,
    retry_delay,
)
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import PollOptions
from redis_ha_exporter.sources.keys import KeysRecord
from redis_ha_exporter.wire import AuthError, Link, LinkError, ReplyError, ReplyTooLarge
from tests.unit.captured import snapshot
from tests.unit.fake_client import FakeClient, data_answer

INSTANCE = "127.0.0.1:53709"  # the captured master's port
SECRET = "s3cr3t-Pa55"


# -- cadence ------------------------------------------------------------------------------------


def test_phase_is_within_the_unit_interval() -> None:
    assert all(0.0 <= phase(f"127.0.0.1:{6379 + i}") < 1.0 for i in range(500))


def test_phase_is_the_same_in_every_process() -> None:
    # Not hash(): that is salted per process, and a restart would move every node's phase.
    assert phase("127.0.0.1:6379") == pytest.approx(0.0792782998)


def test_phase_spreads_nodes_over_the_whole_interval() -> None:
    phases = [phase(f"127.0.0.1:{6379 + i}") for i in range(100)]
    assert len(set(phases)) == 100
    per_tenth = [sum(int(p * 10) == d for p in phases) for d in range(10)]
    assert min(per_tenth) >= 3, per_tenth


@pytest.mark.parametrize("interval", [0.5, 1.0, 15.0])
def test_retry_delay_spans_the_last_quarter_of_one_interval(interval: float) -> None:
    assert retry_delay(interval, lambda low, high: low) == pytest.approx(0.75 * interval)
    assert retry_delay(interval, lambda low, high: high) == pytest.approx(interval)


def test_retry_comes_within_one_interval_so_recovery_shows_within_interval_plus_timeout() -> None:
    rng = random.Random(7)
    delays = [retry_delay(10.0, rng.uniform) for _ in range(2000)]
    assert max(delays) <= 10.0
    assert min(delays) >= 7.5
    assert max(delays) - min(delays) > 2.0  # jittered, not lock-step


def test_next_tick_advances_by_one_interval_when_on_time() -> None:
    assert next_tick(100.0, 100.3, 5.0) == 105.0
    assert next_tick(100.0, 104.9, 5.0) == 105.0


@pytest.mark.parametrize("overrun", [5.01, 7.0, 12.5, 17.0, 49.99])
def test_next_tick_skips_missed_ticks_and_keeps_the_phase(overrun: float) -> None:
    now = 100.0 + overrun
    tick = next_tick(100.0, now, 5.0)
    assert now < tick <= now + 5.0
    assert (tick - 100.0) % 5.0 == pytest.approx(0.0)


def test_polls_slower_than_the_interval_never_burst_to_catch_up() -> None:
    next_at, starts = 0.0, []
    for _ in range(5):
        starts.append(next_at)
        next_at = next_tick(next_at, next_at + 12.0, 5.0)  # each poll takes 12s
    assert starts == [0.0, 15.0, 30.0, 45.0, 60.0]


# -- describe_error -----------------------------------------------------------------------------

AUTH_INVALID = (
    "authentication failed: the server refused the password: check --redis-password "
    "(REDIS_PASSWORD) or the target's password_file"
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (AuthError("invalid username-password pair"), AUTH_INVALID),
        (
            ReplyError("WRONGPASS invalid username-password pair or user is disabled."),
            AUTH_INVALID,
        ),
        (
            ReplyError("NOAUTH Authentication required."),
            "authentication failed: the server requires a password and none is configured: "
            "--redis-password (REDIS_PASSWORD) or the target's password_file",
        ),
        (
            ReplyError(
                "AUTH <password> called without any password configured for the default user."
            ),
            "authentication failed: a password is configured but the server has none; remove "
            "--redis-password (REDIS_PASSWORD) or the target's password_file for it, or set "
            "requirepass on it",
        ),
        (TimeoutError(), "timeout: no reply within 0.5s"),  # what asyncio.timeout raises
        (TimeoutError("Timeout reading from socket"), "timeout: no reply within 0.5s"),
        (
            LinkError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
            "connection failed: Error 111 connecting to 127.0.0.1:6379. Connection refused.",
        ),
        (LinkError(), "connection failed: LinkError"),
        (
            ReplyTooLarge("reply over the limit of 65536 bytes"),
            "reply over the limit of 65536 bytes (--max-reply-bytes)",
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "connection failed: Connection refused",
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            "connection failed: Name or service not known",
        ),
        (
            ssl.SSLCertVerificationError(
                1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
            ),
            "connection failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
        ),
        (AuthError("WRONGPASS invalid username-password pair"), AUTH_INVALID),
        (ReplyError("LOADING Redis is loading"), "error reply: LOADING Redis is loading"),
        (ValueError("boom"), "ValueError: boom"),
        (KeyError(), "KeyError"),
    ],
)
def test_describe_error_names_the_reason(exc: BaseException, expected: str) -> None:
    assert describe_error(exc, 0.5) == expected


@pytest.mark.parametrize(
    ("reply", "kind", "user", "expected"),
    [
        (
            "NOAUTH Authentication required.",
            "sentinel",
            None,
            "the Sentinel requires a password and none is configured: --sentinel-password "
            "(REDIS_SENTINEL_PASSWORD)",
        ),
        (
            "WRONGPASS invalid username-password pair or user is disabled.",
            "sentinel",
            "watcher",
            "the Sentinel refused the ACL user and password (or the user is disabled): check "
            "--sentinel-user and --sentinel-password (REDIS_SENTINEL_PASSWORD)",
        ),
        (
            "WRONGPASS invalid username-password pair or user is disabled.",
            "replica",
            "exporter",
            "the server refused the ACL user and password (or the user is disabled): check "
            "--redis-user and --redis-password (REDIS_PASSWORD) or the target's password_file",
        ),
    ],
)
def test_an_authentication_failure_names_the_setting_of_the_nodes_kind(
    reply: str, kind: str, user: str | None, expected: str
) -> None:
    error = AuthError(reply) if reply.startswith("WRONGPASS") else ReplyError(reply)
    assert describe_error(error, 0.5, (), kind, user) == "authentication failed: " + expected


def test_describe_error_is_at_most_300_characters() -> None:
    reason = describe_error(ValueError("x" * 1000), 0.5)
    assert len(reason) == 300
    assert reason.startswith("ValueError: xxx")


@pytest.mark.parametrize(
    "exc",
    [
        LinkError(f"Error connecting to redis://app:{SECRET}@127.0.0.1:6379"),
        ReplyError(f"ERR unknown option '{SECRET}'"),
        RuntimeError(f"{SECRET} and {SECRET} again"),
    ],
)
def test_describe_error_never_shows_a_secret(exc: BaseException) -> None:
    reason = describe_error(exc, 0.5, (SECRET, ""))
    assert SECRET[:4] not in reason
    assert "********" in reason


def test_describe_error_masks_a_secret_before_cutting_at_300_characters() -> None:
    reason = describe_error(ValueError("x" * 285 + SECRET), 0.5, (SECRET,))
    assert len(reason) == 300
    assert reason.endswith("x***")  # "ValueError: " and 285 x, then the mask, cut
    assert SECRET[:3] not in reason


def test_describe_error_ignores_empty_secrets() -> None:
    assert describe_error(ValueError("boom"), 0.5, ("",)) == "ValueError: boom"


# -- one poll -------------------------------------------------------------------------------


def new_poller(published: list[NodeSnapshot], timeout: float = 0.5) -> NodePoller:
    spec = NodeSpec(parse_address(INSTANCE), Credentials("app", SecretStr(SECRET)))
    settings = PollSettings(interval=1.0, timeout=timeout)
    return NodePoller(spec, settings, sources.ALL, published.append)


def attach(poller: NodePoller, fake: FakeClient) -> None:
    """As if the poller had connected before: the connection is reused."""
    poller._link = fake.link


def fake_open_link(monkeypatch: pytest.MonkeyPatch, *clients: FakeClient) -> list[Any]:
    """New connections come from `clients` in turn."""
    calls: list[Any] = []
    queue = list(clients)

    async def open_link(*args: Any, **kwargs: Any) -> Link:
        calls.append(args)
        return queue.pop(0).link

    monkeypatch.setattr("redis_ha_exporter.poller.open_link", open_link)
    return calls


def test_a_successful_poll_publishes_an_up_snapshot() -> None:
    published: list[NodeSnapshot] = []
    fake = FakeClient(data_answer())

    async def scenario() -> list[bool]:
        poller = new_poller(published)
        attach(poller, fake)
        return [await poller.poll_once(), await poller.poll_once()]

    assert asyncio.run(scenario()) == [True, True]
    first, second = published
    assert (first.up, first.kind, first.error, first.polls) == (True, "data", "", 1)
    assert first.duration >= 0.0
    assert first.last_success_at is not None
    assert second.polls == 2
    assert second.poll_seconds_total == pytest.approx(first.duration + second.duration)
    assert len(fake.pipelines) == 3  # INFO server once, then one round trip per poll


def test_a_kept_connection_closed_by_the_server_is_reopened_and_the_poll_retried_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published: list[NodeSnapshot] = []
    dropped = FakeClient(data_answer(), fail=LinkError("Connection closed by server."))
    fresh = FakeClient(data_answer())
    calls = fake_open_link(monkeypatch, fresh)

    async def scenario() -> bool:
        poller = new_poller(published)
        attach(poller, dropped)
        return await poller.poll_once()

    assert asyncio.run(scenario()) is True
    assert dropped.closed
    assert len(calls) == 1
    assert calls[0][0].instance == INSTANCE
    (snap,) = published
    assert (snap.up, snap.kind, snap.error, snap.polls) == (True, "data", "", 1)
    assert snap.connect_time >= 0.0


def test_a_connection_error_on_a_fresh_connection_fails_the_poll_without_a_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published: list[NodeSnapshot] = []
    refused = LinkError(f"Error connecting with password {SECRET}")
    calls = fake_open_link(monkeypatch, FakeClient(data_answer(), fail=refused))

    async def scenario() -> bool:
        return await new_poller(published).poll_once()

    assert asyncio.run(scenario()) is False
    assert len(calls) == 1
    (snap,) = published
    assert snap.up is False
    assert snap.error == "connection failed: Error connecting with password ********"


def test_a_timed_out_poll_is_down_keeps_the_records_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="redis_ha_exporter.poller")
    published: list[NodeSnapshot] = []
    prev = snapshot("redis70", "master")
    assert prev.instance == INSTANCE

    async def hang() -> None:
        await asyncio.sleep(30)

    fakes = [FakeClient(data_answer(), delay=hang) for _ in range(2)]

    async def scenario() -> list[bool]:
        poller = new_poller(published, timeout=0.05)
        poller.snapshot = prev
        results = []
        for fake in fakes:
            attach(poller, fake)
            results.append(await poller.poll_once())
        return results

    assert asyncio.run(scenario()) == [False, False]
    assert all(fake.closed for fake in fakes)  # a reply may be in flight: never reuse it
    for n, snap in enumerate(published, start=1):
        assert snap.up is False
        assert snap.error == "timeout: no reply within 0.05s"
        assert snap.records is prev.records
        assert snap.last_success_at == prev.last_success_at
        assert snap.polls == prev.polls + n
    down = [(r.levelno, r.getMessage()) for r in caplog.records if "down" in r.getMessage()]
    assert down == [
        (logging.WARNING, f"node {INSTANCE} is down: timeout: no reply within 0.05s"),
        (logging.DEBUG, f"node {INSTANCE} still down: timeout: no reply within 0.05s"),
    ]


def test_a_node_back_up_after_a_failure_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="redis_ha_exporter.poller")
    published: list[NodeSnapshot] = []
    outcomes: list[Callable[[], FakeClient]] = [
        lambda: FakeClient(data_answer(), fail=TimeoutError("Timeout reading from socket")),
        lambda: FakeClient(data_answer()),
    ]

    async def scenario() -> None:
        poller = new_poller(published)
        for outcome in outcomes:
            attach(poller, outcome())
            await poller.poll_once()

    asyncio.run(scenario())
    assert [s.up for s in published] == [False, True]
    assert published[1].error == ""
    assert f"node {INSTANCE} is back up" in caplog.messages


class _Transport:
    """What a Link writes to and closes, for feeding it bytes by hand."""

    def __init__(self) -> None:
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_a_link_drops_replies_over_its_limit_and_takes_them_up_to_it() -> None:
    async def roundtrip(limit: int, chunks: list[bytes]) -> tuple[Any, bool]:
        link, transport = Link(limit), _Transport()
        link.connection_made(transport)  # type: ignore[arg-type]
        pending = asyncio.ensure_future(link.roundtrip([("INFO",)]))
        await asyncio.sleep(0)
        for chunk in chunks:
            link.data_received(chunk)
        try:
            return await pending, transport.closed
        except ReplyTooLarge as exc:
            return exc, transport.closed

    body = b"x" * 70_000
    reply = b"$%d\r\n%s\r\n" % (len(body), body)
    halves = [reply[: len(reply) // 2], reply[len(reply) // 2 :]]
    too_large, closed = asyncio.run(roundtrip(65536, halves))
    assert isinstance(too_large, ReplyTooLarge) and closed
    assert str(too_large) == "reply over the limit of 65536 bytes"
    assert asyncio.run(roundtrip(len(reply), halves)) == ([body], False)


def test_describe_error_masks_a_servers_words_but_not_ours() -> None:
    secrets = ("refused", "hunter2")
    refused = ConnectionRefusedError(111, "Connection refused")
    assert describe_error(refused, 1, secrets) == "connection failed: Connection refused"
    echoed = ReplyError("ERR unknown password hunter2")
    assert describe_error(echoed, 1, secrets) == "error reply: ERR unknown password ********"


def test_walks_that_keep_failing_are_logged_once_until_they_succeed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    published: list[NodeSnapshot] = []
    info = data_answer()
    # The watched key does not exist: TYPE says none (SELECT first, as every walk round).
    fake = FakeClient(
        lambda c: b"none" if c[0] == "TYPE" else b"OK" if c[0] == "SELECT" else info(c)
    )
    spec = NodeSpec(parse_address(INSTANCE), Credentials("app", SecretStr(SECRET)))
    options = PollOptions({"check_single_keys": ["jobs"]})
    poller = NodePoller(spec, PollSettings(1.0, 0.5, options), sources.ALL, published.append)

    async def scenario() -> None:
        attach(poller, fake)
        assert await poller.poll_once()
        fake.fail = LinkError("connection lost: reset by peer")
        for _ in range(3):
            attach(poller, fake)  # each failure drops the connection; the next poll reopens it
            await poller.walk_once(float("inf"))
        fake.fail = None
        attach(poller, fake)
        await poller.walk_once(float("inf"))
        fake.fail = LinkError("connection lost: reset by peer")
        attach(poller, fake)
        await poller.walk_once(float("inf"))

    caplog.set_level(logging.DEBUG, logger="redis_ha_exporter.poller")
    asyncio.run(scenario())
    failed = [r for r in caplog.records if "its walks failed" in r.getMessage()]
    assert [r.levelno for r in failed] == [
        logging.WARNING,
        logging.DEBUG,
        logging.DEBUG,
        logging.WARNING,  # after a walk that succeeded
    ]
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert any(s.get(KeysRecord) == KeysRecord((("db0", "jobs", 0, None),)) for s in published)
