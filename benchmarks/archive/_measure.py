"""Measurement helpers: process memory from /proc, percentiles, machine description."""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    out.extend(int(c) for c in fh.read().split())
            except OSError:
                continue
    except OSError:
        pass
    return out


def rss_bytes(pid: int, *, tree: bool = True) -> int:
    """Resident set size of a process (and, with ``tree``, of its descendants) in bytes."""
    total = 0
    todo = [pid]
    seen: set[int] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
        if tree:
            todo.extend(_children(p))
    return total


@dataclass
class MemorySampler:
    """Samples a server's RSS in a background thread, with the workload's progress at each sample."""

    pid: int
    progress: Callable[[], int]
    interval: float = 0.2
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - t0, rss_bytes(self.pid), self.progress()))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((self.samples[-1][0] if self.samples else 0.0, rss_bytes(self.pid), self.progress()))

    def summary(self, total: int) -> dict[str, Any]:
        """Peak RSS, RSS when a quarter / half / all of ``total`` was done, and the growth after the first quarter."""
        if not self.samples:
            return {}
        mb = 1024 * 1024

        def at(fraction: float) -> float:
            for _, rss, done in self.samples:
                if done >= fraction * total:
                    return rss / mb
            return self.samples[-1][1] / mb

        q1, half, end = at(0.25), at(0.5), at(1.0)
        return {
            "rss_start_mb": round(self.samples[0][1] / mb, 1),
            "rss_peak_mb": round(max(s[1] for s in self.samples) / mb, 1),
            "rss_q1_mb": round(q1, 1),
            "rss_half_mb": round(half, 1),
            "rss_end_mb": round(end, 1),
            "rss_growth_after_q1_mb": round(end - q1, 1),
        }


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: list[float]) -> float:
    """Median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    """What the figures were measured on, and the load at the time."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
