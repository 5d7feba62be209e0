"""Atomic file writes: an interrupted command leaves the old file or the new one.

Every artifact (JSON, ``.npy``, PNG, checkpoint, export, converted dataset)
is written to a temporary sibling and moved into place with ``os.replace``,
which is atomic on POSIX within one filesystem.  ``mkstemp``/``mkdtemp`` create
their files 0600 / 0700; before the rename they get the modes a plain
``open``/``mkdir`` would have given (0666 / 0777 less the umask), so that other
users and a TF Serving container can read what we write.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it elsewhere
    os.umask(mask)
    return mask


def _default_mode(path: Path, *, directory: bool):
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


@contextlib.contextmanager
def atomic_path(path, *, suffix: str = ""):
    """Yields a temporary file path beside ``path``; renames it on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _default_mode(Path(tmp), directory=False)  # the body may have recreated it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path, obj, *, indent=None) -> Path:
    """Writes ``obj`` as JSON atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent)
            f.write("\n")
    return Path(path)


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def save_npy(path, array) -> Path:
    """Saves one array as ``.npy`` atomically."""
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array))
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary directory that replaces ``path`` on success.

    A previous ``path`` is kept until the new one is complete; it is then
    swapped out and removed.  On failure the temporary directory is removed and
    the previous one is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp",
                                dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _default_mode(tmp, directory=True)
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
