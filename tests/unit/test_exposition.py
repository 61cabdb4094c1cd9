"""redis_ha_exporter.exposition: text and OpenMetrics rendering, parsed back with
prometheus_client."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample

from redis_ha_exporter.exposition import Renderer, fragments, join, join_packed, pack
from redis_ha_exporter.metrics.model import FamilyBuilder, MetricDef
from redis_ha_exporter.metrics.node import node_families
from redis_ha_exporter.sources import ALL
from redis_ha_exporter.store import Store
from tests.unit.captured import FLAVORS, render, snapshot, types

CASES = [(flavor, role) for flavor in FLAVORS for role in ("master", "replica", "sentinel")]


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
    families = [
        f
        for f in node_families(snapshot(flavor, role), ALL, include_data=True)
        if f.name != "redis_latency_percentiles_usec"
    ]
    text = join(fragments(families), openmetrics=True).decode()
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
    text = join(fragments(b.build()), openmetrics=False).decode()
    assert "# HELP redis_odd first\\\\second\\nthird\n" in text
    (family,) = parse_text(text)
    assert family.documentation == "first\\second\nthird"


def test_families_from_several_nodes_share_one_header() -> None:
    frags = fragments(node_families(snapshot("redis70", "master"), ALL, include_data=False))
    frags += fragments(node_families(snapshot("valkey81", "master"), ALL, include_data=False))
    text = join(frags, openmetrics=False).decode()
    assert text.count("# TYPE redis_up gauge\n") == 1
    (up,) = [f for f in parse_text(text) if f.name == "redis_up"]
    assert len(up.samples) == 2


def test_families_are_sorted_by_name() -> None:
    text = render(snapshot("redis70", "master"))
    names = list(types(text))
    assert names == sorted(names)


def test_values_are_integers_when_whole_and_round_trip_otherwise() -> None:
    b = FamilyBuilder(None)
    values = (1.0, 2.5e-7, float("inf"), float("-inf"), 123456789.0, 7, 1e20, -0.5, 0.1 + 0.2)
    for v in values:
        b.add(MetricDef("redis_x", "gauge", "x"), v, v=repr(v))
    text = join(fragments(b.build()), openmetrics=False).decode()
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
    assert join(fragments(b.build()), openmetrics=False).endswith(b"redis_x NaN\n")


def test_empty_families_are_not_rendered() -> None:
    b = FamilyBuilder("i")
    b.declare(MetricDef("redis_declared", "gauge", "x"))
    assert b.build() == []
    assert join([], openmetrics=False) == b""
    assert join([], openmetrics=True) == b"# EOF\n"


def test_summary_suffixes_follow_the_family_name() -> None:
    b = FamilyBuilder("i")
    b.add(MetricDef("redis_s", "summary", "s"), 3, "_sum")
    b.add(MetricDef("redis_s", "summary", "s"), 2, "_count")
    text = join(fragments(b.build()), openmetrics=False).decode()
    assert 'redis_s_sum{instance="i"} 3\nredis_s_count{instance="i"} 2\n' in text


def test_renderer_reuses_the_body_until_the_store_changes() -> None:
    store = Store(interval=10.0)
    store.put(snapshot("redis70", "master", polled_at=0.0, last_success_at=1e12))
    renderer = Renderer(store, ALL)
    first = renderer.render()
    assert renderer.render() is first
    assert renderer.renders == 1
    store.put(snapshot("redis70", "replica", last_success_at=1e12))
    second = renderer.render()
    assert renderer.renders == 2
    assert second != first
    families = {f.name for f in parse_text(second.decode())}
    assert {"redis_up", "redis_exporter_build_info", "process_cpu_seconds"} <= families


def test_renderer_gzip_body_decompresses_to_the_plain_body() -> None:
    store = Store(interval=10.0)
    store.put(snapshot("valkey81", "sentinel", last_success_at=1e12))
    renderer = Renderer(store, ALL)
    assert gzip.decompress(renderer.render(compress=True)) == renderer.render()


def test_renderer_drops_data_of_stale_nodes() -> None:
    store = Store(interval=10.0)
    store.put(snapshot("redis70", "master", last_success_at=1.0))
    text = Renderer(store, ALL).render().decode()
    assert "redis_up{" in text
    assert "redis_memory_used_bytes" not in text


@pytest.mark.parametrize("openmetrics", [False, True])
def test_packed_nodes_join_to_the_same_body_as_their_fragments(openmetrics: bool) -> None:
    per_node = [
        fragments(node_families(snapshot(flavor, role), ALL, include_data=True))
        for flavor, role in CASES
    ]
    layouts: dict[Any, Any] = {}
    packed = [pack(frags, layouts) for frags in per_node]
    expected = join([f for frags in per_node for f in frags], openmetrics)
    assert join_packed(packed, openmetrics) == expected
    assert len(layouts) <= len(CASES)
