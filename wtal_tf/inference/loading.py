"""Models from a finished run directory (predict, export, AutoLoc's CAS input)."""

from __future__ import annotations

from pathlib import Path

from wtal_tf import runs
from wtal_tf.configs import ExperimentConfig
from wtal_tf.errors import WtalError
from wtal_tf.models.autoloc import AutoLocModel, build_autoloc
from wtal_tf.models.cas_model import CasModel, build_cas_model

#: Where an AutoLoc run keeps a copy of the CAS run it localises on.
CAS_SUBDIR = "cas"


def load_cas_model(run_dir) -> tuple[CasModel, ExperimentConfig, dict]:
    """``(model, config, data_info)`` of a CAS, RefineLoc or supervised run."""
    cfg, data, _ = runs.read_run(run_dir)
    model = build_cas_model(cfg, len(data["classes"]), data["feature_dim"])
    runs.load_weights(model, Path(run_dir) / runs.WEIGHTS)
    return model, cfg, data


def load_autoloc(run_dir) -> tuple[AutoLocModel, ExperimentConfig, dict]:
    """``(model, config, data_info)`` of an AutoLoc run (its CAS model from ``RUN/cas``)."""
    cfg, data, _ = runs.read_run(run_dir)
    if cfg.method != "autoloc":
        raise WtalError(f"run directory holds a {cfg.method!r} model, not 'autoloc'",
                        path=run_dir)
    cas_model, _, _ = load_cas_model(Path(run_dir) / CAS_SUBDIR)
    model = build_autoloc(cfg, cas_model, data["feature_dim"])
    runs.load_weights(model, Path(run_dir) / runs.WEIGHTS)
    return model, cfg, data
