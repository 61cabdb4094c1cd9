"""Renders the store as Prometheus text or OpenMetrics, at most once per change of the store.

Each node's sample lines are rendered once per poll of that node and cached; a scrape only
joins cached fragments, so N scrapers cost one render and Redis nothing. We format the text
ourselves because redis_exporter's contract has counters whose names lack `_total`
(`redis_total_error_replies`), which prometheus-client's encoder would rename.
"""

from __future__ import annotations

import gzip
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

from exporter import __version__
from exporter.metrics import names as n
from exporter.metrics.groups import group_families
from exporter.metrics.model import Family, FamilyBuilder, Sample
from exporter.metrics.node import FamilySource, node_families
from exporter.snapshot import NodeSnapshot
from exporter.store import Store

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n")


def _format(value: float) -> str:
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def sample_lines(family: Family, samples: Iterable[Sample]) -> str:
    out = []
    for s in samples:
        labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in s.labels)
        body = f"{{{labels}}}" if labels else ""
        out.append(f"{family.name}{s.suffix}{body} {_format(s.value)}\n")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Fragment:
    """One family's sample lines from one source, ready to concatenate."""

    name: str
    type: str
    help: str
    lines: str


def fragments(families: Iterable[Family]) -> list[Fragment]:
    return [Fragment(f.name, f.type, f.help, sample_lines(f, f.samples)) for f in families]


def _header(name: str, mtype: str, help_text: str, openmetrics: bool) -> str:
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
    return f"# HELP {name} {_escape_help(help_text)}\n# TYPE {name} {mtype}\n"


def join(all_fragments: Iterable[Fragment], openmetrics: bool) -> bytes:
    merged: dict[str, tuple[Fragment, list[str]]] = {}
    for frag in all_fragments:
        entry = merged.get(frag.name)
        if entry is None:
            merged[frag.name] = (frag, [frag.lines])
        else:
            entry[1].append(frag.lines)
    out = []
    for name in sorted(merged):
        first, chunks = merged[name]
        out.append(_header(name, first.type, first.help, openmetrics))
        out.extend(chunks)
    if openmetrics:
        out.append("# EOF\n")
    return "".join(out).encode("utf-8")


def _from_client(metric: Metric) -> Family:
    name = metric.name + ("_total" if metric.type == "counter" else "")
    fam = Family(name, "untyped" if metric.type == "unknown" else metric.type, metric.documentation)  # type: ignore[arg-type]
    for s in metric.samples:
        suffix = (
            s.name.removeprefix(name)
            if s.name.startswith(name)
            else s.name.removeprefix(metric.name)
        )
        fam.samples.append(Sample(suffix, tuple(sorted(s.labels.items())), s.value))
    return fam


class Renderer:
    """Caches per-node fragments by snapshot and whole bodies by store generation."""

    def __init__(self, store: Store, sources: Sequence[FamilySource]) -> None:
        self.store = store
        self._sources = sources
        self._nodes: dict[str, tuple[NodeSnapshot, bool, list[Fragment]]] = {}
        self._key: object = None
        self._frags: list[Fragment] = []
        self._bodies: dict[tuple[bool, bool], bytes] = {}
        self._runtime = [
            ProcessCollector(registry=None),
            PlatformCollector(registry=None),
            GCCollector(registry=_NoRegistry()),  # type: ignore[arg-type]
        ]
        self.renders = 0

    def _node(self, snap: NodeSnapshot, fresh: bool) -> list[Fragment]:
        cached = self._nodes.get(snap.instance)
        if cached is not None and cached[0] is snap and cached[1] == fresh:
            return cached[2]
        frags = fragments(node_families(snap, self._sources, include_data=fresh))
        self._nodes[snap.instance] = (snap, fresh, frags)
        return frags

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
        families = b.build()
        for collector in self._runtime:
            families.extend(_from_client(m) for m in collector.collect())
        return fragments(families)

    def render(self, openmetrics: bool = False, compress: bool = False) -> bytes:
        """The exposition body. Every format and encoding of one store state comes from one
        collection, so text, OpenMetrics and gzip bodies served together agree."""
        now = time.time()
        store = self.store
        nodes = store.nodes
        fresh = {i: store.is_fresh(s, now) for i, s in nodes.items()}
        key = (store.generation, tuple(sorted(i for i, f in fresh.items() if f)))
        if key != self._key:
            for gone in set(self._nodes) - set(nodes):
                del self._nodes[gone]
            frags: list[Fragment] = []
            for instance in sorted(nodes.keys() - store.unexported):
                frags.extend(self._node(nodes[instance], fresh[instance]))
            frags.extend(fragments(group_families(store.groups, nodes.values())))
            frags.extend(self._global())
            self._key, self._frags, self._bodies = key, frags, {}
        body = self._bodies.get((openmetrics, compress))
        if body is None:
            if compress:
                body = gzip.compress(self.render(openmetrics, False), compresslevel=5)
            else:
                body = join(self._frags, openmetrics)
                self.renders += 1
            self._bodies[(openmetrics, compress)] = body
        return body


class _NoRegistry:
    """GCCollector insists on registering itself somewhere; we collect it by hand."""

    def register(self, collector: object) -> None:
        return None
