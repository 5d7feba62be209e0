"""Run directories: what a training writes, and how a later command reads it back.

    RUN_DIR/
      run.json            format version, package version, method, seed, timings
      config.json         the resolved ExperimentConfig
      data.json           data source, fingerprint, classes, D, split sizes
      model.weights.h5    the selected (best holdout loss) weights
      history.json        per-epoch losses and metrics
      metrics.json        test-set evaluation (reporting only, never selection)
      checkpoint/         the state a killed training resumes from
                          (``wtal_tf.training.checkpointing``)
      tensorboard/        event files

Written by the training runner, read by inference, export and the CLI: this
module imports neither (it is below them all).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from wtal_tf import __version__, io_utils
from wtal_tf.configs import ExperimentConfig, config_from_dict
from wtal_tf.errors import WtalError

#: Bumped when a run directory's layout or a model's weights change
#: incompatibly; older run directories are refused with a clear message.
RUN_FORMAT = 1

#: The selected weights of a finished run.
WEIGHTS = "model.weights.h5"


def write_run(run_dir, cfg: ExperimentConfig, data_info: dict, **extra) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    io_utils.write_json(run_dir / "config.json", cfg.to_dict(), indent=1)
    io_utils.write_json(run_dir / "data.json", data_info, indent=1)
    info = {"format": RUN_FORMAT, "wtal_tf_version": __version__, "method": cfg.method,
            "python": platform.python_version()}
    try:
        import tensorflow as tf
        info["tensorflow"] = tf.__version__
    except ImportError:
        pass
    info.update(extra)
    io_utils.write_json(run_dir / "run.json", info, indent=1)
    return run_dir


def update_run(run_dir, **fields):
    path = Path(run_dir) / "run.json"
    info = json.loads(path.read_text())
    info.update(fields)
    io_utils.write_json(path, info, indent=1)


def read_run(run_dir) -> tuple[ExperimentConfig, dict, dict]:
    """``(config, data_info, run_info)``; refuses incompatible or partial runs."""
    run_dir = Path(run_dir)
    path = run_dir / "run.json"
    if not path.exists():
        raise WtalError("not a run directory (no run.json)", path=run_dir)
    try:
        info = json.loads(path.read_text())
        cfg = config_from_dict(json.loads((run_dir / "config.json").read_text()))
        data = json.loads((run_dir / "data.json").read_text())
    except (OSError, ValueError, TypeError) as e:
        raise WtalError(f"unreadable run directory ({e})", path=run_dir) from None
    if info.get("format") != RUN_FORMAT:
        raise WtalError(f"run directory format {info.get('format')!r} (wtal-tf "
                        f"{info.get('wtal_tf_version')}) is incompatible with this "
                        f"version's format {RUN_FORMAT} (wtal-tf {__version__}); "
                        "retrain with this version", path=run_dir)
    return cfg, data, info


def load_weights(model, path) -> None:
    """``model.load_weights`` with a one-line error for a missing, truncated or
    foreign weights file (h5py and Keras raise a dozen different types)."""
    path = Path(path)
    if not path.exists():
        raise WtalError("no trained weights (model.weights.h5): did training finish?",
                        path=path.parent)
    try:
        model.load_weights(str(path))
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise WtalError(f"unreadable or foreign weights file ({type(e).__name__}: {first}); "
                        "retrain the run (--overwrite) or restore the file", path=path) from None


def save_weights(model, path) -> Path:
    """``model.save_weights``, atomically (temporary file, then rename)."""
    with io_utils.atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))
    return Path(path)
