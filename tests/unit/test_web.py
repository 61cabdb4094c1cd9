"""redis_ha_exporter.web: content negotiation of /metrics (OpenMetrics and gzip); /api/topology
and /."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from redis_ha_exporter.snapshot import GroupState
from redis_ha_exporter.store import Store
from redis_ha_exporter.web import _wants_gzip, _wants_openmetrics, create_app
from tests.unit import captured

PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
PROMETHEUS_TEXT_ONLY = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (PROMETHEUS_2, True),
        (PROMETHEUS_3, True),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", True),
        (" application/openmetrics-text ", True),
        ("text/plain, application/openmetrics-text;version=0.0.1", True),
        (PROMETHEUS_TEXT_ONLY, False),
        ("text/plain", False),
        ("*/*", False),
        ("", False),
        ("application/openmetrics-text;q=0", False),
        ("application/openmetrics-text; version=1.0.0; q=0", False),
        ("application/json", False),
    ],
)
def test_openmetrics_only_when_the_scraper_accepts_it(accept: str, wanted: bool) -> None:
    assert _wants_openmetrics(accept) is wanted


@pytest.mark.parametrize("zero", ["q=0.0", "q=0.000"])
def test_openmetrics_refused_with_any_spelling_of_q_zero(zero: str) -> None:
    assert _wants_openmetrics(f"application/openmetrics-text;{zero},text/plain") is False


@pytest.mark.parametrize(
    ("accept_encoding", "wanted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        (" deflate , gzip ", True),
        ("deflate", False),
        ("identity", False),
        ("", False),
        ("x-gzip-ish", False),
    ],
)
def test_gzip_only_when_the_client_accepts_it(accept_encoding: str, wanted: bool) -> None:
    assert _wants_gzip(accept_encoding) is wanted


def test_gzip_refused_with_q_zero() -> None:
    assert _wants_gzip("gzip;q=0, identity") is False


class _NoMetrics:
    async def arender(self, openmetrics: bool = False, compress: bool = False) -> bytes:
        return b""


def _get(path: str) -> httpx.Response:
    store = Store(1.0)
    store.put(captured.snapshot("redis70", "master"))
    store.put(captured.snapshot("redis70", "sentinel"))
    store.set_groups({captured.GROUP: GroupState(captured.GROUP, master_address="x:1")})
    transport = httpx.ASGITransport(app=create_app(_NoMetrics(), store))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://exporter") as client:
            return await client.get(path)

    return asyncio.run(get())


def test_api_topology_is_uncached_json_of_the_store() -> None:
    response = _get("/api/topology")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    doc = response.json()
    assert [g["name"] for g in doc["groups"]] == [captured.GROUP]
    assert doc["groups"][0]["master"] == captured.snapshot("redis70", "master").instance
    assert len(doc["nodes"]) == 2 and doc["generated_at"] > 0


def test_status_page_is_html_with_the_same_data() -> None:
    response = _get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    master = captured.snapshot("redis70", "master").instance
    assert f'<span class="master"><code>{master}</code></span>' in response.text
    assert 'fetch("api/topology.html"' in response.text
    live = _get("/api/topology.html")
    assert live.status_code == 200 and live.headers["cache-control"] == "no-store"
    shown = response.text.split("<main id='app'>", 1)[1].split("</main>", 1)[0]
    ages = re.compile(r"[\d.]+s ago")  # the two renders are some milliseconds apart
    assert ages.sub("", live.text) == ages.sub("", shown)
    assert live.headers["x-data-of"].endswith(" UTC")


@pytest.mark.parametrize("path", ["/health", "/metrics", "/api/topology"])
def test_every_response_carries_a_current_date_header(path: str) -> None:
    # uvicorn's own Date header comes from the 10 Hz tick we do not run.
    response = _get(path)
    sent = parsedate_to_datetime(response.headers["date"])
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 5
    assert len(response.headers.get_list("date")) == 1
