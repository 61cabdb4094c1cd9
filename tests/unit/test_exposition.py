"""redis_ha_exporter.exposition: text and OpenMetrics rendering, parsed back with
prometheus_client."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterable
from dataclasses import replace
from itertools import product

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample

from redis_ha_exporter import exposition
from redis_ha_exporter.exposition import NodeBodies, Renderer, join_packed
from redis_ha_exporter.metrics.model import EMPTY, FamilyBuilder, Layout, MetricDef, Plans, merge
from redis_ha_exporter.metrics.node import node_families
from redis_ha_exporter.sources import ALL
from redis_ha_exporter.store import Store
from tests.unit.captured import FLAVORS, render, snapshot, types

CASES = [(flavor, role) for flavor in FLAVORS for role in ("master", "replica", "sentinel")]


def body(renderer: Renderer, compress: bool = False) -> bytes:
    return asyncio.run(renderer.arender(compress=compress))


def text_of(b: FamilyBuilder, openmetrics: bool = False) -> str:
    return join_packed([b.packed()], openmetrics).decode()


def samples_by_name(families: Iterable[Metric]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for family in families:
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


@pytest.mark.parametrize(("flavor", "role"), CASES)
def test_text_format_of_every_captured_node_parses(flavor: str, role: str) -> None:
    text = render(snapshot(flavor, role))
    families = list(parse_text(text))
    declared = types(text)
    assert len(families) == len(declared)
    sample_lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert sum(len(f.samples) for f in families) == len(sample_lines)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_openmetrics_keeps_redis_exporters_percent_quantiles(flavor: str) -> None:
    # Deliberate: strict OpenMetrics wants quantiles in [0, 1], but changing "99" to "0.99"
    # would give Prometheus (which asks for OpenMetrics first, and accepts these) different
    # series than redis_exporter's; tests/e2e proves Prometheus stores them unchanged.
    snap = snapshot(flavor, "master")
    text, om = render(snap), render(snap, openmetrics=True)
    lines = [ln for ln in text.splitlines() if ln.startswith("redis_latency_percentiles_usec{")]
    assert lines and any('quantile="99"' in line for line in lines)
    assert all(line in om.splitlines() for line in lines)


@pytest.mark.parametrize(("flavor", "role"), CASES)
def test_openmetrics_parses_apart_from_the_latency_summary(flavor: str, role: str) -> None:
    b = node_families(snapshot(flavor, role), ALL, include_data=True)
    b.families.pop("redis_latency_percentiles_usec", None)
    text = text_of(b, openmetrics=True)
    parsed = {f.name: f for f in parse_openmetrics(text)}
    assert parsed["redis_up"].type == "gauge"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_openmetrics_counters_drop_total_from_the_family_name_only(flavor: str) -> None:
    text = render(snapshot(flavor, "master"), openmetrics=True)
    assert "# TYPE redis_commands counter\n" in text
    assert "# TYPE redis_commands_total" not in text
    assert "\nredis_commands_total{" in text
    # Counters whose compatible names lack `_total` cannot be OpenMetrics counters.
    assert "# TYPE redis_total_error_replies unknown\n" in text
    assert "\nredis_total_error_replies{" in text


@pytest.mark.parametrize("flavor", FLAVORS)
def test_openmetrics_and_text_carry_the_same_samples(flavor: str) -> None:
    snap = snapshot(flavor, "sentinel")
    text = render(snap)
    om = render(snap, openmetrics=True)
    strip = [line for line in text.splitlines() if not line.startswith("#")]
    assert strip == [line for line in om.splitlines() if not line.startswith("#")]


NASTY = 'say "hi"\\ C:\\dir\\\nsecond line \\n not a newline'


def test_label_values_with_quotes_newlines_and_backslashes_round_trip() -> None:
    snap = snapshot(
        "redis70", "sentinel", instance='/tmp/we"ird\\dir\n.sock', error=NASTY, up=False
    )
    for openmetrics, parse in ((False, parse_text), (True, parse_openmetrics)):
        body = render(snap, openmetrics=openmetrics)
        samples = samples_by_name(parse(body))
        (error,) = samples["redis_exporter_last_scrape_error"]
        assert error.labels == {"instance": snap.instance, "err": NASTY}
        assert error.value == 1.0


def test_help_text_with_backslash_and_newline_is_escaped() -> None:
    defn = MetricDef("redis_odd", "gauge", "first\\second\nthird")
    b = FamilyBuilder("i")
    b.add(defn, 1)
    text = text_of(b)
    assert "# HELP redis_odd first\\\\second\\nthird\n" in text
    (family,) = parse_text(text)
    assert family.documentation == "first\\second\nthird"


def test_families_from_several_nodes_share_one_header() -> None:
    parts = [
        node_families(snapshot(flavor, "master"), ALL, include_data=False).packed()
        for flavor in FLAVORS
    ]
    text = join_packed(parts, openmetrics=False).decode()
    assert text.count("# TYPE redis_up gauge\n") == 1
    (up,) = [f for f in parse_text(text) if f.name == "redis_up"]
    assert len(up.samples) == len(FLAVORS)


def test_families_are_sorted_by_name() -> None:
    text = render(snapshot("redis70", "master"))
    names = list(types(text))
    assert names == sorted(names)


def test_values_are_integers_when_whole_and_round_trip_otherwise() -> None:
    b = FamilyBuilder(None)
    values = (1.0, 2.5e-7, float("inf"), float("-inf"), 123456789.0, 7, 1e20, -0.5, 0.1 + 0.2)
    for v in values:
        b.add(MetricDef("redis_x", "gauge", "x"), v, v=repr(v))
    text = text_of(b)
    assert 'redis_x{v="1.0"} 1\n' in text
    assert 'redis_x{v="7"} 7\n' in text
    assert 'redis_x{v="123456789.0"} 123456789\n' in text
    assert 'redis_x{v="inf"} +Inf\n' in text
    assert 'redis_x{v="-inf"} -Inf\n' in text
    (family,) = parse_text(text)
    assert [s.value for s in family.samples] == [float(v) for v in values]


def test_nan_is_spelled_as_prometheus_spells_it() -> None:
    b = FamilyBuilder(None)
    b.add(MetricDef("redis_x", "gauge", "x"), float("nan"))
    assert text_of(b).endswith("redis_x NaN\n")


def test_a_value_given_as_text_is_written_as_it_is() -> None:
    b = FamilyBuilder(None)
    b.add(MetricDef("redis_x", "gauge", "x"), "826e-6", cmd="a")
    b.add(MetricDef("redis_x", "gauge", "x"), "0.00", cmd="b")
    text = text_of(b)
    assert 'redis_x{cmd="a"} 826e-6\nredis_x{cmd="b"} 0.00\n' in text
    assert [s.value for f in parse_text(text) for s in f.samples] == [826e-6, 0.0]


def test_an_empty_builder_packs_to_an_empty_body() -> None:
    assert FamilyBuilder("i").packed() == EMPTY
    assert join_packed([], openmetrics=False) == b""
    assert join_packed([EMPTY], openmetrics=True) == b"# EOF\n"


def test_summary_suffixes_follow_the_family_name() -> None:
    b = FamilyBuilder("i")
    b.add(MetricDef("redis_s", "summary", "s"), 3, "_sum")
    b.add(MetricDef("redis_s", "summary", "s"), 2, "_count")
    text = text_of(b)
    assert 'redis_s_sum{instance="i"} 3\nredis_s_count{instance="i"} 2\n' in text


def test_renderer_reuses_the_body_until_the_store_changes() -> None:
    store = Store(interval=10.0)
    store.put(snapshot("redis70", "master", polled_at=0.0, last_success_at=1e12))
    renderer = Renderer(store, ALL)
    first = body(renderer)
    assert body(renderer) is first
    assert renderer.renders == 1
    store.put(snapshot("redis70", "replica", last_success_at=1e12))
    second = body(renderer)
    assert renderer.renders == 2
    assert second != first
    families = {f.name for f in parse_text(second.decode())}
    assert {"redis_up", "redis_exporter_build_info", "process_cpu_seconds"} <= families


def test_renderer_gzip_body_decompresses_to_the_plain_body() -> None:
    store = Store(interval=10.0)
    store.put(snapshot("valkey81", "sentinel", last_success_at=1e12))
    renderer = Renderer(store, ALL)
    assert gzip.decompress(body(renderer, compress=True)) == body(renderer)


@pytest.mark.parametrize("openmetrics", [False, True])
def test_a_fleet_gzip_body_is_compressed_in_pieces_never_the_plain_body_whole(
    openmetrics: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(interval=10.0)
    base = snapshot("redis70", "master", last_success_at=1e12)
    for i in range(20):
        store.put(replace(base, instance=f"10.0.0.{i}:6379"))
    written: list[int] = []
    monkeypatch.setattr(exposition, "GZIP_CHUNK", 4096)
    write = exposition.GzipStream.write

    def recorded(self: exposition.GzipStream, data: bytes | bytearray) -> None:
        written.append(len(data))
        write(self, data)

    monkeypatch.setattr(exposition.GzipStream, "write", recorded)
    renderer = Renderer(store, ALL)
    compressed = asyncio.run(renderer.arender(openmetrics, compress=True))
    plain = asyncio.run(renderer.arender(openmetrics))
    assert gzip.decompress(compressed) == plain
    assert len(written) > 10 and max(written) < 4096 + 8000  # a chunk and a node's lines


def test_gzip_stream_makes_the_bytes_gzip_body_makes() -> None:
    data = b"redis_up 1\n" * 5000
    stream = exposition.GzipStream()
    for k in range(0, len(data), 777):
        stream.write(data[k : k + 777])
    assert stream.close() == exposition.gzip_body(data)
    assert gzip.decompress(exposition.gzip_body(data)) == data


def test_renderer_drops_data_of_stale_nodes() -> None:
    store = Store(interval=10.0)
    store.put(snapshot("redis70", "master", last_success_at=1.0))
    text = body(Renderer(store, ALL)).decode()
    assert "redis_up{" in text
    assert "redis_memory_used_bytes" not in text


@pytest.mark.parametrize("openmetrics", [False, True])
def test_merged_bodies_join_to_the_same_body_as_their_parts(openmetrics: bool) -> None:
    layouts: dict[Layout, Layout] = {}
    nodes = NodeBodies(ALL)
    per_node = [nodes.packed(snapshot(flavor, role), True, None)[0] for flavor, role in CASES]
    plans: Plans = {}
    for first, second in product(per_node, repeat=2):
        merged = merge(first, second, plans, layouts)
        assert join_packed([merged], openmetrics) == join_packed([first, second], openmetrics)
        assert merge(first, second, plans, layouts).layout is merged.layout
    assert len(plans) == len(per_node) ** 2


def test_redis_only_metrics_leaves_out_the_build_info_and_the_runtime_series() -> None:
    store = Store(interval=10.0)
    store.put(snapshot("redis70", "master", last_success_at=1e12))
    renderer = Renderer(store, ALL)
    renderer.redis_only = True
    families = {f.name for f in parse_text(body(renderer).decode())}
    assert {"redis_up", "redis_memory_used_bytes", "redis_exporter_discovery_capped_nodes"} <= (
        families
    )
    assert not {f for f in families if f.startswith(("process_", "python_"))}
    assert "redis_exporter_build_info" not in families
