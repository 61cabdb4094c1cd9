"""redis_ha_exporter.discovery: the node set derived from Sentinel replies, each shard's share of
it, and failover counting."""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterable, Mapping
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from redis_ha_exporter.address import parse_address
from redis_ha_exporter.config import Credentials, Target
from redis_ha_exporter.discovery import (
    NodeSpec,
    Shard,
    Topology,
    derive_nodes,
    shard_key,
    shard_of,
    share,
    track_failovers,
)
from redis_ha_exporter.snapshot import Failover, GroupState, NodeSnapshot
from redis_ha_exporter.sources.sentinel import SentinelGroupView
from tests.unit.sentinels import data_node, sentinel, view

DATA = Credentials("app", SecretStr("data-pw"))
SENTINEL = Credentials(None, SecretStr("sentinel-pw"))
SEED = "10.0.0.9:26379"
PEERS = ("10.0.0.10:26379", "10.0.0.11:26379")


def target(text: str, creds: Credentials = SENTINEL) -> Target:
    return Target(parse_address(text), creds)


def derive(
    sentinels: Iterable[NodeSnapshot],
    previous: Mapping[str, NodeSpec] | None = None,
    static: Iterable[Target] = (),
    seeds: Iterable[Target] = (target(SEED),),
    only: frozenset[str] = frozenset(),
) -> dict[str, NodeSpec]:
    return topology(sentinels, previous, static, seeds, only).specs


def topology(
    snapshots: Iterable[NodeSnapshot],
    previous: Mapping[str, NodeSpec] | None = None,
    static: Iterable[Target] = (),
    seeds: Iterable[Target] = (target(SEED),),
    only: frozenset[str] = frozenset(),
) -> Topology:
    return derive_nodes(
        static,
        seeds,
        list(snapshots),
        previous or {},
        only=only,
        data_credentials=DATA,
        sentinel_credentials=SENTINEL,
    )


def summary(nodes: Mapping[str, NodeSpec]) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    return {i: (spec.kind, spec.groups, spec.static) for i, spec in nodes.items()}


# -- derive_nodes ------------------------------------------------------------------------------


def test_sentinel_reply_gives_master_replicas_and_sentinels_of_the_group() -> None:
    nodes = derive([sentinel(SEED, view())])
    assert summary(nodes) == {
        SEED: ("sentinel", ("mymaster",), True),
        "10.0.0.1:6379": ("data", ("mymaster",), False),
        "10.0.0.2:6379": ("data", ("mymaster",), False),
        "10.0.0.3:6379": ("data", ("mymaster",), False),
        PEERS[0]: ("sentinel", ("mymaster",), False),
        PEERS[1]: ("sentinel", ("mymaster",), False),
    }
    assert nodes["10.0.0.2:6379"].credentials == DATA
    assert nodes[PEERS[0]].credentials == SENTINEL


def two_groups() -> NodeSnapshot:
    return sentinel(
        SEED,
        view("alpha", sentinels=PEERS),
        view("beta", "10.0.1.1:6379", (), sentinels=PEERS),
    )


def test_a_sentinel_monitoring_two_groups_belongs_to_both() -> None:
    nodes = derive([two_groups()])
    assert nodes[SEED].groups == ("alpha", "beta")
    assert nodes["10.0.1.1:6379"].groups == ("beta",)
    assert nodes["10.0.0.1:6379"].groups == ("alpha",)


def test_a_peer_that_answers_itself_belongs_to_every_group_it_monitors() -> None:
    peer = sentinel(PEERS[0], view("alpha", sentinels=[SEED]), view("beta", "10.0.1.1:6379", ()))
    assert derive([two_groups(), peer])[PEERS[0]].groups == ("alpha", "beta")


def test_a_peer_listed_under_two_groups_belongs_to_both_before_it_answers() -> None:
    assert derive([two_groups()])[PEERS[0]].groups == ("alpha", "beta")


def test_only_named_groups_are_followed() -> None:
    nodes = derive(
        [sentinel(SEED, view("alpha"), view("beta", "10.0.1.1:6379", ()))],
        only=frozenset({"alpha"}),
    )
    assert "10.0.1.1:6379" not in nodes
    assert nodes[SEED].groups == ("alpha",)


def test_static_target_also_found_via_sentinel_is_polled_once_with_static_credentials() -> None:
    own = Credentials("ops", SecretStr("static-pw"))
    nodes = derive([sentinel(SEED, view())], static=[target("redis://10.0.0.2:6379", own)])
    assert list(nodes).count("10.0.0.2:6379") == 1
    spec = nodes["10.0.0.2:6379"]
    assert spec.credentials == own
    assert spec.static
    assert spec.groups == ("mymaster",)


def test_group_keeps_its_nodes_when_no_sentinel_answers() -> None:
    before = derive([sentinel(SEED, view())])
    after = derive([sentinel(SEED, up=False)], previous=before)
    assert set(after) == set(before)
    for instance in set(before) - {SEED}:
        assert after[instance] == before[instance]


def test_a_replica_no_answering_sentinel_lists_anymore_is_dropped() -> None:
    before = derive([sentinel(SEED, view())])
    now = derive([sentinel(SEED, view(replicas=["10.0.0.2:6379"]))], previous=before)
    assert "10.0.0.3:6379" not in now
    assert "10.0.0.2:6379" in now


def test_a_node_kept_for_another_group_loses_only_the_reported_group() -> None:
    previous = {
        "10.0.0.5:6379": NodeSpec(parse_address("10.0.0.5:6379"), DATA, "data", ("alpha", "beta"))
    }
    nodes = derive([sentinel(SEED, view("alpha", replicas=()))], previous=previous)
    assert nodes["10.0.0.5:6379"].groups == ("beta",)


def test_ipv6_addresses_from_sentinel_become_bracketed_instances() -> None:
    nodes = derive([sentinel(SEED, view(master="[fd00::1]:6379", replicas=(), sentinels=()))])
    assert nodes["[fd00::1]:6379"].address.host == "fd00::1"


def test_unparseable_addresses_from_sentinel_are_skipped() -> None:
    nodes = derive([sentinel(SEED, view(master="10.0.0.1:notaport", replicas=(), sentinels=()))])
    assert set(nodes) == {SEED}


def test_a_sentinel_reached_over_a_unix_socket_can_be_a_seed() -> None:
    seed = target("unix:///run/sentinel.sock")
    nodes = derive([sentinel("/run/sentinel.sock", view())], seeds=[seed])
    assert nodes["/run/sentinel.sock"].groups == ("mymaster",)


# -- one server, one node ---------------------------------------------------------------------

RUN_MASTER = "1" * 40
MYID_SEED = "a" * 40


def test_a_static_name_and_the_sentinel_name_of_one_server_are_one_node() -> None:
    # `localhost:6379` configured, the Sentinels call it 10.0.0.1:6379: same run_id.
    static = [target("localhost:6379", DATA)]
    seed = sentinel(SEED, view(runids={"10.0.0.1:6379": RUN_MASTER}))
    polled = data_node("localhost:6379", "master", run_id=RUN_MASTER)
    found = topology([seed, polled], static=static)
    assert "10.0.0.1:6379" not in found.specs
    assert found.specs["localhost:6379"].groups == ("mymaster",)
    assert found.aliases == {"10.0.0.1:6379": "localhost:6379"}


def test_an_alias_already_polled_is_dropped_once_both_identities_are_known() -> None:
    # Sentinel listed no runid yet, so both names were polled once; then their run_ids match.
    static = [target("localhost:6379", DATA)]
    snaps = [
        sentinel(SEED, view()),
        data_node("localhost:6379", "master", run_id=RUN_MASTER),
        data_node("10.0.0.1:6379", "master", "mymaster", run_id=RUN_MASTER),
    ]
    found = topology(snaps, static=static)
    assert "10.0.0.1:6379" not in found.specs
    assert found.specs["localhost:6379"].groups == ("mymaster",)


def test_a_sentinel_listed_by_its_peers_under_another_name_is_counted_once() -> None:
    # The seed is configured as a hostname; its peers list it by IP with its myid.
    seed_target = target("sentinel-0.local:26379")
    me = sentinel("sentinel-0.local:26379", view(sentinels=PEERS), myid=MYID_SEED)
    peer = sentinel(
        PEERS[0],
        view(sentinels=("10.0.0.9:26379", PEERS[1]), runids={"10.0.0.9:26379": MYID_SEED}),
    )
    found = topology([me, peer], seeds=[seed_target])
    sentinels = sorted(i for i, spec in found.specs.items() if spec.kind == "sentinel")
    assert sentinels == sorted(["sentinel-0.local:26379", *PEERS])
    assert found.aliases == {"10.0.0.9:26379": "sentinel-0.local:26379"}


def test_announced_hostnames_win_over_other_names_when_nothing_is_configured() -> None:
    seed = sentinel(SEED, view(master="redis-0.local:6379", runids={"redis-0.local:6379": "r"}))
    stray = data_node("10.0.0.1:6379", "master", "mymaster", run_id="r")
    previous = {"10.0.0.1:6379": NodeSpec(parse_address("10.0.0.1:6379"), DATA, "data")}
    found = topology([seed, stray], previous=previous)
    assert "redis-0.local:6379" in found.specs
    assert "10.0.0.1:6379" not in found.specs


def test_two_servers_with_different_run_ids_stay_two_nodes() -> None:
    static = [target("localhost:6379", DATA)]
    seed = sentinel(SEED, view(runids={"10.0.0.1:6379": "other"}))
    polled = data_node("localhost:6379", "master", run_id=RUN_MASTER)
    found = topology([seed, polled], static=static)
    assert {"localhost:6379", "10.0.0.1:6379"} <= set(found.specs)
    assert found.aliases == {}


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


# -- track_failovers ----------------------------------------------------------------------------


def leader(epoch: int) -> SentinelGroupView:
    """The view of the Sentinel running a failover: the new epoch with the old master."""
    running = view(epoch=epoch)
    return replace(running, master={**running.master, "flags": "master,failover_in_progress"})


def three(epoch: int, master: str = "10.0.0.1:6379") -> list[NodeSnapshot]:
    return [sentinel(s, view(master=master, epoch=epoch)) for s in (SEED, *PEERS)]


def test_first_epoch_seen_is_a_baseline_not_a_failover() -> None:
    groups = track_failovers({}, three(4), now=100.0)
    assert groups["mymaster"] == GroupState("mymaster", 0, 4, None, "10.0.0.1:6379")


def test_three_sentinels_reporting_a_higher_epoch_count_one_failover() -> None:
    groups = track_failovers({}, three(4), now=100.0)
    groups = track_failovers(groups, three(5, "10.0.0.2:6379"), now=200.0)
    seen = Failover(200.0, "10.0.0.1:6379", "10.0.0.2:6379", 5)
    assert groups["mymaster"] == GroupState("mymaster", 1, 5, 200.0, "10.0.0.2:6379", (seen,))
    groups = track_failovers(groups, three(5, "10.0.0.2:6379"), now=300.0)
    assert groups["mymaster"].failovers == 1
    assert groups["mymaster"].last_failover_at == 200.0


def test_sentinels_catching_up_one_by_one_count_the_failover_once() -> None:
    groups = track_failovers({}, three(1), now=1.0)
    lagging = [
        sentinel(SEED, view(master="10.0.0.2:6379", epoch=2)),
        sentinel(PEERS[0], view(epoch=1)),
        sentinel(PEERS[1], view(epoch=1)),
    ]
    groups = track_failovers(groups, lagging, now=2.0)
    groups = track_failovers(groups, three(2, "10.0.0.2:6379"), now=3.0)
    assert (groups["mymaster"].failovers, groups["mymaster"].last_failover_at) == (1, 2.0)


def test_an_epoch_jump_counts_one_failover() -> None:
    # Failed elections burn epochs too, so a jump of several is still one observed failover.
    groups = track_failovers(track_failovers({}, three(1), now=1.0), three(4), now=2.0)
    assert groups["mymaster"].failovers == 1


def test_sentinels_that_did_not_answer_are_ignored() -> None:
    groups = track_failovers({}, three(1), now=1.0)
    down = [sentinel(SEED, up=False), sentinel(PEERS[0], up=False)]
    assert track_failovers(groups, down, now=2.0) == groups


def test_non_numeric_epoch_is_ignored() -> None:
    snaps = [sentinel(SEED, view(epoch="?"))]
    assert track_failovers({}, snaps, now=1.0) == {}


def test_master_address_follows_the_sentinels_without_counting() -> None:
    groups = track_failovers({}, three(3), now=1.0)
    groups = track_failovers(groups, three(3, "10.0.0.7:6379"), now=2.0)
    assert groups["mymaster"] == GroupState("mymaster", 0, 3, None, "10.0.0.7:6379")


def test_groups_are_tracked_independently() -> None:
    snaps = [sentinel(SEED, view("alpha", epoch=1), view("beta", epoch=7))]
    groups = track_failovers({}, snaps, now=1.0)
    snaps = [sentinel(SEED, view("alpha", epoch=2), view("beta", epoch=7))]
    groups = track_failovers(groups, snaps, now=2.0)
    assert (groups["alpha"].failovers, groups["beta"].failovers) == (1, 0)


def test_the_leader_still_naming_the_old_master_does_not_hide_the_new_one() -> None:
    # The Sentinel that ran the failover reports the new epoch with the old address, flagged
    # failover_in_progress, for about a second after the others have switched.
    groups = track_failovers({}, three(0), now=1.0)
    snaps = [
        sentinel("10.0.0.10:26379", leader(epoch=1)),
        sentinel("10.0.0.11:26379", view(master="10.0.0.2:6379", epoch=1)),
        sentinel("10.0.0.12:26379", view(master="10.0.0.2:6379", epoch=1)),
    ]
    groups = track_failovers(groups, snaps, now=2.0)
    assert groups["mymaster"].master_address == "10.0.0.2:6379"
    assert groups["mymaster"].failovers == 1


def test_no_failover_is_counted_while_only_the_leader_knows_the_new_epoch() -> None:
    # Counting waits for a settled view, so the failover is logged with the new master.
    groups = track_failovers({}, three(0), now=1.0)
    snaps = [
        sentinel("10.0.0.10:26379", leader(epoch=1)),
        sentinel("10.0.0.11:26379", view(epoch=0)),
    ]
    assert track_failovers(groups, snaps, now=2.0) == groups


def test_the_failover_log_names_the_new_master(caplog: pytest.LogCaptureFixture) -> None:
    groups = track_failovers({}, three(0), now=1.0)
    snaps = [
        sentinel("10.0.0.10:26379", leader(epoch=1)),
        sentinel("10.0.0.11:26379", view(master="10.0.0.2:6379", epoch=1)),
    ]
    with caplog.at_level(logging.INFO, logger="redis_ha_exporter.discovery"):
        track_failovers(groups, snaps, now=2.0)
    (line,) = [r.getMessage() for r in caplog.records if "failover" in r.getMessage()]
    assert "master is now 10.0.0.2:6379" in line
    assert "10.0.0.1:6379" not in line


def test_the_history_keeps_the_latest_failovers_with_old_and_new_master() -> None:
    masters = ["10.0.0.1:6379", "10.0.0.2:6379"]
    groups = track_failovers({}, three(0, masters[0]), now=0.0)
    for epoch in range(1, 30):
        groups = track_failovers(groups, three(epoch, masters[epoch % 2]), now=float(epoch))
    history = groups["mymaster"].history
    assert len(history) == 20
    assert history[-1] == Failover(29.0, masters[0], masters[1], 29)
    assert [f.epoch for f in history] == list(range(10, 30))


def _limited(
    snaps: Iterable[NodeSnapshot],
    previous: Mapping[str, NodeSpec] | None = None,
    *,
    allowed: frozenset[str] | None = None,
    max_nodes: int | None = None,
    seed: str = SEED,
) -> Topology:
    return derive_nodes(
        (),
        (target(seed),),
        list(snaps),
        previous or {},
        only=frozenset(),
        data_credentials=DATA,
        sentinel_credentials=SENTINEL,
        allow=None if allowed is None else (lambda a: a.instance in allowed),
        max_nodes=max_nodes,
    )


def test_nodes_a_sentinel_names_outside_the_allow_list_are_left_out_and_reported() -> None:
    allowed = frozenset({"10.0.0.1:6379", PEERS[0]})
    found = _limited([sentinel(SEED, view())], allowed=allowed)
    assert set(found.specs) == {SEED, "10.0.0.1:6379", PEERS[0]}
    assert found.rejected == {"mymaster": frozenset({"10.0.0.2:6379", "10.0.0.3:6379", PEERS[1]})}


def test_nodes_beyond_max_nodes_are_left_out_those_polled_before_first() -> None:
    snap = sentinel(SEED, view())
    everything = _limited([snap]).specs
    before = {i: everything[i] for i in (SEED, "10.0.0.3:6379")}
    found = _limited([snap], before, max_nodes=3)
    # The seed always; then the node polled before; then the first of the new ones by name.
    first_new = min(set(everything) - set(before))
    assert set(found.specs) == {SEED, "10.0.0.3:6379", first_new}
    assert found.capped == frozenset(everything) - set(found.specs)


def test_nodes_a_tls_sentinel_names_are_reached_over_tls() -> None:
    found = _limited([sentinel(SEED, view())], seed=f"rediss://{SEED}").specs
    assert {spec.address.scheme for spec in found.values()} == {"rediss"}
