"""Starlette routes: `/metrics` (cached render, gzip and OpenMetrics on request), `/scrape`
(one target, see exporter/scrape.py), `/health`, `/ready`, the status page `/` and its data
`/api/topology` (JSON, see redis_ha_exporter/status.py) and `/api/topology.html` (the status
page's live part, which the page fetches to refresh itself)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from email.utils import formatdate
from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redis_ha_exporter.exposition import OPENMETRICS_TYPE, TEXT_TYPE
from redis_ha_exporter.landing import render_landing, render_main, when
from redis_ha_exporter.status import status
from redis_ha_exporter.store import StoreView
from redis_ha_exporter.webconfig import BasicAuth


class Renderer(Protocol):
    async def arender(self, openmetrics: bool = False, compress: bool = False) -> bytes: ...


class Scraped(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> bytes: ...
    @property
    def compressed(self) -> bool: ...


class Scraper(Protocol):
    async def scrape(
        self, target: str, params: Mapping[str, str], openmetrics: bool, compress: bool
    ) -> Scraped: ...


def _accepted(header: str) -> dict[str, float]:
    """`type;q=0.5, other` -> {type: q}; q=0 (in any spelling) means "not acceptable"."""
    out: dict[str, float] = {}
    for part in header.split(","):
        token, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        if token:
            out[token.lower()] = max(quality, out.get(token.lower(), 0.0))
    return out


def _wants_openmetrics(accept: str) -> bool:
    # Prometheus offers OpenMetrics 1.0.0 and 0.0.1 before text; we speak 1.0.0, whose text
    # is a superset of 0.0.1's.
    return _accepted(accept).get("application/openmetrics-text", 0.0) > 0


def _wants_gzip(accept_encoding: str) -> bool:
    return _accepted(accept_encoding).get("gzip", 0.0) > 0


class _DateHeader:
    """Adds the `Date` header to every response. uvicorn would refresh it from a 10 Hz timer
    that we do not run (see cli); formatting it per response costs a few microseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(usegmt=True).encode()
                message["headers"] = [*message.get("headers", []), (b"date", date)]
            await send(message)

        await self.app(scope, receive, send_with_date)


class _Authenticated:
    """Every path but `/health` (a liveness probe has no credentials) wants a user of the
    web config; others get 401 and a Basic challenge."""

    OPEN = frozenset({"/health"})

    def __init__(self, app: ASGIApp, auth: BasicAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.auth.users or scope["path"] in self.OPEN:
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if header and await self.auth.allows(header.decode("latin-1")):
            await self.app(scope, receive, send)
            return
        response = PlainTextResponse(
            "unauthorized\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="redis-ha-exporter"'},
        )
        await response(scope, receive, send)


def create_app(
    renderer: Renderer,
    view: StoreView,
    lifespan: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    scraper: Scraper | None = None,
    auth: BasicAuth | None = None,
    reload: Callable[[], bool] | None = None,
) -> Starlette:
    """The HTTP app over a renderer and a read-only view of the store; `lifespan` runs
    around serving (the runtime's pollers); `scraper` answers `/scrape`; with `auth`, every
    path but `/health` wants a user; `reload` answers `POST /-/reload`
    (--web-enable-lifecycle)."""

    async def metrics(request: Request) -> Response:
        openmetrics = _wants_openmetrics(request.headers.get("accept", ""))
        compress = _wants_gzip(request.headers.get("accept-encoding", ""))
        body = await renderer.arender(openmetrics=openmetrics, compress=compress)
        headers = {"Vary": "Accept, Accept-Encoding"}
        if compress:
            headers["Content-Encoding"] = "gzip"
        return Response(
            body, headers=headers, media_type=OPENMETRICS_TYPE if openmetrics else TEXT_TYPE
        )

    async def scrape(request: Request) -> Response:
        if scraper is None:
            return PlainTextResponse("/scrape is not enabled\n", status_code=404)
        openmetrics = _wants_openmetrics(request.headers.get("accept", ""))
        params = request.query_params
        result = await scraper.scrape(
            params.get("target", ""),
            params,
            openmetrics,
            _wants_gzip(request.headers.get("accept-encoding", "")),
        )
        if result.status != 200:
            return Response(result.body, result.status, media_type="text/plain; charset=utf-8")
        headers = {"Vary": "Accept, Accept-Encoding"}
        if result.compressed:
            headers["Content-Encoding"] = "gzip"
        return Response(
            result.body,
            headers=headers,
            media_type=OPENMETRICS_TYPE if openmetrics else TEXT_TYPE,
        )

    async def reload_config(request: Request) -> Response:
        if reload is None:
            return PlainTextResponse(
                "the lifecycle API is not enabled (--web-enable-lifecycle)\n", status_code=403
            )
        if reload():
            return PlainTextResponse("reloaded\n")
        return PlainTextResponse(
            "reload failed; the running configuration is kept (see the log)\n",
            status_code=500,
        )

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def ready(request: Request) -> Response:
        reasons = view.not_ready()
        if not reasons:
            return PlainTextResponse("ready\n")
        return PlainTextResponse(
            "".join(f"not ready: {reason}\n" for reason in reasons), status_code=503
        )

    async def index(request: Request) -> Response:
        return HTMLResponse(render_landing(view))

    async def topology(request: Request) -> Response:
        body = json.dumps(status(view, time.time()), separators=(",", ":"))
        # The page polls this every 2 s; a cached answer would freeze it.
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    async def topology_html(request: Request) -> Response:
        doc = status(view, time.time())
        return HTMLResponse(
            render_main(doc),
            headers={"Cache-Control": "no-store", "X-Data-Of": when(doc["generated_at"])},
        )

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        if lifespan is None:
            yield
            return
        async with lifespan():
            yield

    return Starlette(
        middleware=[
            Middleware(_DateHeader),
            *([Middleware(_Authenticated, auth=auth)] if auth is not None else []),
        ],
        routes=[
            Route("/", index),
            Route("/api/topology", topology),
            Route("/api/topology.html", topology_html),
            Route("/metrics", metrics),
            Route("/scrape", scrape),
            Route("/health", health),
            Route("/ready", ready),
            Route("/-/reload", reload_config, methods=["POST", "PUT"]),
        ],
        lifespan=app_lifespan,
    )
