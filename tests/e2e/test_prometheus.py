"""A real Prometheus scraping the exporter stores exactly the series the text format shows.

Prometheus asks for OpenMetrics first, so this proves the OpenMetrics body carries the same
names and labels as the redis_exporter-compatible text body, and that `honor_labels` keeps
each node's `instance`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FLAVORS, wait_until
from tests.e2e.prometheus import PROMETHEUS, Prometheus
from tests.promtext import parse_series
from tests.topology import ServerProcess, start_standalone

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ServerProcess]:
    if not FLAVORS:
        pytest.skip("no server binaries")
    server = start_standalone(FLAVORS[0], tmp_path / "node")
    yield server
    server.stop()


def test_prometheus_stores_the_same_series_as_the_text_format(
    node: ServerProcess, run_exporter: Any, tmp_path: Path
) -> None:
    exporter = run_exporter(
        "--redis-addr", node.address, "--poll-interval", "30", "--poll-timeout", "2"
    )
    exporter.wait_up(node.address, 20)
    prom = Prometheus(f"127.0.0.1:{exporter.port}", tmp_path)
    try:

        def scraped() -> Any:
            try:
                targets = prom.api("targets")["activeTargets"]
            except OSError:
                return None
            return targets and targets[0]["health"] == "up" and targets

        wait_until(scraped, 60, interval=0.5, what="Prometheus scraping the exporter")
        # Long poll interval: the node's series cannot change between these two reads.
        text = exporter.metrics()
        # An empty label value is no label at all to Prometheus (err="" on a good poll).
        ours = {
            (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if v)))
            for s in parse_series(text)
            if s.labels.get("instance") == node.address
        }
        seen: list[set[tuple[str, tuple[tuple[str, str], ...]]]] = []

        def stored_now() -> set[tuple[str, tuple[tuple[str, str], ...]]] | None:
            result = prom.api("query", query=f'{{instance="{node.address}"}}')["result"]
            series = {
                (
                    r["metric"]["__name__"],
                    tuple(
                        sorted(
                            (k, v) for k, v in r["metric"].items() if k not in ("__name__", "job")
                        )
                    ),
                )
                for r in result
            }
            seen.append(series)
            return series if series == ours else None

        try:
            wait_until(stored_now, 15, interval=0.5, what="the same series as /metrics")
        except AssertionError:
            last = seen[-1] if seen else set()
            raise AssertionError(
                f"only in /metrics: {sorted(ours - last)[:10]}\n"
                f"only in Prometheus: {sorted(last - ours)[:10]}"
            ) from None
        build = prom.api("query", query="redis_exporter_build_info")["result"]
        assert build[0]["metric"]["instance"] == f"127.0.0.1:{exporter.port}"
    finally:
        prom.stop()
