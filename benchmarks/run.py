"""Runs every benchmark and writes BENCHMARKS.md (machine, date, table of ratios).

    python -m benchmarks.run            # full (minutes)
    python -m benchmarks.run --quick    # smaller sizes, under 2 minutes
    python -m benchmarks.run --only evaluation data
    python -m benchmarks.run --only scale  # the datasets' size (~20 min, 11 GiB cache)

Benchmarks print ratios measured in one process, on one machine, in one run;
no test asserts a timing.  ``scale`` runs only when named: it keeps its own
section of the report, so each part can be rerun without the other.
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
#: Run only with ``--only``; each writes its own section of the report.
SECTIONS = ("scale",)
_MARK = "<!-- section: {} -->"
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


def _part(title: str, cmd: str, rows, tf_version: str, loads, note: str | None) -> str:
    return "\n".join([
        title, "",
        f"- machine: {machine()}",
        f"- date: {datetime.date.today().isoformat()}",
        f"- TensorFlow {tf_version}",
        f"- command: `{cmd}`",
        f"- load average (1 min) before / after: {loads[0]:.2f} / {loads[1]:.2f}",
        *([f"- note: {note}"] if note else []), "",
        "| benchmark | quantity | value | target |",
        "|---|---|---|---|",
        *[r.format() for r in rows], ""])


def _split(text: str) -> dict[str, str]:
    """A report's parts: ``"main"`` and one per section, by its marker line."""
    parts, key = {"main": []}, "main"
    for line in text.splitlines():
        for name in SECTIONS:
            if line == _MARK.format(name):
                key = name
                parts[key] = []
        parts[key].append(line)
    return {k: "\n".join(v).strip("\n") + "\n" for k, v in parts.items()}


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS + SECTIONS)
    parser.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--note", help="a line for the report (e.g. what else ran)")
    args = parser.parse_args(argv)
    rows: dict[str, list] = {}
    loads = {}
    for name in args.only or BENCHMARKS:
        start, load = time.perf_counter(), os.getloadavg()[0]
        module = importlib.import_module(f"benchmarks.bench_{name}")
        got = module.run(quick=args.quick)
        for r in got:
            print(r.format(), flush=True)
        print(f"[{name}: {time.perf_counter() - start:.1f} s]", file=sys.stderr, flush=True)
        part = name if name in SECTIONS else "main"
        rows.setdefault(part, []).extend(got)
        loads.setdefault(part, [load, 0.0])[1] = os.getloadavg()[0]
    try:
        import tensorflow as tf
        tf_version = tf.__version__
    except ImportError:
        tf_version = "n/a"
    quick = " --quick" if args.quick else ""
    out = Path(args.out)
    parts = _split(out.read_text()) if out.exists() else {}
    for part, got in rows.items():
        if part == "main":
            only = [n for n in args.only or BENCHMARKS if n not in SECTIONS]
            cmd = "python -m benchmarks.run" + quick + (
                f" --only {' '.join(only)}" if args.only else "")
            parts["main"] = _part("# Benchmarks", cmd, got, tf_version, loads[part], args.note)
        else:
            cmd = f"python -m benchmarks.run{quick} --only {part}"
            title = _MARK.format(part) + "\n## " + part
            parts[part] = _part(title, cmd, got, tf_version, loads[part], args.note)
    text = "\n".join(parts[k] for k in ("main", *SECTIONS) if k in parts)
    from wtal_tf import io_utils
    io_utils.write_text(out, text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
