"""redis_ha_exporter.topology: the node set derived from Sentinel replies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from redis_ha_exporter.address import parse_address
from redis_ha_exporter.config import Credentials
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.topology import Topology, derive_nodes
from tests.unit.sentinels import (
    DATA,
    PEERS,
    SEED,
    SENTINEL,
    data_node,
    derive,
    sentinel,
    summary,
    target,
    topology,
    two_groups,
    view,
)

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


def test_data_nodes_of_a_group_get_its_tls_name_and_a_plain_sentinel_can_name_tls_nodes() -> None:
    found = derive_nodes(
        (),
        (target(SEED),),
        [sentinel(SEED, view("alpha"), view("beta", "10.0.1.1:6379", ()))],
        {},
        data_credentials=DATA,
        sentinel_credentials=SENTINEL,
        tls_data=True,
        server_names={"beta": "beta.internal"},
    ).specs
    assert found["10.0.1.1:6379"].server_name == "beta.internal"
    assert found["10.0.0.1:6379"].server_name is None
    schemes = {i: spec.address.scheme for i, spec in found.items()}
    assert schemes["10.0.1.1:6379"] == schemes["10.0.0.2:6379"] == "rediss"
    # The Sentinels stay as they are reached: plain.
    assert schemes[SEED] == schemes[PEERS[0]] == "redis"
    assert found[PEERS[0]].server_name is None
