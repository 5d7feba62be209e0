"""Detections from a run directory, whatever trained it (one entry point)."""

from __future__ import annotations

import numpy as np

from wtal_tf import io_utils
from wtal_tf.data.detections import Detections, write_detections
from wtal_tf.data.source import DataSource
from wtal_tf.training import run_dir as rd


def predict_run(run_dir, source: DataSource, split: str = "test", *, out=None,
                save_cas=None, progress: bool = False, hints: list | None = None
                ) -> Detections:
    """Detections of a run on a split.

    ``hints``: a list that receives, when there are 0 detections, a sentence
    saying which threshold nothing passed (for the CLI's warning).
    """
    from wtal_tf.cli.model_cmd import check_compatible

    cfg, data, _ = rd.read_run(run_dir)
    check_compatible(data, source, run_dir)
    if split == "trainval":
        parts = [predict_run(run_dir, source, s, progress=progress)
                 for s in ("train", "holdout")]
        dets = Detections.concatenate(parts)
        if out is not None:
            write_detections(out, dets, extra={"run_dir": str(run_dir), "split": split})
        return dets
    if cfg.method in ("cas", "refineloc", "supervised"):
        from wtal_tf.models.inference import cas_outputs, outputs_to_detections
        from wtal_tf.training.cas_trainer import load_cas_model

        model, cfg, _ = load_cas_model(run_dir)
        outputs = cas_outputs(model, source, split, progress=progress)
        dets = outputs_to_detections(outputs, source, cfg.test_segments)
        if len(dets) == 0 and hints is not None:
            from wtal_tf.cli.hints import empty_segment_prediction

            hint = empty_segment_prediction(outputs, cfg.test_segments)
            if hint:
                hints.append(hint)
        if save_cas:
            arrays = {"classes": np.asarray(source.classes)}
            for vid, o in outputs.items():
                arrays[f"{vid}/cas"] = o.class_scores
                arrays[f"{vid}/p_fg"] = o.p_fg
            with io_utils.atomic_path(save_cas, suffix=".npz") as tmp:
                np.savez_compressed(tmp, **arrays)
    elif cfg.method == "autoloc":
        from wtal_tf.models.autoloc import predict_autoloc_run

        dets = predict_autoloc_run(run_dir, source, split, progress=progress)
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


def predict_saved_model(path, source: DataSource, split: str = "test", *, out=None
                        ) -> Detections:
    """Detections from an export (``detect_with_rate`` with each video's own stride)."""
    import json
    from pathlib import Path

    import tensorflow as tf

    from wtal_tf.data.video import seconds_per_snippet
    from wtal_tf.errors import WtalError

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
