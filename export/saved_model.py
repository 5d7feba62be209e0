"""SavedModel export of a whole detector for TF Serving.

``export_run(RUN_DIR, BASE, name=..., version=...)`` writes ``BASE/NAME/VERSION/``
(the layout TF Serving watches) atomically: a temporary folder renamed into
place, so an interrupted export leaves the previous version intact.

Signatures (all take one video's features, T variable, any T >= 1):

* ``serving_default``: ``features`` float32 ``[T, D]`` -> ``segments`` (seconds,
  ``[N, 2]``, at the stride fixed at export), ``segments_snippets`` ``[N, 2]``,
  ``scores`` ``[N]``, ``classes`` int32 ``[N]``, ``labels`` string ``[N]``,
  ``num_detections`` int32 scalar; padded to N (rows past ``num_detections``
  are zeros, class -1, label "").
* ``detect_with_rate``: the same plus input ``seconds_per_snippet`` (scalar).
* ``cas``: ``cas`` ``[T, K]`` (per-class softmax scores) and ``foreground``
  ``[T]`` (p_fg), for users who post-process themselves.
* ``detect_batch``: ``features`` ``[B, T_max, D]`` + ``lengths`` ``[B]`` ->
  the serving outputs with a leading B (each video cut to its length).

The graph reuses the library's inference functions: the CAS model, AutoLoc's
regression and OIC layer (selection, class-wise NMS) or RefineLoc's segment
prediction module.  Bad input fails with a ``tf.debugging`` message (wrong
rank, wrong D, T = 0, NaN/inf, ``lengths`` outside ``[1, T_max]`` or not one per
video, ``seconds_per_snippet <= 0``) before any kernel sees it, instead of a
shape error deep in the graph -- or, for a rank-1 ``features``, a oneDNN
``Check failed`` that aborts the serving process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from wtal_tf import io_utils
from wtal_tf.errors import WtalError
from wtal_tf.ops import segments as seg_ops
from wtal_tf import runs

WARMUP_FILE = "tf_serving_warmup_requests"


def _checked(x, checks, shape=None):
    """``x`` once every check passed (control dependencies: no kernel sees ``x``
    first), reshaped to ``shape`` so that later kernels always get the rank they
    were built for."""
    with tf.control_dependencies(checks):
        return tf.identity(x) if shape is None else tf.reshape(x, shape)


def _check_features(features, feature_dim: int, *, rank: int = 2,
                    what: str = "features must be [T, D]"):
    """Run-time checks of ``features`` ``[T, D]`` (``rank=3``: ``[B, T_max, D]``).

    The rank is checked through sizes, not ``tf.rank``: the signature declares
    the rank, so ``tf.rank``/``assert_rank`` are folded to constants and check
    nothing, while callers (TF Serving included) may feed any rank -- and a
    rank-1 ``features`` aborted the process inside a oneDNN kernel.
    ``size == prod(leading dims) * D`` with the last dimension D holds for the
    expected rank only (up to dimensions of 1, which the reshape removes).
    """
    shape = tf.shape(features)
    # Flattening is valid for any rank and changes the rank, so grappler cannot
    # drop it as a no-op (it dropped ``reshape(features, [-1, D])``, believing the
    # signature's rank, and a kernel then ran on the unchecked tensor).
    flat = tf.reshape(features, [-1])
    d_ok = tf.debugging.assert_equal(shape[-1], feature_dim,
                                     message=f"features must have D = {feature_dim} columns "
                                             f"({what.split(' must be ')[-1]})")
    with tf.control_dependencies([d_ok]):
        lead = shape[0] if rank == 2 else shape[0] * shape[1]
        rank_ok = tf.debugging.assert_equal(
            tf.size(flat), lead * feature_dim,
            message=f"{what} with D = {feature_dim} (got another rank)")
    with tf.control_dependencies([rank_ok]):
        t_ok = tf.debugging.assert_positive(shape[rank - 2],
                                            message="features must have T >= 1 snippets")
    with tf.control_dependencies([t_ok]):
        finite = tf.debugging.assert_all_finite(flat, message="features contain NaN or inf")
    target = [-1, feature_dim] if rank == 2 else [shape[0], shape[1], feature_dim]
    return _checked(flat, [d_ok, rank_ok, t_ok, finite], target)


def _check_stride(seconds_per_snippet):
    stride = tf.cast(seconds_per_snippet, tf.float32)
    ok = tf.reduce_all(tf.math.is_finite(stride) & (stride > 0))
    return _checked(stride, [tf.debugging.assert_equal(
        ok, True, message="seconds_per_snippet must be a finite number > 0")])


def _check_lengths(features, lengths, feature_dim: int):
    """``detect_batch``: features ``[B, T_max, D]`` and one length in ``[1, T_max]``
    per video."""
    features = _check_features(features, feature_dim, rank=3,
                               what="detect_batch features must be [B, T_max, D]")
    shape = tf.shape(features)
    count = tf.debugging.assert_equal(tf.size(lengths), shape[0],
                                      message="lengths must be [B], one length per video")
    with tf.control_dependencies([count]):
        flat = tf.reshape(lengths, [-1])
        low = tf.debugging.assert_greater_equal(flat, 1, message="lengths must be >= 1")
        high = tf.debugging.assert_less_equal(flat, shape[1],
                                              message="lengths must be <= T_max")
    return features, _checked(flat, [count, low, high])


class Detector(tf.Module):
    """The exported computation, built from a run directory."""

    def __init__(self, run_dir, *, max_detections: int = 100):
        super().__init__()
        cfg, data, _ = runs.read_run(run_dir)
        self.cfg = cfg
        self.feature_dim = int(data["feature_dim"])
        self.classes = list(data["classes"])
        self.max_detections = int(max_detections)
        self.class_names = tf.constant(self.classes + [""])  # index -1 -> ""
        if cfg.method == "autoloc":
            from wtal_tf.inference.loading import load_autoloc

            self.model, _, _ = load_autoloc(run_dir)
            self.cas_model = self.model.cas_model
        else:
            from wtal_tf.inference.loading import load_cas_model

            self.model, _, _ = load_cas_model(run_dir)
            self.cas_model = self.model

    # -- pure graph pieces ------------------------------------------------------
    def cas(self, features):
        features = _check_features(features, self.feature_dim)
        out = self.cas_model({"features": features[None]}, training=False)
        return {"cas": tf.nn.softmax(out["cas_logits"][0], axis=-1),
                "foreground": out["p_fg"][0]}

    def detect_snippets(self, features):
        """``(segments [N, 2] snippets, scores [N], classes [N], num [])``."""
        features = _check_features(features, self.feature_dim)
        n = self.max_detections
        if self.cfg.method == "autoloc":
            return self.model.detect(features[None], max_detections=n)
        out = self.model({"features": features[None]}, training=False)
        seg, score, cls = seg_ops.segments_from_config(
            tf.nn.softmax(out["cas_logits"][0], axis=-1), out["p_fg"][0],
            out["video_scores"][0], self.cfg.test_segments)
        k = tf.minimum(n, tf.size(score))
        top = tf.math.top_k(score, k=k)
        pad = n - k
        return (tf.pad(tf.gather(seg, top.indices), [[0, pad], [0, 0]]),
                tf.pad(top.values, [[0, pad]]),
                tf.pad(tf.gather(cls, top.indices), [[0, pad]], constant_values=-1),
                k)

    def detect(self, features, seconds_per_snippet):
        stride = _check_stride(seconds_per_snippet)
        seg, scores, classes, num = self.detect_snippets(features)
        real = tf.range(self.max_detections) < num
        seconds = tf.stack([seg[:, 0] * stride, (seg[:, 1] + 1.0) * stride], axis=1)
        seconds = tf.where(real[:, None], seconds, 0.0)
        classes = tf.where(real, tf.cast(classes, tf.int32), -1)
        return {"segments": seconds, "segments_snippets": tf.where(real[:, None], seg, 0.0),
                "scores": tf.where(real, scores, 0.0), "classes": classes,
                "labels": tf.gather(self.class_names, tf.where(classes < 0,
                                                               len(self.classes), classes)),
                "num_detections": tf.cast(num, tf.int32)}


def build_archive(detector: Detector, seconds_per_snippet: float):
    d = detector.feature_dim
    archive = keras.export.ExportArchive()
    archive.track(detector.model)
    stride = float(seconds_per_snippet)
    features_spec = tf.TensorSpec([None, d], tf.float32, name="features")

    archive.add_endpoint("serving_default", lambda features: detector.detect(features, stride),
                         input_signature=[features_spec])
    archive.add_endpoint("detect_with_rate",
                         lambda features, seconds_per_snippet: detector.detect(
                             features, seconds_per_snippet),
                         input_signature=[features_spec,
                                          tf.TensorSpec([], tf.float32,
                                                        name="seconds_per_snippet")])
    archive.add_endpoint("cas", detector.cas, input_signature=[features_spec])

    def detect_batch(features, lengths):
        features, lengths = _check_lengths(features, lengths, d)

        def one(args):
            f, n = args
            return detector.detect(f[:n], stride)

        spec = {"segments": tf.TensorSpec([detector.max_detections, 2], tf.float32),
                "segments_snippets": tf.TensorSpec([detector.max_detections, 2], tf.float32),
                "scores": tf.TensorSpec([detector.max_detections], tf.float32),
                "classes": tf.TensorSpec([detector.max_detections], tf.int32),
                "labels": tf.TensorSpec([detector.max_detections], tf.string),
                "num_detections": tf.TensorSpec([], tf.int32)}
        return tf.map_fn(one, (features, tf.cast(lengths, tf.int32)), fn_output_signature=spec)

    archive.add_endpoint("detect_batch", detect_batch,
                         input_signature=[tf.TensorSpec([None, None, d], tf.float32,
                                                        name="features"),
                                          tf.TensorSpec([None], tf.int32, name="lengths")])
    return archive


def write_warmup(path: Path, feature_dim: int, lengths=(1, 16, 128), seed: int = 0):
    """``assets.extra/tf_serving_warmup_requests``: PredictionLog records (TF Serving format)."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        raise WtalError("writing TF Serving warmup requests needs tensorflow-serving-api: "
                        "pip install --no-deps tensorflow-serving-api") from None
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for t in lengths:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name="serving_default"))
            request.inputs["features"].CopyFrom(tf.make_tensor_proto(
                rng.standard_normal((t, feature_dim)).astype(np.float32)))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def read_warmup(path):
    """Yields ``(signature_name, {input: ndarray})`` from a warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2

    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        req = log.predict_log.request
        yield (req.model_spec.signature_name or "serving_default",
               {k: tf.make_ndarray(v) for k, v in req.inputs.items()})


def next_version(model_dir) -> int:
    existing = [int(p.name) for p in Path(model_dir).glob("*") if p.name.isdigit()]
    return max(existing, default=0) + 1


def export_run(run_dir, base, *, name: str = "wtal", version: int | None = None,
               seconds_per_snippet: float | None = None, max_detections: int | None = None,
               warmup: bool | str = "auto") -> Path:
    """Exports a run directory to ``BASE/NAME/VERSION`` (atomically); returns that path.

    ``warmup``: write ``assets.extra/tf_serving_warmup_requests`` (needs
    tensorflow-serving-api); ``"auto"`` writes it when that package is installed.
    """
    if warmup == "auto":
        try:
            import tensorflow_serving.apis  # noqa: F401
            warmup = True
        except ImportError:
            print("note: tensorflow-serving-api is not installed, so no warmup requests are "
                  "written (pip install --no-deps tensorflow-serving-api)")
            warmup = False
    cfg, data, _ = runs.read_run(run_dir)
    stride = seconds_per_snippet or data.get("seconds_per_snippet")
    if not stride:
        raise WtalError("no seconds per snippet known for this run: pass "
                        "--seconds-per-snippet", path=run_dir)
    n = max_detections or cfg.autoloc.max_detections
    base = Path(base)
    model_dir = base / name
    if version is None:
        version = next_version(model_dir)
    target = model_dir / str(version)
    start = time.perf_counter()
    detector = Detector(run_dir, max_detections=n)
    archive = build_archive(detector, stride)
    with io_utils.atomic_directory(target) as tmp:
        tmp.rmdir()  # ExportArchive creates the folder itself
        archive.write_out(str(tmp), verbose=False)
        if warmup:
            write_warmup(tmp / "assets.extra" / WARMUP_FILE, detector.feature_dim)
        io_utils.write_json(tmp / "assets.extra" / "wtal_export.json", {
            "run_dir": str(run_dir), "method": cfg.method, "classes": detector.classes,
            "feature_dim": detector.feature_dim, "seconds_per_snippet": stride,
            "max_detections": n, "export_seconds": time.perf_counter() - start}, indent=1)
    from wtal_export.serving_config import merge_models_config

    merge_models_config(base / "models.config", name)
    return target


def load(path):
    """Loads an export (``tf.saved_model.load``) and its metadata."""
    model = tf.saved_model.load(str(path))
    meta = json.loads((Path(path) / "assets.extra" / "wtal_export.json").read_text())
    return model, meta


__all__ = ["export_run", "load", "Detector", "build_archive", "write_warmup", "read_warmup"]
