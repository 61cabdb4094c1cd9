"""redis_ha_exporter.scrape and the renderer's `/scrape` and coalescing paths, on captured
snapshots."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_ha_exporter import exposition
from redis_ha_exporter.address import AddressError, parse_target_pattern
from redis_ha_exporter.exposition import Renderer
from redis_ha_exporter.scrape import Scraped, parse_target
from redis_ha_exporter.sources import ALL
from redis_ha_exporter.store import Store
from tests.promtext import parse_series
from tests.unit.captured import NOW, snapshot


def body(renderer: Renderer, compress: bool = False) -> bytes:
    return asyncio.run(renderer.arender(compress=compress))


@pytest.mark.parametrize(
    ("pattern", "host", "port", "matches"),
    [
        ("10.0.0.0/8", "10.1.2.3", 6379, True),
        ("10.0.0.0/8", "11.1.2.3", 6379, False),
        ("10.0.0.0/8:6379", "10.1.2.3", 6380, False),
        ("10.0.0.0/8:63*", "10.1.2.3", 6380, True),
        ("127.0.0.1", "127.0.0.1", 1, True),
        ("[fd00::/8]:6379", "fd00::1", 6379, True),
        ("fd00::/8", "fe80::1", 6379, False),
        ("redis-*.svc:6379", "redis-0.svc", 6379, True),
        ("redis-*.svc:6379", "REDIS-0.SVC", 6379, True),
        ("redis-*.svc:6379", "evil.com", 6379, False),
        # A name never matches a network: the exporter does not resolve names to check them.
        ("10.0.0.0/8", "ten.example.com", 6379, False),
        # A glob that looks like an address matches addresses, never names.
        ("10.0.0.*:6379", "10.0.0.7", 6379, True),
        ("10.0.0.*:6379", "10.0.0.a.evil.example", 6379, False),
        ("10.0.0.*", "10.0.0.1.nip.io", 6379, False),
        ("fd00::*", "fd00::1", 6379, True),
        # An IPv4 address written as IPv6 is the IPv4 address.
        ("[::/0]:7001", "::ffff:127.0.0.1", 7001, False),
        ("[::/0]:7001", "::1", 7001, True),
        ("127.0.0.0/8", "::ffff:127.0.0.1", 6379, True),
        ("127.0.0.*", "::ffff:127.0.0.9", 6379, True),
        ("*", "anything.example", 6379, True),
    ],
)
def test_scrape_allow_patterns(pattern: str, host: str, port: int, matches: bool) -> None:
    assert parse_target_pattern(pattern).matches(host, port) is matches


@pytest.mark.parametrize(
    "text", ["", "redis://10.0.0.1:6379", "user:pw@10.0.0.1", "10.0.0.0/33", "host:port", "[::1"]
)
def test_bad_scrape_allow_patterns_are_refused_without_echoing_credentials(text: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_target_pattern(text)
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("target", "params"),
    [
        ("redis://:s3cret@h:6379", {}),
        ("redis://u:s3cret@h:6379", {}),
        ("u:s3cret@h:6379", {}),
        ("h:6379", {"password": "s3cret"}),
        ("h:6379", {"User": "s3cret"}),
        ("", {}),
        ("h:6379", {"module": "x"}),
    ],
)
def test_targets_with_credentials_or_junk_get_400_without_the_secret(
    target: str, params: dict[str, str]
) -> None:
    answer = parse_target(target, {"target": target, **params})
    assert isinstance(answer, Scraped) and answer.status == 400
    assert b"s3cret" not in answer.body


def test_a_plain_target_parses_to_its_address() -> None:
    address = parse_target("rediss://db.example:6380", {"target": "x"})
    assert not isinstance(address, Scraped)
    assert (address.instance, address.tls) == ("db.example:6380", True)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1))
def test_a_scraped_node_has_the_series_of_metrics_without_the_instance_label(
    instance: str,
) -> None:
    # The error's label spells the instance label too: only the label itself goes.
    store = Store(interval=10.0)
    error = f'{{instance="{instance}",'
    snap = snapshot("redis70", "master", instance=instance, error=error, last_success_at=1e12)
    store.put(snap)
    renderer = Renderer(store, ALL)
    scraped = parse_series((renderer.render_node(instance) or b"").decode())
    fleet = parse_series(body(renderer).decode())
    expected = [
        (s.name, {k: v for k, v in s.labels.items() if k != "instance"}, s.value)
        for s in fleet
        if s.labels.get("instance") == instance
    ]
    assert [(s.name, s.labels, s.value) for s in scraped] == expected
    assert all("instance" not in s.labels for s in scraped)
    assert any(s.labels.get("err") == error for s in scraped)


def _store() -> tuple[Store, str]:
    store = Store(interval=10.0)
    snap = snapshot("redis70", "master", last_success_at=1e12)
    store.put(snap)
    return store, snap.instance


def test_render_node_is_cached_per_snapshot_and_none_for_unknown_nodes() -> None:
    store, instance = _store()
    renderer = Renderer(store, ALL)
    body = renderer.render_node(instance)
    assert body is not None and b"instance=" not in body
    assert renderer.render_node(instance) is body
    assert renderer.render_node("10.9.9.9:6379") is None
    store.put(replace(store.nodes[instance], polls=99))
    again = renderer.render_node(instance)
    assert again is not body and b"redis_exporter_scrapes_total 99\n" in (again or b"")


def test_metrics_bodies_are_coalesced_to_one_per_min_age() -> None:
    store, instance = _store()
    clock = [100.0]
    renderer = Renderer(store, ALL, min_age=1.0, clock=lambda: clock[0])
    first = body(renderer, compress=True)
    assert (renderer.renders, renderer.compressions) == (1, 1)
    for polls in range(4, 10):  # steady churn within the same second
        store.put(replace(store.nodes[instance], polls=polls))
        clock[0] += 0.1
        assert body(renderer, compress=True) is first
    assert (renderer.renders, renderer.compressions) == (1, 1)
    clock[0] += 0.5
    newer = body(renderer, compress=True)
    assert newer is not first and (renderer.renders, renderer.compressions) == (2, 2)
    assert body(renderer, compress=True) is newer


def test_without_min_age_every_change_is_rendered() -> None:
    store, instance = _store()
    renderer = Renderer(store, ALL)
    first = body(renderer)
    store.put(replace(store.nodes[instance], polls=50, polled_at=NOW + 1))
    assert body(renderer) is not first
    assert renderer.renders == 2


def test_concurrent_scrapes_share_one_render_and_one_compression() -> None:
    store, _ = _store()
    renderer = Renderer(store, ALL)

    async def scrapes() -> list[bytes]:
        return list(await asyncio.gather(*(renderer.arender(compress=True) for _ in range(8))))

    bodies = asyncio.run(scrapes())
    assert all(body is bodies[0] for body in bodies)
    assert (renderer.renders, renderer.compressions) == (1, 1)
    assert gzip.decompress(bodies[0]) == body(renderer)


def test_a_large_render_lets_other_tasks_run_between_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exposition, "_SLICE", 0.0)
    store, instance = _store()
    for i in range(20):
        store.put(replace(store.nodes[instance], instance=f"10.0.0.{i}:6379"))
    renderer = Renderer(store, ALL)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def scrape() -> bytes:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        started = ticks
        body = await renderer.arender()
        task.cancel()
        assert ticks - started >= 20  # a turn for the ticker after each node rendered
        return body

    body = asyncio.run(scrape())
    assert body.count(b"redis_up{") == 21
