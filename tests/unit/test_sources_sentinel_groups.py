"""redis_ha_exporter.sources.sentinel: the exporter's own view of each Sentinel group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from redis_ha_exporter.exposition import join_packed
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.snapshot import GroupState, NodeSnapshot
from redis_ha_exporter.sources.sentinel import group_families, master_views
from tests.promtext import value
from tests.unit.sentinels import data_node, sentinel, view

GROUP = "mymaster"
HEALTHY = [
    data_node("10.0.0.1:6379", "master", GROUP),
    data_node("10.0.0.2:6379", "slave", GROUP),
    data_node("10.0.0.3:6379", "slave", GROUP),
    sentinel("10.0.0.9:26379", view()),
    sentinel("10.0.0.10:26379", view()),
    sentinel("10.0.0.11:26379", view()),
]


def render(snaps: Iterable[NodeSnapshot], groups: Mapping[str, GroupState] | None = None) -> str:
    b = FamilyBuilder(None)
    group_families(groups or {GROUP: GroupState(GROUP)}, snaps, b)
    return join_packed([b.packed()], openmetrics=False).decode()


def test_healthy_group_has_one_master_and_agreeing_sentinels() -> None:
    text = render(HEALTHY)
    assert value(text, "redis_sentinel_group_masters", master_name=GROUP) == 1.0
    assert value(text, "redis_sentinel_group_replicas_up", master_name=GROUP) == 2.0
    assert value(text, "redis_sentinel_group_sentinels_up", master_name=GROUP) == 3.0
    assert value(text, "redis_sentinel_group_master_agreement", master_name=GROUP) == 1.0
    assert value(text, "redis_sentinel_failovers_total", master_name=GROUP) == 0.0
    assert value(text, "redis_sentinel_group_last_failover_timestamp_seconds") is None


def test_split_brain_shows_two_masters() -> None:
    snaps = [*HEALTHY, data_node("10.0.0.4:6379", "master", GROUP)]
    assert value(render(snaps), "redis_sentinel_group_masters", master_name=GROUP) == 2.0


def test_sentinels_naming_different_masters_disagree() -> None:
    snaps = [*HEALTHY[:4], sentinel("10.0.0.10:26379", view(master="10.0.0.2:6379"))]
    text = render(snaps)
    assert value(text, "redis_sentinel_group_master_agreement", master_name=GROUP) == 0.0
    assert value(text, "redis_sentinel_group_sentinels_up", master_name=GROUP) == 2.0


def test_nodes_that_did_not_answer_are_not_counted() -> None:
    snaps = [
        data_node("10.0.0.1:6379", "master", GROUP, up=False),
        data_node("10.0.0.2:6379", "slave", GROUP),
        sentinel("10.0.0.9:26379", view()),
        sentinel("10.0.0.10:26379", view(master="10.0.0.5:6379"), up=False),
    ]
    text = render(snaps)
    assert value(text, "redis_sentinel_group_masters", master_name=GROUP) == 0.0
    assert value(text, "redis_sentinel_group_replicas_up", master_name=GROUP) == 1.0
    assert value(text, "redis_sentinel_group_sentinels_up", master_name=GROUP) == 1.0
    # The Sentinel that did not answer cannot disagree.
    assert value(text, "redis_sentinel_group_master_agreement", master_name=GROUP) == 1.0


def test_nodes_of_other_groups_do_not_count() -> None:
    snaps = [*HEALTHY, data_node("10.0.1.1:6379", "master", "other")]
    assert value(render(snaps), "redis_sentinel_group_masters", master_name=GROUP) == 1.0


def test_failover_count_and_time_come_from_group_state() -> None:
    state = GroupState(GROUP, failovers=3, config_epoch=7, last_failover_at=1234.5)
    text = render(HEALTHY, {GROUP: state})
    assert value(text, "redis_sentinel_failovers_total", master_name=GROUP) == 3.0
    last = value(text, "redis_sentinel_group_last_failover_timestamp_seconds", master_name=GROUP)
    assert last == 1234.5
    assert "# TYPE redis_sentinel_failovers_total counter\n" in text


def test_every_known_group_gets_its_own_series() -> None:
    groups = {name: GroupState(name) for name in ("alpha", "beta")}
    text = render([], groups)
    for name in groups:
        assert value(text, "redis_sentinel_group_masters", master_name=name) == 0.0
        assert value(text, "redis_sentinel_group_sentinels_up", master_name=name) == 0.0


def test_master_views_maps_each_answering_sentinel_to_its_master() -> None:
    snaps = [
        sentinel("10.0.0.9:26379", view(), view("other", "10.0.1.1:6379")),
        sentinel("10.0.0.10:26379", view(master="10.0.0.2:6379")),
        sentinel("10.0.0.11:26379", view(), up=False),
        data_node("10.0.0.1:6379", "master", GROUP),
    ]
    assert master_views(GROUP, snaps) == {
        "10.0.0.9:26379": "10.0.0.1:6379",
        "10.0.0.10:26379": "10.0.0.2:6379",
    }
