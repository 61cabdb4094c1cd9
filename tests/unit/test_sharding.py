"""redis_ha_exporter.sharding: each shard's share of the node set, as Prometheus's hashmod
splits it."""

from __future__ import annotations

import hashlib
import struct

from hypothesis import given
from hypothesis import strategies as st

from redis_ha_exporter.address import parse_address
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.sharding import Shard, shard_key, shard_of, share
from tests.unit.sentinels import DATA, PEERS, SEED, SENTINEL, derive, target, two_groups

# -- sharding ------------------------------------------------------------------------------------


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's hashmod, written from its Go source: md5.Sum, then
    binary.BigEndian.Uint64(sum[8:]) % modulus."""
    (last8,) = struct.unpack(">Q", hashlib.md5(value.encode(), usedforsecurity=False).digest()[8:])
    return int(last8) % modulus


def test_shard_of_gives_what_prometheus_hashmod_gives_in_its_own_tests() -> None:
    # prometheus/model/relabel/relabel_test.go, action hashmod, modulus 1000.
    assert shard_of("baz", 1000) == 976
    assert shard_of("foo\nbar", 1000) == 734


def test_shard_of_matches_hashmod_computed_independently() -> None:
    for key in ("mymaster", "cache", "10.0.0.1:6379", "[::1]:26379", "grüße"):
        for total in (2, 3, 7, 1000):
            assert shard_of(key, total) == hashmod(key, total)


@given(st.text(), st.integers(min_value=1, max_value=2**16))
def test_shard_of_is_in_range_and_stable(key: str, total: int) -> None:
    shard = shard_of(key, total)
    assert 0 <= shard < total
    assert shard == shard_of(key, total) == hashmod(key, total)
    assert shard_of(key, 1) == 0


def test_a_data_node_is_keyed_by_its_first_group_anything_else_by_its_instance() -> None:
    address = parse_address("10.0.0.1:6379")
    assert shard_key(NodeSpec(address, DATA, "data", ("beta", "alpha"))) == "alpha"
    # A --redis-addr the Sentinels also announce follows its group.
    assert shard_key(NodeSpec(address, DATA, "unknown", ("beta",), static=True)) == "beta"
    assert shard_key(NodeSpec(address, DATA, "unknown", (), static=True)) == "10.0.0.1:6379"
    assert shard_key(NodeSpec(address, SENTINEL, "sentinel", ("alpha",))) == "10.0.0.1:6379"


ALPHA_NODES = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"}
SENTINELS = {SEED, *PEERS}


def test_two_shards_split_the_groups_and_both_poll_every_sentinel() -> None:
    # The names are chosen to split: alpha and the seed hash to 1, beta and the peers to 0.
    assert [shard_of(k, 2) for k in ("alpha", SEED, "beta", *PEERS)] == [1, 1, 0, 0, 0]
    nodes = derive([two_groups()])
    zero, one = share(nodes, Shard(0, 2)), share(nodes, Shard(1, 2))
    assert set(zero.polled) == {"10.0.1.1:6379", *SENTINELS}
    assert set(one.polled) == ALPHA_NODES | SENTINELS
    assert zero.unexported == {SEED}
    assert one.unexported == set(PEERS)
    exported = [set(s.polled) - s.unexported for s in (zero, one)]
    assert exported[0].isdisjoint(exported[1])
    assert exported[0] | exported[1] == set(nodes)
    assert zero.elsewhere == {
        "alpha": "group alpha belongs to shard 1 of 2: not polling its nodes",
        SEED: f"Sentinel {SEED} belongs to shard 1 of 2: polled for discovery only",
    }
    assert set(one.elsewhere) == {"beta", *PEERS}


def test_a_static_target_outside_any_group_is_sharded_by_its_instance() -> None:
    nodes = derive([two_groups()], static=[target("10.0.0.1:7000", DATA)])
    owner = shard_of("10.0.0.1:7000", 2)
    assert "10.0.0.1:7000" in share(nodes, Shard(owner, 2)).polled
    other = share(nodes, Shard(1 - owner, 2))
    assert "10.0.0.1:7000" not in other.polled
    assert other.elsewhere["10.0.0.1:7000"] == (
        f"node 10.0.0.1:7000 belongs to shard {owner} of 2: not polling it"
    )


def test_one_shard_polls_and_exports_everything() -> None:
    nodes = derive([two_groups()])
    whole = share(nodes, Shard())
    assert whole.polled == nodes
    assert whole.unexported == frozenset()
    assert whole.elsewhere == {}


def test_a_shard_describes_what_it_polls_before_discovery() -> None:
    static = ["10.0.0.1:7001", "127.0.0.1:7000"]  # hash to 0 and 1
    assert Shard(1, 2).describe(static, ()) == (
        "shard 1 of 2: polling the Sentinel groups that hash to it, static targets: "
        "127.0.0.1:7000, and every Sentinel for discovery"
    )
    assert [shard_of(k, 2) for k in static] == [0, 1]
    assert Shard(0, 2).describe([], {"alpha", "beta"}) == (
        "shard 0 of 2: polling beta, static targets: none, and every Sentinel for discovery"
    )
    assert Shard(1, 2).describe([], {"beta"}).startswith("shard 1 of 2: polling no group,")
