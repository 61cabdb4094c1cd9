"""redis_ha_exporter.failovers: failovers counted once per config epoch."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from redis_ha_exporter.failovers import track_failovers
from redis_ha_exporter.snapshot import Failover, GroupState, NodeSnapshot
from redis_ha_exporter.sources.sentinel import SentinelGroupView
from tests.unit.sentinels import sentinel, view

SEED = "10.0.0.9:26379"
PEERS = ("10.0.0.10:26379", "10.0.0.11:26379")


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
    with caplog.at_level(logging.INFO, logger="redis_ha_exporter.failovers"):
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
