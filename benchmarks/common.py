"""Helpers shared by the benchmarks: timing, peak RSS, result rows."""

from __future__ import annotations

import dataclasses
import resource
import time


@dataclasses.dataclass
class Row:
    """One measured quantity; ``ratio`` rows carry the target they are held to."""

    benchmark: str
    quantity: str
    value: float
    unit: str = ""
    target: str = ""

    def format(self) -> str:
        v = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return f"| {self.benchmark} | {self.quantity} | {v} {self.unit} | {self.target} |"


def best_of(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``fn()`` (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB).

    Reads VmHWM: Linux carries ``ru_maxrss`` over ``exec`` from the parent.
    """
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
