"""Failovers, counted once per config epoch across a group's Sentinels, and the master address
they settle on."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

from redis_ha_exporter.snapshot import Failover, GroupState, NodeSnapshot
from redis_ha_exporter.sources.sentinel import flags, groups_of

log = logging.getLogger("redis_ha_exporter.failovers")

HISTORY = 20  # failovers kept per group for the status page


def track_failovers(
    groups: Mapping[str, GroupState],
    sentinels: Iterable[NodeSnapshot],
    now: float,
) -> dict[str, GroupState]:
    """Count a failover when the highest config epoch any Sentinel reports for a group rises,
    and follow the master address the Sentinels settle on.

    Every Sentinel announces the same failover with the same new epoch, so taking the maximum
    counts it once; the first epoch seen is a baseline. The Sentinel that ran the failover
    reports the new epoch with the *old* address until it finishes (about a second later),
    so the address comes from views of that epoch not marked failover_in_progress, by
    majority; until one such view exists the new epoch is not taken, so the failover is
    counted, and logged with the new master, once the Sentinels have settled.
    """
    views: dict[str, list[tuple[int, str, bool]]] = {}
    for snap in sentinels:
        if not (snap.up and snap.kind == "sentinel"):
            continue
        for view in groups_of(snap):
            try:
                epoch = int(view.master.get("config-epoch", ""))
            except ValueError:
                continue
            busy = "failover_in_progress" in flags(view.master)
            views.setdefault(view.name, []).append((epoch, view.master_address, busy))
    out = dict(groups)
    for name, seen in views.items():
        state = out.get(name, GroupState(name))
        settled_epochs = [e for e, _, busy in seen if not busy]
        if not settled_epochs:
            continue
        epoch = max(settled_epochs)
        settled = Counter(a for e, a, busy in seen if e == epoch and not busy)
        address = settled.most_common(1)[0][0]
        if state.config_epoch is None:
            out[name] = replace(state, config_epoch=epoch, master_address=address)
        elif epoch > state.config_epoch:
            log.info(
                "failover of %s observed: master is now %s (epoch %d)",
                name,
                address,
                epoch,
                extra={"event": "failover", "master_name": name, "instance": address},
            )
            seen_now = Failover(now, state.master_address, address, epoch)
            out[name] = replace(
                state,
                failovers=state.failovers + 1,
                config_epoch=epoch,
                last_failover_at=now,
                master_address=address,
                history=(*state.history, seen_now)[-HISTORY:],
            )
        elif address != state.master_address and epoch == state.config_epoch:
            out[name] = replace(state, master_address=address)
    return out
