"""Runs every benchmark and writes BENCHMARKS.md (machine, date, table of ratios).

    python -m benchmarks.run            # full (minutes)
    python -m benchmarks.run --quick    # smaller sizes, under 2 minutes
    python -m benchmarks.run --only evaluation data

Benchmarks print ratios measured in one process, on one machine, in one run;
no test asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import time
from pathlib import Path

BENCHMARKS = ("evaluation", "data", "cas", "autoloc", "export", "memory")
REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS)
    parser.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    rows = []
    for name in args.only or BENCHMARKS:
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        got = module.run(quick=args.quick)
        for r in got:
            print(r.format(), flush=True)
        print(f"[{name}: {time.perf_counter() - start:.1f} s]", file=sys.stderr, flush=True)
        rows.extend(got)
    try:
        import tensorflow as tf
        tf_version = tf.__version__
    except ImportError:
        tf_version = "n/a"
    cmd = "python -m benchmarks.run" + (" --quick" if args.quick else "") + (
        f" --only {' '.join(args.only)}" if args.only else "")
    text = "\n".join([
        "# Benchmarks", "",
        f"- machine: {machine()}",
        f"- date: {datetime.date.today().isoformat()}",
        f"- TensorFlow {tf_version}",
        f"- command: `{cmd}`", "",
        "| benchmark | quantity | value | target |",
        "|---|---|---|---|",
        *[r.format() for r in rows], ""])
    from wtal_tf import io_utils
    io_utils.write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
