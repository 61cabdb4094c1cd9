"""redis_ha_exporter.sources.sentinel: SENTINEL MASTERS / REPLICAS / SENTINELS replies as dicts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_ha_exporter.replies import dict_list as parse_dict_list
from redis_ha_exporter.replies import flat_to_dict
from redis_ha_exporter.sources import sentinel_config
from redis_ha_exporter.sources.base import NodeView, PollOptions
from redis_ha_exporter.sources.config import ALL_CONFIG
from redis_ha_exporter.sources.sentinel import PEER_INFO, SentinelRecord, flags, is_down, parse
from tests.unit.captured import (
    FLAVORS,
    GROUP,
    exposition,
    load_json,
    sentinel_view,
    snapshot,
    wire,
    with_records,
)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_masters_reply_becomes_one_dict_per_master(flavor: str) -> None:
    raw = load_json(f"sentinel_{flavor}.json")
    (master,) = parse_dict_list(wire(raw["masters"]))
    flat = raw["masters"][0]
    assert master == dict(zip(flat[0::2], flat[1::2], strict=True))
    assert master["name"] == GROUP
    assert master["flags"] == "master"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_view_names_the_master_the_replica_and_the_peer(flavor: str) -> None:
    view = sentinel_view(flavor)
    raw = load_json(f"sentinel_{flavor}.json")
    master = dict(zip(raw["masters"][0][0::2], raw["masters"][0][1::2], strict=True))
    assert view.master_address == f"{master['ip']}:{master['port']}"
    (replica,) = view.replicas
    (peer,) = view.sentinels
    assert flags(replica) == {"slave"} and not is_down(replica)
    assert flags(peer) == {"sentinel"} and not is_down(peer)
    assert replica["master-port"] == master["port"]
    assert view.ckquorum_message.startswith("OK 2 usable Sentinels")


@pytest.mark.parametrize(
    ("flag_text", "down"),
    [
        ("slave", False),
        ("slave,s_down", True),
        ("master,o_down,s_down", True),
        ("sentinel,disconnected", True),
        ("slave,promoted", False),
        ("", False),
    ],
)
def test_is_down_for_subjective_objective_and_disconnected(flag_text: str, down: bool) -> None:
    assert is_down({"flags": flag_text}) is down


def test_flat_to_dict_drops_an_odd_trailing_item_and_decodes_bytes() -> None:
    assert flat_to_dict([b"ip", b"10.0.0.1", b"port", 6379, b"dangling"]) == {
        "ip": "10.0.0.1",
        "port": "6379",
    }


@pytest.mark.parametrize("reply", [None, b"ERR", 3, "x"])
def test_non_list_replies_parse_to_nothing(reply: Any) -> None:
    assert flat_to_dict(reply) == {}
    assert parse_dict_list(reply) == []


def test_parse_dict_list_skips_empty_and_malformed_entries() -> None:
    assert parse_dict_list([[b"name", b"a"], [], None, b"x", [b"lonely"]]) == [{"name": "a"}]


_ITEMS = st.recursive(
    st.one_of(st.none(), st.integers(), st.binary(max_size=6), st.text(max_size=6)),
    lambda inner: st.lists(inner, max_size=6),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_ITEMS)
def test_parse_dict_list_never_raises(reply: Any) -> None:
    for entry in parse_dict_list(reply):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in entry.items())


@pytest.mark.parametrize("flavor", FLAVORS)
def test_peer_info_is_one_series_per_peer_only_when_asked(flavor: str) -> None:
    snap = snapshot(flavor, "sentinel")
    record = snap.get(SentinelRecord)
    assert record is not None and not record.peer_info
    assert exposition(snap).values("redis_sentinel_peer_info") == []
    exp = exposition(with_records(snap, replace(record, peer_info=True)))
    view = sentinel_view(flavor)
    (peer,) = view.sentinels
    got = [s for s in exp.series if s.name == "redis_sentinel_peer_info"]
    assert [(s.value, s.labels) for s in got] == [
        (
            1.0,
            {
                "instance": snap.instance,
                "master_name": GROUP,
                "master_address": view.master_address,
                "name": peer["name"],
                "ip": peer["ip"],
                "port": peer["port"],
                "runid": peer["runid"],
                "flags": peer["flags"],
            },
        )
    ]


def test_the_option_reaches_the_record() -> None:
    options = PollOptions({PEER_INFO.name: True})
    node = NodeView("n", "sentinel", (7, 0, 15), options=options)
    assert parse(node, None, [[], b"id"]).peer_info


def test_sentinel_config_is_read_only_with_include_config_metrics_and_loses_its_secret() -> None:
    options = PollOptions({ALL_CONFIG.name: True})
    node = NodeView("n", "sentinel", (7, 0, 15), options=options)
    assert sentinel_config.commands(NodeView("n", "sentinel", (7, 0, 15)), None) == ()
    assert (
        sentinel_config.commands(NodeView("n", "sentinel", (6, 0, 9), options=options), None) == ()
    )
    assert sentinel_config.commands(node, None) == [("SENTINEL", "CONFIG", "GET", "*")]
    reply = [b"resolve-hostnames", b"no", b"announce-port", b"0", b"sentinel-pass", b"pw-9"]
    record = sentinel_config.parse(node, None, [reply])
    assert record.values == {"resolve-hostnames": "no", "announce-port": "0"}
    exp = exposition(with_records(snapshot("redis70", "sentinel"), record))
    assert exp.value("redis_sentinel_config_key_value", key="resolve-hostnames", value="no") == 1
    assert exp.value("redis_sentinel_config_value", key="announce-port") == 0
    assert exp.value("redis_sentinel_config_value", key="resolve-hostnames") is None
    assert "pw-9" not in exp.text and "sentinel-pass" not in exp.text
