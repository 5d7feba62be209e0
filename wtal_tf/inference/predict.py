"""Detections from a run directory or an export, whatever trained it (one entry point)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from wtal_tf import io_utils, runs
from wtal_tf.data.detections import Detections, write_detections
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet
from wtal_tf.errors import WtalError
from wtal_tf.inference.autoloc import autoloc_detections
from wtal_tf.inference.cas import cas_outputs, outputs_to_detections
from wtal_tf.inference.explain import empty_segment_prediction
from wtal_tf.inference.loading import load_autoloc, load_cas_model


def check_compatible(data_info: dict, source: DataSource, run_dir) -> None:
    """The data has the classes (in order) and the D the run was trained on."""
    if list(data_info["classes"]) != list(source.classes):
        raise WtalError(f"the run was trained on {len(data_info['classes'])} classes, the "
                        f"data has {len(source.classes)} (or another order)", path=run_dir)
    if int(data_info["feature_dim"]) != int(source.feature_dim):
        raise WtalError(f"the run expects D = {data_info['feature_dim']} features, the data "
                        f"has D = {source.feature_dim}", path=run_dir)


def predict_run(run_dir, source: DataSource, split: str = "test", *, out=None,
                save_cas=None, progress: bool = False, hints: list | None = None
                ) -> Detections:
    """Detections of a run on a split.

    ``hints``: a list that receives, when there are 0 detections, a sentence
    saying which threshold nothing passed (for the CLI's warning).
    """
    cfg, data, _ = runs.read_run(run_dir)
    check_compatible(data, source, run_dir)
    if split == "trainval":
        parts = [predict_run(run_dir, source, s, progress=progress)
                 for s in ("train", "holdout")]
        dets = Detections.concatenate(parts)
        if out is not None:
            write_detections(out, dets, extra={"run_dir": str(run_dir), "split": split})
        return dets
    if cfg.method in ("cas", "refineloc", "supervised"):
        model, cfg, _ = load_cas_model(run_dir)
        outputs = cas_outputs(model, source, split, progress=progress)
        dets = outputs_to_detections(outputs, source, cfg.test_segments)
        if len(dets) == 0 and hints is not None:
            hint = empty_segment_prediction(outputs, cfg.test_segments)
            if hint:
                hints.append(hint)
        if save_cas:
            _write_cas(save_cas, outputs, source.classes)
    elif cfg.method == "autoloc":
        model, _, _ = load_autoloc(run_dir)
        dets = autoloc_detections(model, source, split, progress=progress)
        if len(dets) == 0 and hints is not None:
            hints.append(f"0 detections: no segment passed AutoLoc's OIC selection "
                         f"(cas_threshold {cfg.autoloc.cas_threshold:g} on the gated CAS, "
                         f"oic_threshold {cfg.autoloc.oic_threshold:g}); check the CAS run "
                         f"with 'wtal predict {run_dir}/cas' and train it longer")
    else:
        raise ValueError(f"unknown method {cfg.method!r}")
    if out is not None:
        write_detections(out, dets, extra={"run_dir": str(run_dir), "split": split})
    return dets


def _write_cas(path, outputs, classes) -> None:
    """``--save-cas``: every video's CAS and p_fg, atomically."""
    arrays = {"classes": np.asarray(classes)}
    for vid, out in outputs.items():
        arrays[f"{vid}/cas"] = out.class_scores
        arrays[f"{vid}/p_fg"] = out.p_fg
    with io_utils.atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def predict_saved_model(path, source: DataSource, split: str = "test", *, out=None
                        ) -> Detections:
    """Detections from an export (``detect_with_rate`` with each video's own stride)."""
    meta_path = Path(path) / "assets.extra" / "wtal_export.json"
    if not meta_path.exists():
        raise WtalError("not a wtal-tf export (no assets.extra/wtal_export.json)", path=path)
    meta = json.loads(meta_path.read_text())
    if int(meta["feature_dim"]) != int(source.feature_dim):
        raise WtalError(f"the export expects D = {meta['feature_dim']} features, the data has "
                        f"D = {source.feature_dim}", path=path)
    fn = tf.saved_model.load(str(path)).signatures["detect_with_rate"]
    splits = ("train", "holdout") if split == "trainval" else (split,)
    parts = []
    for s in splits:
        for e in source.dataset(s):
            vid = e["video_id"].numpy().decode()
            stride = seconds_per_snippet(source.annotation(vid), int(e["num_snippets"]))
            o = fn(features=e["features"], seconds_per_snippet=tf.constant(stride, tf.float32))
            n = int(o["num_detections"])
            if n:
                seg = o["segments"].numpy()[:n]
                parts.append(Detections(np.full(n, vid), seg[:, 0].astype(float),
                                        seg[:, 1].astype(float),
                                        o["scores"].numpy()[:n].astype(float),
                                        np.asarray([x.decode() for x in o["labels"].numpy()[:n]])))
    dets = Detections.concatenate(parts)
    if out is not None:
        write_detections(out, dets, extra={"saved_model": str(path), "split": split})
    return dets
