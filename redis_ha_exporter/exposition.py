"""Renders the store as Prometheus text or OpenMetrics: the whole fleet for `/metrics`, one node
for `/scrape?target=`.

Each node's lines are rendered once per poll of that node and kept packed, INFO's from a
template of its reply; a body only joins them, at most once per change of the store and, under
steady churn, at most once per `min_age` seconds; a compressed body is made once per body. We
format the text ourselves because redis_exporter's contract has counters whose names lack
`_total` (`redis_total_error_replies`), which prometheus-client's encoder would rename.
"""

from __future__ import annotations

import asyncio
import functools
import platform
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from redis_ha_exporter import __version__
from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import FamilyBuilder, Layout, Packed, Plans, merge
from redis_ha_exporter.metrics.node import FamilySource, node_families
from redis_ha_exporter.process import Runtime
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.info import InfoRecord
from redis_ha_exporter.sources.info_probe import Templates
from redis_ha_exporter.sources.info_template import InfoTemplate
from redis_ha_exporter.sources.sentinel import group_families
from redis_ha_exporter.store import Store

# Level 1 compresses a node's 43 kB to 7 kB in a quarter of level 5's time; the scraper is
# usually near, and at a thousand nodes the time is what counts.
GZIP_LEVEL = 1
# How much of the plain body is handed to the compressor at a time.
GZIP_CHUNK = 1 << 20
# The longest the event loop is held by rendering before polls get their turn.
_SLICE = 0.01

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _escape_help(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n")


# Every body has the same few hundred families: their headers are made once.
@functools.lru_cache(maxsize=4096)
def _header(name: str, mtype: str, help_text: str, openmetrics: bool) -> bytes:
    if openmetrics:
        if mtype == "counter":
            if name.endswith("_total"):
                name = name.removesuffix("_total")
            else:
                # OpenMetrics requires counter samples to end in _total; these keep their
                # compatible names as untyped series instead.
                mtype = "unknown"
        elif mtype == "untyped":
            mtype = "unknown"
    return f"# HELP {name} {_escape_help(help_text)}\n# TYPE {name} {mtype}\n".encode()


def join_steps(
    parts: Sequence[Packed], openmetrics: bool, out: bytearray, chunk: int = 1 << 62
) -> Iterator[None]:
    """Appends the body of `parts` to `out`: per family name, its header once and the lines
    of every part in order. Yields after each family, and whenever `out` holds `chunk` bytes
    or more, for an async caller (which may empty `out`)."""
    distinct = {id(p.layout): p.layout for p in parts}
    names = sorted({entry[0] for layout in distinct.values() for entry in layout})
    position = [0] * len(parts)
    for name in names:
        header = False
        for k, part in enumerate(parts):
            i = position[k]
            if i < len(part.layout) and part.layout[i][0] == name:
                if not header:
                    out += _header(*part.layout[i], openmetrics)
                    header = True
                out += memoryview(part.blob)[part.offsets[i] : part.offsets[i + 1]]
                position[k] = i + 1
                if len(out) >= chunk:
                    yield
        yield
    if openmetrics:
        out += b"# EOF\n"


def join_packed(parts: Sequence[Packed], openmetrics: bool) -> bytes:
    out = bytearray()
    for _ in join_steps(parts, openmetrics, out):
        pass
    return bytes(out)


def node_body(
    snap: NodeSnapshot, sources: Sequence[FamilySource], openmetrics: bool, fresh: bool = True
) -> bytes:
    """One node's series as `/scrape` serves them for a node polled on demand, once: no
    `instance` label, no exporter metrics, all from the builders."""
    b = node_families(snap, sources, include_data=fresh, instance=False)
    return join_packed([b.packed()], openmetrics)


# The records whose templated families a template stands in for.
_INFO: frozenset[type] = frozenset({InfoRecord})


class NodeBodies:
    """Each node's families packed: INFO's templated lines filled from its raw reply while it
    has the shape of the template (`info_template.py`), the rest from the builders. Templates,
    layouts and merge plans are shared by the nodes that have the same ones."""

    def __init__(self, sources: Sequence[FamilySource]) -> None:
        self.sources = sources
        self.templates = Templates()
        self.layouts: dict[Layout, Layout] = {}
        self.plans: Plans = {}

    def packed(
        self, snap: NodeSnapshot, fresh: bool, template: InfoTemplate | None, instance: bool = True
    ) -> tuple[Packed, InfoTemplate | None]:
        """The node's body and the template it was filled from (None: all from builders).
        `template` is the one its previous body used; without `instance` for `/scrape`."""
        info = snap.get(InfoRecord) if fresh and snap.last_success_at is not None else None
        filled = None
        if info is not None and info.raw:
            filled = self.templates.fill(info.raw, snap.instance if instance else None, template)
        b = node_families(
            snap,
            self.sources,
            include_data=fresh,
            instance=instance,
            filled=_INFO if filled is not None else frozenset(),
        )
        packed = b.packed(self.layouts)
        if filled is None:
            return packed, None
        return merge(filled[0], packed, self.plans, self.layouts), filled[1]


@dataclass(slots=True)
class _NodeCache:
    snap: NodeSnapshot
    fresh: bool
    packed: Packed
    template: InfoTemplate | None
    scrape: dict[tuple[bool, bool], bytes] = field(default_factory=dict)  # (openmetrics, gzip)


class Renderer:
    """Caches per-node packed bodies by snapshot and whole bodies by store generation.

    `min_age` bounds how often a changing store is rendered again: a body younger than that
    is served as it is, so with a thousand nodes polled at different moments `/metrics` costs
    one render and one compression per `min_age`, however many scrapers ask.
    """

    def __init__(
        self,
        store: Store,
        sources: Sequence[FamilySource],
        min_age: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.sources = sources
        self.min_age = min_age
        self._clock = clock
        self._bodies_of = NodeBodies(sources)
        self._nodes: dict[str, _NodeCache] = {}
        self._key: object = None
        self._built_at = float("-inf")
        self._parts: list[Packed] = []
        self._bodies: dict[tuple[bool, bool], bytes] = {}
        self._runtime = Runtime()
        self.redis_only = False  # --redis-only-metrics: no build info or runtime series
        self._lock = asyncio.Lock()
        self.renders = 0
        self.compressions = 0

    def _node(self, snap: NodeSnapshot, fresh: bool) -> _NodeCache:
        cached = self._nodes.get(snap.instance)
        if cached is None or cached.snap is not snap or cached.fresh != fresh:
            template = cached.template if cached is not None else None
            packed, template = self._bodies_of.packed(snap, fresh, template)
            cached = self._nodes[snap.instance] = _NodeCache(snap, fresh, packed, template)
        return cached

    def _global(self, nodes: Iterable[NodeSnapshot]) -> Packed:
        b = FamilyBuilder(None)
        if not self.redis_only:
            b.add(
                n.BUILD_INFO,
                1,
                version=__version__,
                commit_sha="",
                build_date="",
                python_version=platform.python_version(),
            )
        b.add(n.TARGET_SCRAPE_ERRORS, 0)
        limits = self.store.discovery
        for group in sorted(set(self.store.groups) | set(limits.rejected)):
            b.add(n.DISCOVERY_REJECTED, limits.rejected.get(group, 0), master_name=group)
        b.add(n.DISCOVERY_CAPPED, limits.capped)
        reload = self.store.reload
        b.add(n.CONFIG_RELOAD_OK, 1 if reload.successful else 0)
        b.add(n.CONFIG_RELOAD_AT, reload.at)
        group_families(self.store.groups, nodes, b)
        if not self.redis_only:
            self._runtime.add_families(b)
        return b.packed()

    def _refresh_steps(self) -> Iterator[None]:
        """Brings the fleet's bodies up to date, yielding after each node rendered so an
        async caller can let polls run in between (a thousand nodes take about a second)."""
        started = self._clock()
        if started - self._built_at < self.min_age:
            return
        now = time.time()
        store = self.store
        nodes = dict(store.nodes)
        exported = sorted(nodes.keys() - store.unexported)
        fresh = {i: store.is_fresh(nodes[i], now) for i in exported}
        key = (store.generation, tuple(i for i in exported if fresh[i]))
        if key == self._key:
            return
        # The previous body goes first: a thousand nodes' old and new bodies at once would
        # double the memory that rendering needs.
        self._key, self._parts, self._bodies = None, [], {}
        for gone in self._nodes.keys() - nodes.keys():
            del self._nodes[gone]
        parts: list[Packed] = []
        for instance in exported:
            cached = self._nodes.get(instance)
            current = cached is not None and cached.snap is nodes[instance]
            parts.append(self._node(nodes[instance], fresh[instance]).packed)
            if not current:
                yield
        parts.append(self._global(nodes.values()))
        self._key, self._parts, self._built_at = key, parts, started

    def _keep(self, openmetrics: bool, compress: bool, body: bytes) -> bytes:
        # The plain body of a thousand nodes is tens of MB: kept only when asked for.
        self._bodies[(openmetrics, compress)] = body
        return body

    async def arender(self, openmetrics: bool = False, compress: bool = False) -> bytes:
        """The whole-fleet body. Every format and encoding of one store state comes from one
        collection, so text, OpenMetrics and gzip bodies served together agree. One caller
        renders while the others wait for its body, and nodes are rendered between polls. A
        gzip body is written family by family into a compressor running in a thread (zlib
        releases the GIL), so the plain body is never held whole and a large fleet does not
        hold up polling."""
        async with self._lock:
            mark = time.perf_counter()
            for _ in self._refresh_steps():
                if time.perf_counter() - mark > _SLICE:
                    await asyncio.sleep(0)
                    mark = time.perf_counter()
            body = self._bodies.get((openmetrics, compress))
            if body is not None:
                return body
            plain = self._bodies.get((openmetrics, False))
            if compress and plain is not None:
                self.compressions += 1
                return self._keep(openmetrics, True, await asyncio.to_thread(gzip_body, plain))
            buffer = bytearray()
            stream = GzipStream() if compress else None
            for _ in join_steps(
                self._parts, openmetrics, buffer, GZIP_CHUNK if stream is not None else 1 << 62
            ):
                if stream is not None and len(buffer) >= GZIP_CHUNK:
                    chunk = bytes(buffer)
                    del buffer[:]
                    await asyncio.to_thread(stream.write, chunk)
                    mark = time.perf_counter()
                elif time.perf_counter() - mark > _SLICE:
                    await asyncio.sleep(0)
                    mark = time.perf_counter()
            self.renders += 1
            if stream is None:
                return self._keep(openmetrics, False, bytes(buffer))
            self.compressions += 1
            return self._keep(openmetrics, True, await asyncio.to_thread(stream.close, buffer))

    def render_node(
        self, instance: str, openmetrics: bool = False, compress: bool = False
    ) -> bytes | None:
        """One polled node's body for `/scrape`, from the same per-node cache and template,
        without `instance` label; None when the node is not polled here (or not yet)."""
        snap = self.store.nodes.get(instance)
        if snap is None or not snap.polled:
            return None
        cached = self._node(snap, self.store.is_fresh(snap, time.time()))
        body = cached.scrape.get((openmetrics, compress))
        if body is None:
            body = cached.scrape.get((openmetrics, False))
            if body is None:
                bare, _ = self._bodies_of.packed(
                    snap, cached.fresh, cached.template, instance=False
                )
                body = join_packed([bare], openmetrics)
            if compress:
                body = gzip_body(body)
            # Only what was asked for is kept: Prometheus asks for gzip, and a thousand
            # plain bodies would be tens of MB.
            cached.scrape[(openmetrics, compress)] = body
        return body


def gzip_body(body: bytes) -> bytes:
    stream = GzipStream()
    return stream.close(body)


class GzipStream:
    """A gzip member written piece by piece: the same bytes `gzip_body` makes of the pieces
    joined (no name, no time, so equal bodies compress equal)."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._out: list[bytes] = []

    def write(self, data: bytes | bytearray) -> None:
        self._out.append(self._zlib.compress(data))

    def close(self, last: bytes | bytearray = b"") -> bytes:
        self._out += (self._zlib.compress(last), self._zlib.flush())
        body = b"".join(self._out)
        self._out = []
        return body
