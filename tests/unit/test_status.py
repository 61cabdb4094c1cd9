"""redis_ha_exporter.status: the document of /api/topology, from captured and built snapshots."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

import redis_ha_exporter.status
from redis_ha_exporter.snapshot import Failover, GroupState, NodeSnapshot
from redis_ha_exporter.sources.info import InfoRecord
from redis_ha_exporter.status import Status, status
from redis_ha_exporter.store import Store
from tests.conftest import ROOT
from tests.unit import captured
from tests.unit.sentinels import data_node, sentinel, view

GROUP = "mymaster"


def _store(*snaps: NodeSnapshot, **groups: GroupState) -> Store:
    store = Store(1.0)
    for snap in snaps:
        store.put(snap)
    store.set_groups(groups or {GROUP: GroupState(GROUP, master_address="10.0.0.1:6379")})
    return store


def _with_replication(snap: NodeSnapshot, **fields: str) -> NodeSnapshot:
    info = snap.get(InfoRecord)
    assert info is not None
    sections = info.parsed()
    sections.setdefault("replication", {}).update(fields)
    return replace(snap, records={**snap.records, InfoRecord: InfoRecord.of(sections)})


@pytest.mark.parametrize("flavor", captured.FLAVORS)
def test_captured_nodes_give_master_replica_lag_and_node_figures(flavor: str) -> None:
    snaps = {role: captured.snapshot(flavor, role) for role in captured.ROLES}
    doc = status(_store(*snaps.values()), captured.NOW + 2.5)
    (group,) = doc["groups"]
    master, replica, sentinel_ = (snaps[r].instance for r in captured.ROLES)
    assert group["master"] == master
    raw = captured.raw_fields(captured.info_text(flavor, "master"))
    slave0 = dict(kv.split("=") for kv in raw["slave0"].split(","))
    assert group["replicas"] == [
        {
            "instance": replica,
            "up": True,
            "replicates": master,
            "link": "up",
            "sync_state": "online",
            "lag_bytes": int(raw["master_repl_offset"]) - int(slave0["offset"]),
            "lag_seconds": int(slave0["lag"]),
        }
    ]
    assert group["sentinels"] == [{"instance": sentinel_, "up": True, "names_master": master}]
    assert group["agreement"] is True
    nodes = {n["instance"]: n for n in doc["nodes"]}
    assert list(nodes) == sorted(nodes)
    m = nodes[master]
    assert (m["kind"], m["role"], m["groups"], m["up"], m["error"]) == (
        "data",
        "master",
        [GROUP],
        True,
        "",
    )
    assert m["last_poll_age_seconds"] == 2.5
    assert m["memory_used_bytes"] == int(raw["used_memory"])
    assert m["maxmemory_bytes"] == int(raw["maxmemory"])
    assert m["system_memory_bytes"] == int(raw["total_system_memory"])
    assert m["ops_per_sec"] == int(raw["instantaneous_ops_per_sec"])
    assert m["connected_clients"] == int(raw["connected_clients"])
    assert nodes[sentinel_]["kind"] == "sentinel" and nodes[sentinel_]["role"] == ""


def test_lag_is_the_master_offset_minus_the_replica_offset() -> None:
    master = _with_replication(
        data_node("10.0.0.1:6379", "master", GROUP),
        master_repl_offset="5000",
        slave0="ip=10.0.0.2,port=6379,state=online,offset=4000,lag=1",
        slave1="ip=::1,port=6380,state=wait_bgsave,offset=0,lag=7",
        slave2="ip=10.0.0.9,port=6379,state=online,offset=6000,lag=0",
    )
    replicas = [
        _with_replication(
            data_node(address, "slave", GROUP),
            master_host="10.0.0.1",
            master_port="6379",
            master_link_status=link,
        )
        for address, link in [("10.0.0.2:6379", "up"), ("[::1]:6380", "down")]
    ]
    ahead = data_node("10.0.0.9:6379", "slave", GROUP)  # offset ahead after a restart: not < 0
    unknown = data_node("10.0.0.8:6379", "slave", GROUP)  # not in the master's INFO
    (group,) = status(_store(master, *replicas, ahead, unknown), 10.0)["groups"]
    rows = {r["instance"]: r for r in group["replicas"]}
    assert (rows["10.0.0.2:6379"]["lag_bytes"], rows["10.0.0.2:6379"]["lag_seconds"]) == (1000, 1)
    assert rows["10.0.0.2:6379"]["replicates"] == "10.0.0.1:6379"
    assert rows["[::1]:6380"] == {
        "instance": "[::1]:6380",
        "up": True,
        "replicates": "10.0.0.1:6379",
        "link": "down",
        "sync_state": "wait_bgsave",
        "lag_bytes": 5000,
        "lag_seconds": 7,
    }
    assert rows["10.0.0.9:6379"]["lag_bytes"] == 0
    assert rows["10.0.0.8:6379"]["sync_state"] == ""
    assert rows["10.0.0.8:6379"]["lag_bytes"] is None
    assert rows["10.0.0.8:6379"]["lag_seconds"] is None


def test_split_brain_lists_every_answering_master() -> None:
    doc = status(
        _store(
            data_node("10.0.0.2:6379", "master", GROUP),
            data_node("10.0.0.1:6379", "master", GROUP),
            data_node("10.0.0.3:6379", "slave", GROUP),
        ),
        1.0,
    )
    (group,) = doc["groups"]
    assert group["master"] == ["10.0.0.1:6379", "10.0.0.2:6379"]
    assert [r["instance"] for r in group["replicas"]] == ["10.0.0.3:6379"]


def test_down_master_leaves_no_master_and_is_listed_down() -> None:
    old = replace(data_node("10.0.0.1:6379", "master", GROUP), up=False, error="Timeout")
    (group,) = status(_store(old, data_node("10.0.0.2:6379", "slave", GROUP)), 1.0)["groups"]
    assert group["master"] is None
    down = group["replicas"][0]
    assert (down["instance"], down["up"], down["link"]) == ("10.0.0.1:6379", False, "")


def test_sentinels_name_their_master_and_disagreement_shows() -> None:
    one = view(master="10.0.0.1:6379")
    other = view(master="10.0.0.2:6379")
    store = _store(
        sentinel("10.0.0.10:26379", one),
        sentinel("10.0.0.11:26379", other),
        sentinel("10.0.0.12:26379", one, up=False),
    )
    (group,) = status(store, 1.0)["groups"]
    assert group["sentinel_master"] == "10.0.0.1:6379"
    assert group["agreement"] is False
    assert group["sentinels"] == [
        {"instance": "10.0.0.10:26379", "up": True, "names_master": "10.0.0.1:6379"},
        {"instance": "10.0.0.11:26379", "up": True, "names_master": "10.0.0.2:6379"},
        {"instance": "10.0.0.12:26379", "up": False, "names_master": None},
    ]


def test_history_keeps_every_failover_oldest_first() -> None:
    state = GroupState(
        GROUP,
        failovers=2,
        config_epoch=2,
        last_failover_at=200.0,
        master_address="10.0.0.1:6379",
        history=(
            Failover(100.0, "10.0.0.1:6379", "10.0.0.2:6379", 1),
            Failover(200.0, "10.0.0.2:6379", "10.0.0.1:6379", 2),
        ),
    )
    (group,) = status(_store(**{GROUP: state}), 300.0)["groups"]
    assert (group["failovers"], group["last_failover_at"]) == (2, 200.0)
    assert group["history"] == [
        {"at": 100.0, "from": "10.0.0.1:6379", "to": "10.0.0.2:6379", "epoch": 1},
        {"at": 200.0, "from": "10.0.0.2:6379", "to": "10.0.0.1:6379", "epoch": 2},
    ]


def test_node_never_polled_has_no_age_and_no_figures() -> None:
    doc = status(_store(NodeSnapshot("10.0.0.5:6379", "unknown")), 50.0)
    (node,) = doc["nodes"]
    assert node["polled"] is False and node["up"] is False
    assert node["last_poll_age_seconds"] is None
    assert node["memory_used_bytes"] is None and node["ops_per_sec"] is None


def _keys(doc: Status) -> set[str]:
    keys = set(doc) | {k for g in doc["groups"] for k in g} | {k for n in doc["nodes"] for k in n}
    for g in doc["groups"]:
        for part in ("history", "replicas", "sentinels"):
            keys |= {k for item in g[part] for k in item}
    return keys


def test_every_field_is_documented_in_the_readme_and_the_docstring() -> None:
    snaps = [captured.snapshot("redis70", role) for role in captured.ROLES]
    state = GroupState(GROUP, history=(Failover(1.0, "a:1", "b:1", 1),))
    doc = status(_store(*snaps, **{GROUP: state}), captured.NOW)
    readme = (ROOT / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith("| `/api/topology` |")]
    documented = set(re.findall(r"\w+", row))
    docstring = redis_ha_exporter.status.__doc__ or ""
    for key in _keys(doc):
        assert key in documented, key
        assert f'"{key}"' in docstring, key


def test_document_is_plain_json() -> None:
    snaps = [captured.snapshot("valkey81", role) for role in captured.ROLES]
    doc = status(_store(*snaps), captured.NOW)
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
