"""A process's CPU time and memory from /proc, and a sampler of its RSS in a thread."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid: int, name: str) -> int:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), in KiB; 0 once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """Samples VmRSS every `period` seconds until stopped: its maximum and its last value."""

    def __init__(self, pid: int, period: float = 0.5) -> None:
        self.pid = pid
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self.hwm_kib = 0  # the kernel's peak RSS (VmHWM), read at stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._sample()
            self.hwm_kib = status_kib(self.pid, "VmHWM")
            self._stop.set()
            self._thread.join(5)

    def _sample(self) -> None:
        kib = status_kib(self.pid, "VmRSS")
        if kib:
            self.samples.append((time.monotonic(), kib))

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    @property
    def max_kib(self) -> int:
        return max((kib for _, kib in self.samples), default=0)

    @property
    def end_kib(self) -> int:
        return self.samples[-1][1] if self.samples else 0
