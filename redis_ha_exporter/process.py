"""The exporter's own process and Python runtime metrics, named as prometheus-client's process,
platform and GC collectors name them, from one read of `/proc/self/stat` per render."""

from __future__ import annotations

import gc
import os
import platform
import resource
from dataclasses import dataclass, field

from redis_ha_exporter.metrics.model import FamilyBuilder, MetricDef

# Looked up on every read, so a test can point it somewhere without a /proc.
PROC = "/proc"

VIRTUAL_MEMORY = MetricDef("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
RESIDENT_MEMORY = MetricDef(
    "process_resident_memory_bytes", "gauge", "Resident memory size in bytes."
)
START_TIME = MetricDef(
    "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."
)
CPU_SECONDS = MetricDef(
    "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."
)
OPEN_FDS = MetricDef("process_open_fds", "gauge", "Number of open file descriptors.")
MAX_FDS = MetricDef("process_max_fds", "gauge", "Maximum number of open file descriptors.")
GC_COLLECTED = MetricDef(
    "python_gc_objects_collected_total", "counter", "Objects collected during gc"
)
GC_UNCOLLECTABLE = MetricDef(
    "python_gc_objects_uncollectable_total", "counter", "Uncollectable objects found during GC"
)
GC_COLLECTIONS = MetricDef(
    "python_gc_collections_total", "counter", "Number of times this generation was collected"
)
PYTHON_INFO = MetricDef("python_info", "gauge", "Python platform information")


def _sysconf(name: str, default: int) -> int:
    try:
        value = os.sysconf(name)
    except (ValueError, OSError):
        return default
    return value if value > 0 else default


_TICKS = _sysconf("SC_CLK_TCK", 100)
_PAGE_SIZE = _sysconf("SC_PAGE_SIZE", 4096)
# prometheus-client reports GC statistics on CPython only; PyPy's gc.get_stats means otherwise.
_GC = hasattr(gc, "get_stats") and platform.python_implementation() == "CPython"


def _linux() -> tuple[int, ...]:
    """The Linux kernel's (major, minor); () on other systems."""
    uname = os.uname()
    try:
        version = tuple(int(part) for part in uname.release.split("-")[0].split(".")[:2])
    except ValueError:
        return ()
    return version if uname.sysname == "Linux" else ()


# Since Linux 6.2 the size of /proc/self/fd is the number of open descriptors: a stat costs 3 µs
# however many there are, where listing takes 0.5 ms at 1,000 (one connection per node) and
# 4 ms at 5,000. Sandboxes such as gVisor report an older kernel and get the listing.
_SIZE_COUNTS_FDS = _linux() >= (6, 2)


def _info_line() -> str:
    major, minor, patchlevel = platform.python_version_tuple()
    b = FamilyBuilder(None)
    # In sorted order, as the renderer wrote prometheus-client's labels.
    b.add(
        PYTHON_INFO,
        1,
        implementation=platform.python_implementation(),
        major=major,
        minor=minor,
        patchlevel=patchlevel,
        version=platform.python_version(),
    )
    return b.families[PYTHON_INFO.name].lines[0]


_INFO_LINE = _info_line()


def _boot_time() -> float | None:
    """`btime` of /proc/stat, the boot's unix time; None where there is no /proc."""
    try:
        with open(f"{PROC}/stat", "rb") as stat:
            for line in stat:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _stat_fields() -> list[bytes] | None:
    try:
        fd = os.open(f"{PROC}/self/stat", os.O_RDONLY)
        try:
            # The line is well under 4 kB and comes whole from one read.
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
    except OSError:
        return None
    # Field 2, the command name, is in parentheses and may itself hold ") ": the numeric
    # fields follow the last parenthesis, so fields[0] is field 3 of proc(5).
    return data.rpartition(b")")[2].split()


def open_fds() -> int | None:
    path = f"{PROC}/self/fd"
    try:
        if _SIZE_COUNTS_FDS:
            return os.stat(path).st_size
        # Not counting the descriptor the listing itself holds open, as the size does not.
        return len(os.listdir(path)) - 1
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Runtime:
    """The process's constants, read once at start; `add_families()` reads the rest per
    render."""

    boot_time: float | None = field(default_factory=_boot_time)

    def add_families(self, b: FamilyBuilder) -> None:
        """The runtime families: process_* where there is a /proc, python_gc_* on CPython,
        python_info always. A sample:

            process_cpu_seconds_total 0.53
            python_gc_collections_total{generation="0"} 50
        """
        if self.boot_time is not None:
            self._process(b, self.boot_time)
        if _GC:
            for generation, stats in enumerate(gc.get_stats()):
                label = str(generation)
                b.add(GC_COLLECTED, stats["collected"], generation=label)
                b.add(GC_UNCOLLECTABLE, stats["uncollectable"], generation=label)
                b.add(GC_COLLECTIONS, stats["collections"], generation=label)
        b.family(PYTHON_INFO).lines.append(_INFO_LINE)

    @staticmethod
    def _process(b: FamilyBuilder, boot_time: float) -> None:
        fields = _stat_fields()
        if fields is not None:
            try:
                # proc(5) fields 14, 15 (utime, stime) and 22 (starttime) in clock ticks,
                # 23 (vsize) in bytes, 24 (rss) in pages. Children's time is not counted.
                cpu = int(fields[11]) / _TICKS + int(fields[12]) / _TICKS
                start = int(fields[19]) / _TICKS + boot_time
                vsize, rss = int(fields[20]), int(fields[21]) * _PAGE_SIZE
            except (IndexError, ValueError):
                pass
            else:
                b.add(VIRTUAL_MEMORY, vsize)
                b.add(RESIDENT_MEMORY, rss)
                b.add(START_TIME, start)
                b.add(CPU_SECONDS, cpu)
        fds = open_fds()
        if fds is not None:
            # The soft limit, the "Max open files" of /proc/self/limits, without reading it.
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            b.add(OPEN_FDS, fds)
            b.add(MAX_FDS, float("inf") if soft == resource.RLIM_INFINITY else soft)
