"""redis_ha_exporter.server: the watch on open descriptors."""

from __future__ import annotations

import logging

import pytest

from redis_ha_exporter.server import DescriptorWatch


def _watch(counts: list[int], limit: int = 100) -> DescriptorWatch:
    return DescriptorWatch(every=1.0, count=lambda: counts[0], limit=lambda: limit)


def test_near_the_limit_warns_once_and_well_below_it_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counts = [10]
    watch = _watch(counts)
    with caplog.at_level(logging.INFO, logger="redis_ha_exporter.server"):
        for now, count in enumerate([10, 89, 90, 100, 95, 80, 75, 74, 74, 95]):
            counts[0] = count
            watch.check(float(now))
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events == ["descriptors_low", "descriptors_ok", "descriptors_low"]
    assert "90 of 100 open file descriptors" in caplog.records[0].getMessage()


def test_the_count_is_read_at_most_once_per_period() -> None:
    reads: list[int] = []

    def count() -> int:
        reads.append(1)
        return 1

    watch = DescriptorWatch(every=1.0, count=count, limit=lambda: 100)
    for i in range(100):
        watch.check(i / 50)  # 100 batches in 2 s
    assert len(reads) == 2


def test_an_unknown_count_or_limit_is_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="redis_ha_exporter.server"):
        DescriptorWatch(count=lambda: None, limit=lambda: 10).check(0.0)
        DescriptorWatch(count=lambda: 10, limit=lambda: None).check(0.0)
    assert not caplog.records
