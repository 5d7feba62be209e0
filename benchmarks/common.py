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


def proc_status_mb(fields=("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")) -> dict:
    """Fields of ``/proc/self/status`` in MiB (those the kernel reports)."""
    out = {}
    try:
        for line in open("/proc/self/status"):
            key, _, rest = line.partition(":")
            if key in fields:
                out[key] = int(rest.split()[0]) / 1024.0
    except OSError:
        pass
    return out


class RssMonitor:
    """Peaks of a process's anonymous and file-backed resident memory.

    The kernel keeps only the peak of the total (VmHWM); a thread samples
    ``RssAnon`` (heap, tensors, numpy arrays) and ``RssFile`` (mapped files:
    shared libraries, memory-mapped ``.npy`` pages) every ``interval`` seconds
    and keeps the largest of each.  Sampled peaks can miss a spike shorter than
    the interval; VmHWM cannot.

    Example::

        with RssMonitor() as mem:
            work()
        mem.peaks()  # {"VmHWM": ..., "RssAnon": ..., "RssFile": ..., ...} in MiB
    """

    def __init__(self, interval: float = 0.02):
        import threading

        self.interval = interval
        self._peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _update(self):
        for key, value in proc_status_mb().items():
            self._peak[key] = max(self._peak.get(key, 0.0), value)

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._update()

    def __enter__(self):
        self._update()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._update()

    def peaks(self) -> dict:
        self._update()
        return dict(self._peak)
