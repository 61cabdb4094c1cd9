"""Poll-start lateness from the replay server's side: when each node's INFO arrived.

Our exporter polls each node on a fixed grid (`next = previous tick + interval`, missed ticks
skipped), so each poll is compared with that node's grid: tick k of a node is at
`anchor + k * interval`, with the anchor the earliest grid position the node's polls show
(min over polls of `t_k - k * interval`), so lateness is never negative. Tick numbers follow
the arrivals (a gap of about m intervals is m ticks). The first poll (preceded by an identifying
`INFO server`, and off-grid by design) is left out. Inter-arrival time minus the interval,
clamped at 0, is computed too.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from bench.report import percentile


def poll_starts(times: Sequence[float], interval: float) -> list[float]:
    """One time per poll: INFOs closer than half an interval to the previous are one poll."""
    starts: list[float] = []
    for t in sorted(times):
        if not starts or t - starts[-1] >= interval / 2:
            starts.append(t)
    return starts


def node_lateness(
    times: Sequence[float], interval: float, start: float, end: float
) -> tuple[list[float], list[float]]:
    """(grid lateness, inter-arrival lateness) of one node's polls that began in [start, end)."""
    starts = poll_starts(times, interval)[1:]  # the first poll is off-grid
    if not starts:
        return [], []
    ticks = [0]
    for prev, t in itertools.pairwise(starts):
        ticks.append(ticks[-1] + max(1, round((t - prev) / interval)))
    anchor = min(t - k * interval for t, k in zip(starts, ticks, strict=True))
    grid = [
        t - anchor - k * interval for t, k in zip(starts, ticks, strict=True) if start <= t < end
    ]
    gaps = [
        max(0.0, t - prev - interval) for prev, t in itertools.pairwise(starts) if start <= t < end
    ]
    return grid, gaps


def lateness(
    arrivals: Mapping[str, Sequence[float]], interval: float, start: float, end: float
) -> dict[str, Any]:
    grid: list[float] = []
    gaps: list[float] = []
    for times in arrivals.values():
        g, a = node_lateness(times, interval, start, end)
        grid += g
        gaps += a

    def ms(values: list[float], q: float) -> float | None:
        p = percentile(values, q)
        return None if p is None else p * 1000

    return {
        "polls": len(grid),
        "grid_ms_p50": ms(grid, 50),
        "grid_ms_p99": ms(grid, 99),
        "grid_ms_max": ms(grid, 100),
        "interarrival_ms_p50": ms(gaps, 50),
        "interarrival_ms_p99": ms(gaps, 99),
        "grid_ms": [round(x * 1000, 3) for x in grid],
    }


def polls_between(arrivals: Mapping[str, Sequence[float]], start: float, end: float) -> int:
    """INFO commands received in [start, end): one per poll of either exporter."""
    return sum(1 for times in arrivals.values() for t in times if start <= t < end)
