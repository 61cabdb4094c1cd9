"""redis_ha_exporter.process: the runtime families, checked against prometheus-client's own
process, platform and GC collectors in the same process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from redis_ha_exporter import process
from redis_ha_exporter.exposition import Renderer, join_packed
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.process import Runtime
from redis_ha_exporter.sources import ALL
from redis_ha_exporter.store import Store
from tests.conftest import ROOT

Key = tuple[str, frozenset[tuple[str, str]]]
RUNTIME_PREFIXES = ("process_", "python_")


def ours(runtime: Runtime | None = None, openmetrics: bool = False) -> str:
    b = FamilyBuilder(None)
    (runtime or Runtime()).add_families(b)
    return join_packed([b.packed()], openmetrics).decode()


def oracle() -> str:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry).decode()


def shape(families: list[Metric]) -> set[tuple[str, str, str, frozenset[tuple[str, ...]]]]:
    return {
        (f.name, f.type, f.documentation, frozenset((s.name, *sorted(s.labels)) for s in f.samples))
        for f in families
    }


def values(text: str) -> dict[Key, float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in parse_text(text) for s in f.samples
    }


def value(text: str, name: str) -> float:
    return values(text)[(name, frozenset())]


def test_runtime_families_parse_as_text_and_openmetrics() -> None:
    text = ours()
    families = list(parse_text(text))
    assert len(families) == text.count("# TYPE ")
    sample_lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert sum(len(f.samples) for f in families) == len(sample_lines)
    om = list(parse_openmetrics(ours(openmetrics=True)))
    assert shape(om) == shape(families)


def test_names_types_help_and_labels_match_prometheus_clients_collectors() -> None:
    expected = shape(list(parse_text(oracle())))
    assert any(name.startswith("process_") for name, *_ in expected)
    assert shape(list(parse_text(ours()))) == expected


def test_renderer_serves_the_runtime_families_of_prometheus_clients_collectors() -> None:
    body = asyncio.run(Renderer(Store(interval=10.0), ALL).arender()).decode()
    runtime = [f for f in parse_text(body) if f.name.startswith(RUNTIME_PREFIXES)]
    assert shape(runtime) == shape(list(parse_text(oracle())))


def open_fds_agree() -> bool:
    """Ours against prometheus-client's count, in a process of its own. In the test process,
    threads earlier tests left behind change the count at any moment, and one blocked in
    accept() holds a descriptor reserved: the size of /proc/self/fd counts it and a listing does
    not (a full run saw 17 against 14). prometheus-client's count includes the descriptor of its
    own listing."""
    script = (
        "from prometheus_client import CollectorRegistry\n"
        "from prometheus_client.process_collector import ProcessCollector\n"
        "from redis_ha_exporter.metrics.model import FamilyBuilder\n"
        "from redis_ha_exporter.process import Runtime\n"
        "registry = CollectorRegistry()\n"
        "ProcessCollector(registry=registry)\n"
        "b = FamilyBuilder(None)\n"
        "Runtime().add_families(b)\n"
        "line = b.families['process_open_fds'].lines[0]\n"
        "print(line.split()[-1], registry.get_sample_value('process_open_fds'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    ours_now, theirs = float(out[0]), float(out[1])
    assert abs(ours_now - theirs) <= 1, (ours_now, theirs)
    return True


def test_values_agree_with_prometheus_clients_collectors() -> None:
    before = oracle()
    text = ours()
    after = oracle()
    for name in ("process_resident_memory_bytes", "process_virtual_memory_bytes"):
        assert value(text, name) == pytest.approx(value(before, name), rel=0.1), name
    cpu = "process_cpu_seconds_total"
    assert value(before, cpu) <= value(text, cpu) <= value(after, cpu)
    assert value(after, cpu) - value(before, cpu) < 0.5
    start = "process_start_time_seconds"
    assert abs(value(text, start) - value(before, start)) < 1
    assert open_fds_agree()
    assert value(text, "process_max_fds") == value(before, "process_max_fds")
    gc_keys = [k for k in values(before) if k[0].startswith("python_gc_")]
    assert len(gc_keys) == 9
    for key in gc_keys:
        assert values(before)[key] <= values(text)[key] <= values(after)[key], key
    info = {k: v for k, v in values(before).items() if k[0] == "python_info"}
    assert info and {k: v for k, v in values(text).items() if k[0] == "python_info"} == info


def test_cpu_seconds_grow_after_busy_work() -> None:
    runtime = Runtime()
    before = value(ours(runtime), "process_cpu_seconds_total")
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(10_000))
    assert value(ours(runtime), "process_cpu_seconds_total") - before >= 0.2


def test_open_fds_follow_descriptors_opened_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    counted: dict[bool, list[float]] = {}
    ways = {process._SIZE_COUNTS_FDS, False}  # the size only where the kernel counts with it
    for size_counts in ways:
        monkeypatch.setattr(process, "_SIZE_COUNTS_FDS", size_counts)
        before = value(ours(), "process_open_fds")
        extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(50)]
        during = value(ours(), "process_open_fds")
        for fd in extra:
            os.close(fd)
        counted[size_counts] = [before, during, value(ours(), "process_open_fds")]
    for before, during, after in counted.values():
        assert (during - before, after) == (50, before)
    # The directory's size (Linux 6.2+) and its listing give the same count. Compared in a
    # process of its own: threads of the test process open descriptors of their own at any time.
    script = (
        "from redis_ha_exporter import process as p\n"
        "counts = []\n"
        "for way in (True, False):\n"
        "    p._SIZE_COUNTS_FDS = way\n"
        "    counts.append(p.open_fds())\n"
        "print(*counts)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    if process._SIZE_COUNTS_FDS:
        assert out[0] == out[1], out
    assert int(out[1]) >= 3  # stdin, stdout and stderr at least


def test_command_names_with_parentheses_do_not_shift_the_fields(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = Path("/proc/self/stat").read_bytes()
    fields = real.rpartition(b")")[2]
    (tmp_path / "self" / "fd").mkdir(parents=True)
    for fd in range(4):  # 3 stands for the descriptor of the listing itself
        (tmp_path / "self" / "fd" / str(fd)).touch()
    (tmp_path / "self" / "stat").write_bytes(b"4242 (a) (b) c) " + fields)
    monkeypatch.setattr(process, "PROC", str(tmp_path))
    monkeypatch.setattr(process, "_SIZE_COUNTS_FDS", False)
    text = ours(Runtime(boot_time=1000.0))
    numbers = [int(f) for f in fields.split()[11:22]]
    ticks = process._TICKS
    assert value(text, "process_cpu_seconds_total") == numbers[0] / ticks + numbers[1] / ticks
    assert value(text, "process_start_time_seconds") == numbers[8] / ticks + 1000.0
    assert value(text, "process_virtual_memory_bytes") == numbers[9]
    assert value(text, "process_resident_memory_bytes") == numbers[10] * process._PAGE_SIZE
    assert value(text, "process_open_fds") == 3


def test_without_proc_only_python_families_and_no_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started = Runtime()  # read its boot time while /proc was there
    monkeypatch.setattr(process, "PROC", str(tmp_path / "missing"))
    fresh = Runtime()
    assert fresh.boot_time is None
    expected = {f.name for f in parse_text(oracle()) if f.name.startswith("python_")}
    for runtime in (started, fresh):
        names = {f.name for f in parse_text(ours(runtime))}
        assert names == expected
        assert not [name for name in names if name.startswith("process_")]
