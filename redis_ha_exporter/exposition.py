"""Renders the store as Prometheus text or OpenMetrics: the whole fleet for `/metrics`, one node
for `/scrape?target=`.

Each node's sample lines are rendered once per poll of that node and kept as bytes; a body
only joins them, at most once per change of the store and, under steady churn, at most once
per `min_age` seconds; a compressed body is made once per body. We format the text ourselves
because redis_exporter's contract has counters whose names lack `_total`
(`redis_total_error_replies`), which prometheus-client's encoder would rename.
"""

from __future__ import annotations

import asyncio
import gzip
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from redis_ha_exporter import __version__
from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import Family, FamilyBuilder, escape_label
from redis_ha_exporter.metrics.node import FamilySource, node_families
from redis_ha_exporter.process import Runtime
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.sentinel import group_families
from redis_ha_exporter.store import Store

# Level 1 compresses a node's 43 kB to 7 kB in a quarter of level 5's time; the scraper is
# usually near, and at a thousand nodes the time is what counts.
GZIP_LEVEL = 1
# The longest the event loop is held by rendering before polls get their turn.
_SLICE = 0.01

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _escape_help(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n")


@dataclass(frozen=True, slots=True)
class Fragment:
    """One family's sample lines from one node (or the exporter), ready to concatenate."""

    name: str
    type: str
    help: str
    lines: bytes


def fragments(families: Iterable[Family]) -> list[Fragment]:
    return [Fragment(f.name, f.type, f.help, "".join(f.lines).encode()) for f in families]


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


def join(all_fragments: Iterable[Fragment], openmetrics: bool) -> bytes:
    """One body: each family's header once, then its lines from every fragment, by name."""
    return join_packed([pack(all_fragments)], openmetrics)


@dataclass(frozen=True, slots=True)
class Packed:
    """Fragments as one byte string, one entry per family name, sorted: family i's lines are
    `blob[offsets[i]:offsets[i + 1]]`. A thousand nodes then hold a few objects each instead
    of hundreds, and nodes of one kind share their `layout`."""

    layout: tuple[tuple[str, str, str], ...]  # (name, type, help)
    blob: bytes
    offsets: tuple[int, ...]


def pack(
    frags: Iterable[Fragment],
    layouts: dict[tuple[tuple[str, str, str], ...], tuple[tuple[str, str, str], ...]] | None = None,
) -> Packed:
    merged: dict[str, list[bytes]] = {}
    first: dict[str, Fragment] = {}
    for frag in frags:
        chunks = merged.get(frag.name)
        if chunks is None:
            merged[frag.name] = [frag.lines]
            first[frag.name] = frag
        else:
            chunks.append(frag.lines)
    names = sorted(merged)
    layout = tuple((name, first[name].type, first[name].help) for name in names)
    if layouts is not None:
        layout = layouts.setdefault(layout, layout)
    chunks = [b"".join(merged[name]) for name in names]
    offsets = [0]
    for chunk in chunks:
        offsets.append(offsets[-1] + len(chunk))
    return Packed(layout, b"".join(chunks), tuple(offsets))


def join_steps(parts: Sequence[Packed], openmetrics: bool, out: bytearray) -> Iterator[None]:
    """Appends the body of `parts` to `out`: per family name, its header once and the lines
    of every part in order. Yields after each family, for an async caller."""
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
        yield
    if openmetrics:
        out += b"# EOF\n"


def join_packed(parts: Sequence[Packed], openmetrics: bool) -> bytes:
    out = bytearray()
    for _ in join_steps(parts, openmetrics, out):
        pass
    return bytes(out)


def without_instance(body: bytes, instance: str) -> bytes:
    """A node's body without its `instance` label, which Prometheus sets in `/scrape` mode.

    The label is first in every line. `="` never occurs inside an escaped label value (each
    quote there follows a backslash), so these patterns match only the label itself.
    """
    label = f'instance="{escape_label(instance)}"'.encode()
    return body.replace(b"{" + label + b",", b"{").replace(b"{" + label + b"}", b"")


def node_body(
    snap: NodeSnapshot, sources: Sequence[FamilySource], openmetrics: bool, fresh: bool = True
) -> bytes:
    """One node's series as `/scrape` serves them: no `instance` label, no exporter metrics."""
    frags = fragments(node_families(snap, sources, include_data=fresh))
    return without_instance(join(frags, openmetrics), snap.instance)


@dataclass(slots=True)
class _NodeCache:
    snap: NodeSnapshot
    fresh: bool
    packed: Packed
    scrape: dict[tuple[bool, bool], bytes] = field(default_factory=dict)  # (openmetrics, gzip)


class Renderer:
    """Caches per-node fragments by snapshot and whole bodies by store generation.

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
        self._nodes: dict[str, _NodeCache] = {}
        self._key: object = None
        self._built_at = float("-inf")
        self._parts: list[Packed] = []
        self._layouts: dict[tuple[tuple[str, str, str], ...], tuple[tuple[str, str, str], ...]] = {}
        self._bodies: dict[tuple[bool, bool], bytes] = {}
        self._runtime = Runtime()
        self._lock = asyncio.Lock()
        self.renders = 0
        self.compressions = 0

    def _node(self, snap: NodeSnapshot, fresh: bool) -> _NodeCache:
        cached = self._nodes.get(snap.instance)
        if cached is None or cached.snap is not snap or cached.fresh != fresh:
            if len(self._layouts) > 1000:  # bounded whatever the nodes report
                self._layouts.clear()
            families = node_families(snap, self.sources, include_data=fresh)
            packed = pack(fragments(families), self._layouts)
            cached = self._nodes[snap.instance] = _NodeCache(snap, fresh, packed)
        return cached

    def _global(self) -> list[Fragment]:
        b = FamilyBuilder(None)
        b.add(
            n.BUILD_INFO,
            1,
            version=__version__,
            commit_sha="",
            build_date="",
            python_version=platform.python_version(),
        )
        b.add(n.TARGET_SCRAPE_ERRORS, 0)
        return fragments(b.build() + self._runtime.families())

    def _refresh_steps(self) -> Iterator[None]:
        """Brings the fleet's fragments up to date, yielding after each node rendered so an
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
        # The previous body goes first: a thousand nodes' old and new fragments at once
        # would double the memory that rendering needs.
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
        extra = fragments(group_families(store.groups, nodes.values()))
        parts.append(pack(extra + self._global()))
        self._key, self._parts, self._built_at = key, parts, started

    def _plain_steps(self, openmetrics: bool, out: list[bytes]) -> Iterator[None]:
        plain = self._bodies.get((openmetrics, False))
        if plain is None:
            buffer = bytearray()
            yield from join_steps(self._parts, openmetrics, buffer)
            plain = bytes(buffer)
            self.renders += 1
        out.append(plain)

    def _keep(self, openmetrics: bool, compress: bool, body: bytes) -> bytes:
        # The plain body of a thousand nodes is tens of MB: kept only when asked for.
        self._bodies[(openmetrics, compress)] = body
        if compress:
            self.compressions += 1
        return body

    def render(self, openmetrics: bool = False, compress: bool = False) -> bytes:
        """The whole-fleet body. Every format and encoding of one store state comes from one
        collection, so text, OpenMetrics and gzip bodies served together agree."""
        for _ in self._refresh_steps():
            pass
        body = self._bodies.get((openmetrics, compress))
        if body is None:
            out: list[bytes] = []
            for _ in self._plain_steps(openmetrics, out):
                pass
            body = gzip_body(out[0]) if compress else out[0]
            body = self._keep(openmetrics, compress, body)
        return body

    async def arender(self, openmetrics: bool = False, compress: bool = False) -> bytes:
        """`render` for the event loop: one caller renders while the others wait for its
        body, nodes are rendered between polls, and gzip runs in a thread (zlib releases the
        GIL), so a large fleet does not hold up polling."""
        async with self._lock:
            mark = time.perf_counter()
            for _ in self._refresh_steps():
                if time.perf_counter() - mark > _SLICE:
                    await asyncio.sleep(0)
                    mark = time.perf_counter()
            body = self._bodies.get((openmetrics, compress))
            if body is None:
                out: list[bytes] = []
                for _ in self._plain_steps(openmetrics, out):
                    if time.perf_counter() - mark > _SLICE:
                        await asyncio.sleep(0)
                        mark = time.perf_counter()
                body = await asyncio.to_thread(gzip_body, out[0]) if compress else out[0]
                body = self._keep(openmetrics, compress, body)
            return body

    def render_node(
        self, instance: str, openmetrics: bool = False, compress: bool = False
    ) -> bytes | None:
        """One polled node's body for `/scrape`, from the same per-node cache; None when the
        node is not polled here (or not yet)."""
        snap = self.store.nodes.get(instance)
        if snap is None or not snap.polled:
            return None
        cached = self._node(snap, self.store.is_fresh(snap, time.time()))
        body = cached.scrape.get((openmetrics, compress))
        if body is None:
            body = cached.scrape.get((openmetrics, False))
            if body is None:
                body = without_instance(join_packed([cached.packed], openmetrics), instance)
            if compress:
                body = gzip_body(body)
            # Only what was asked for is kept: Prometheus asks for gzip, and a thousand
            # plain bodies would be tens of MB.
            cached.scrape[(openmetrics, compress)] = body
        return body


def gzip_body(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
