"""Statistics of samples, and the result as a Markdown table (figure | ours | redis_exporter |
ratio) and as JSON."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linearly interpolated; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of one scenario; None with a note when a side has no such figure."""

    scenario: str
    figure: str
    ours: float | None
    theirs: float | None
    ours_note: str = "n/a"
    theirs_note: str = "n/a"

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.theirs is None or self.theirs == 0:
            return None
        return self.ours / self.theirs


def number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


def _cell(value: float | None, note: str) -> str:
    return note if value is None else number(value)


def header(machine: Mapping[str, str]) -> str:
    return (
        f"Machine: {machine['nproc']} x {machine['cpu']}, Linux {machine['kernel']}, "
        f"Python {machine['python']}, {machine['server']}, "
        f"redis_exporter {machine['redis_exporter']}; {machine['date']}"
    )


def markdown(machine: Mapping[str, str], rows: Sequence[Row], notes: Sequence[str]) -> str:
    lines = [
        header(machine),
        "",
        "| scenario | figure | ours | redis_exporter | ratio ours/theirs |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row.ratio
        lines.append(
            f"| {row.scenario} | {row.figure} | {_cell(row.ours, row.ours_note)} "
            f"| {_cell(row.theirs, row.theirs_note)} "
            f"| {'' if ratio is None else number(ratio)} |"
        )
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def rows_json(rows: Sequence[Row]) -> list[dict[str, object]]:
    return [{**asdict(row), "ratio": row.ratio} for row in rows]
