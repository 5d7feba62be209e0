"""Checks every command makes before it does any work (and before importing TF).

The rules (issue 15): arguments are checked first, outputs are checked
writable before the work, and nothing existing is replaced without
``--overwrite``; a resumable run is refused unless ``--resume`` or
``--overwrite``.  Everything here is plain Python: no TensorFlow import.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from wtal_tf.errors import WtalError


# -- argparse types: a bad number is an argument error, not a late failure ------
def positive_int(text: str) -> int:
    value = _parse(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    value = _parse(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _parse(text, float)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    value = _parse(text, float)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def tiou(text: str) -> float:
    value = _parse(text, float)
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"a tIoU threshold must be in (0, 1], got {text}")
    return value


def _parse(text, kind):
    try:
        return kind(text)
    except ValueError:
        name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {name}, got {text!r}") from None


# -- outputs -------------------------------------------------------------------
def writable_directory(path) -> None:
    """Fails unless files can be created in ``path`` (or where it would be made).

    A real probe file rather than ``os.access``: root passes every permission
    check, but not a read-only filesystem.
    """
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WtalError("is not a directory, so nothing can be written under it; choose "
                        "another output path", path=existing)
    try:
        fd, probe = tempfile.mkstemp(prefix=".wtal-write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise WtalError(f"cannot write here ({e.strerror}); choose a writable output path",
                        path=existing) from None


def output_file(path, overwrite: bool, *, flag: str = "--out") -> Path:
    """A file the command will write: not a directory, not replaced silently."""
    path = Path(path)
    if path.is_dir():
        raise WtalError(f"is a directory; {flag} needs a file name", path=path)
    if path.exists() and not overwrite:
        raise WtalError("already exists; pass --overwrite to replace it", path=path)
    writable_directory(path.parent)
    return path


def output_root(path, overwrite: bool) -> Path:
    """A dataset root the command will write (atomically, as a sibling first)."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise WtalError("exists and is not a directory; choose another output path "
                            "for the dataset root", path=path)
        if any(path.iterdir()):
            if not (path / "annotations.json").exists():
                raise WtalError("is a non-empty directory that is not a dataset root; "
                                "choose a new or empty output path", path=path)
            if not overwrite:
                raise WtalError("a dataset root already exists here; pass --overwrite to "
                                "replace it", path=path)
    writable_directory(path.parent)
    return path


def _is_run_directory(path: Path) -> bool:
    return ((path / "run.json").exists() or (path / "checkpoint").exists()
            or any(path.glob("iter_[0-9]*")) or any(path.glob("seed_[0-9]*")))


def _describe_run(path: Path) -> str:
    for state in [path / "checkpoint" / "state.json",
                  *sorted(path.glob("iter_*/checkpoint/state.json"))]:
        if state.exists() and not (state.parent.parent / "model.weights.h5").exists():
            try:
                epoch = json.loads(state.read_text())["next_epoch"]
                return f"an unfinished run (stopped after epoch {epoch})"
            except (OSError, ValueError, KeyError, TypeError):
                return "an unfinished run"
    if (path / "model.weights.h5").exists():
        return "a finished run"
    return "a run"


def run_directory(path, *, resume: bool = False, overwrite: bool = False,
                  resumable: bool = True, flag: str = "--run-dir") -> Path:
    """A run directory a trainer will write.

    An existing run is refused unless ``--resume`` (continue it) or
    ``--overwrite`` (start over: its contents are removed by :func:`clear_run`);
    a non-empty directory that is not a run is always refused.
    """
    path = Path(path)
    if resume and overwrite:
        raise WtalError("--resume and --overwrite exclude each other (continue the run, or "
                        "start it over)")
    if path.exists() and not path.is_dir():
        raise WtalError(f"exists and is not a directory; choose another {flag}", path=path)
    if path.is_dir() and any(path.iterdir()):
        if not _is_run_directory(path):
            raise WtalError(f"is a non-empty directory that is not a run directory; choose a "
                            f"new or empty {flag}", path=path)
        if not resume and not overwrite:
            what = _describe_run(path)
            how = ("pass --resume to continue it or --overwrite to start over" if resumable
                   else "pass --overwrite to replace it")
            raise WtalError(f"already holds {what}; {how}", path=path)
    writable_directory(path)
    return path


def clear_run(path) -> None:
    """Removes a run directory's contents (``--overwrite``, after every check passed)."""
    path = Path(path)
    if path.is_dir() and _is_run_directory(path):
        shutil.rmtree(path)


def resume_matches(run_dir, *, seed: int, fingerprint: str, config_name: str) -> None:
    """``--resume`` continues the same training: same seed, data and config."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        return
    try:
        info = json.loads((run_dir / "run.json").read_text())
        data = json.loads((run_dir / "data.json").read_text())
        cfg = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise WtalError(f"unreadable run files ({e}); pass --overwrite to start over",
                        path=run_dir) from None
    if info.get("seed") is not None and int(info["seed"]) != int(seed):
        raise WtalError(f"--resume: the run was started with seed {info['seed']}, this "
                        f"command has seed {seed}; resume with --seed {info['seed']} or "
                        "pass --overwrite to start over", path=run_dir)
    if data.get("fingerprint") is not None and data["fingerprint"] != fingerprint:
        raise WtalError(f"--resume: the run was started on other data ({data.get('description')}"
                        f", fingerprint {data['fingerprint']}); resume with the same data or "
                        "pass --overwrite to start over", path=run_dir)
    if cfg.get("name") is not None and cfg["name"] != config_name:
        raise WtalError(f"--resume: the run was started with config {cfg['name']!r}, not "
                        f"{config_name!r}; resume with the same --config or pass --overwrite",
                        path=run_dir)
