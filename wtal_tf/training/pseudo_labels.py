"""RefineLoc's pseudo ground-truth generators (§3.2) and their stored artifact.

A generator maps a trained model's outputs on a *training* video to a
snippet-level background (0) / foreground (1) label.  Pseudo labels are made
for the training videos (holdout included, so eq. 4's holdout loss can be
computed) and never for the test split.  Each iteration's labels are stored
as an artifact keyed by video id (``pseudo_labels.npz`` + ``.json``), never
written into the dataset, so an iteration can be inspected and re-run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import tensorflow as tf

from wtal_tf import io_utils
from wtal_tf.configs import SegmentPredictionConfig
from wtal_tf.data.detections import Detections
from wtal_tf.data.video import seconds_per_snippet, seconds_to_snippet_span
from wtal_tf.errors import WtalError
from wtal_tf.inference.cas import predict_segments_np

GENERATORS = ("uniform_random", "distribution_aware", "class_activation", "attention",
              "segment_prediction")
#: Generators that use information weak supervision does not have.
NOT_WEAKLY_SUPERVISED = {"distribution_aware"}


def uniform_random(t_len: int, rng: np.random.Generator) -> np.ndarray:
    """(1) A uniformly random label per snippet."""
    return (rng.random(t_len) < 0.5).astype(np.uint8)


def distribution_aware(t_len: int, rng: np.random.Generator, foreground_ratio: float
                       ) -> np.ndarray:
    """(2) Random labels, foreground with the dataset's true foreground ratio.

    Not weakly supervised: the ratio needs temporal annotations (RefineLoc
    includes it as a reference only).
    """
    if foreground_ratio is None or not 0.0 <= foreground_ratio <= 1.0:
        raise WtalError("the distribution-aware generator needs the true foreground ratio "
                        "in [0, 1] (refine.foreground_ratio / --foreground-ratio); it is not "
                        "weakly supervised")
    return (rng.random(t_len) < foreground_ratio).astype(np.uint8)


def class_activation(class_scores: np.ndarray, threshold: float) -> np.ndarray:
    """(3) Foreground where the maximum class score max_k C̄_t exceeds ``threshold``."""
    return (np.max(class_scores, axis=1) > threshold).astype(np.uint8)


def attention(p_fg: np.ndarray, threshold: float) -> np.ndarray:
    """(4) Foreground where the foreground attention exceeds ``threshold``.

    RefineLoc writes Ā^time; like eq. 3 we threshold p_fg (Ā^bf's foreground
    column), since Ā^time sums to 1 over the video and has no fixed scale.
    """
    return (np.asarray(p_fg) > threshold).astype(np.uint8)


def from_segments(t_len: int, segments_snippets: np.ndarray) -> np.ndarray:
    """(5) Foreground inside any predicted segment (inclusive snippet spans)."""
    labels = np.zeros(t_len, np.uint8)
    for x1, x2 in np.asarray(segments_snippets, float).reshape(-1, 2):
        lo = max(int(np.floor(x1 + 0.5)), 0)
        hi = min(int(np.floor(x2 + 0.5)), t_len - 1)
        if hi >= lo:
            labels[lo:hi + 1] = 1
    return labels


def sample_mask(t_len: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round(fraction * T)`` snippets (at least 1) chosen uniformly."""
    n = min(t_len, max(1, int(round(fraction * t_len))))
    mask = np.zeros(t_len, np.uint8)
    mask[rng.choice(t_len, size=n, replace=False)] = 1
    return mask


@dataclasses.dataclass
class PseudoLabels:
    """One iteration's pseudo labels and sampling masks, keyed by video id."""

    labels: dict[str, np.ndarray]      # [T] uint8, 1 = foreground
    samples: dict[str, np.ndarray]     # [T] uint8, 1 = snippet used by the loss
    meta: dict

    def foreground_ratio(self) -> float:
        total = sum(len(v) for v in self.labels.values())
        return float(sum(int(v.sum()) for v in self.labels.values()) / max(total, 1))

    def agreement(self, other: "PseudoLabels") -> float:
        """Fraction of snippets with the same label in both (common videos)."""
        same = total = 0
        for vid, lab in self.labels.items():
            if vid in other.labels and len(other.labels[vid]) == len(lab):
                same += int(np.sum(lab == other.labels[vid]))
                total += len(lab)
        return same / total if total else float("nan")

    def as_extras(self):
        """Extras for :func:`wtal_tf.data.pipeline.from_root` (joined by video id)."""
        def labels(vid):
            if vid not in self.labels:
                raise WtalError("no pseudo labels for this video", video_id=vid)
            return self.labels[vid].astype(np.float32)

        def weights(vid):
            return self.samples[vid].astype(np.float32)

        specs = {"pseudo_labels": tf.TensorSpec([None], tf.float32),
                 "pseudo_weights": tf.TensorSpec([None], tf.float32)}
        return {"pseudo_labels": labels, "pseudo_weights": weights}, specs

    def save(self, path) -> Path:
        path = Path(path)
        arrays = {}
        for vid in self.labels:
            arrays[f"{vid}/labels"] = self.labels[vid]
            arrays[f"{vid}/samples"] = self.samples[vid]
        with io_utils.atomic_path(path.with_suffix(".npz"), suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        meta = dict(self.meta, foreground_ratio=self.foreground_ratio(),
                    num_videos=len(self.labels))
        io_utils.write_json(path.with_suffix(".json"), meta, indent=1)
        return path

    @classmethod
    def load(cls, path) -> "PseudoLabels":
        path = Path(path)
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            labels, samples = {}, {}
            with np.load(path.with_suffix(".npz")) as z:
                for key in z.files:
                    vid, kind = key.rsplit("/", 1)
                    (labels if kind == "labels" else samples)[vid] = z[key]
        except (OSError, ValueError) as e:
            raise WtalError(f"cannot read pseudo labels ({e})", path=path) from None
        return cls(labels, samples, meta)


@dataclasses.dataclass(frozen=True)
class _GeneratorSettings:
    """What the generators read besides one video's outputs (see :func:`generate`)."""

    segment_cfg: SegmentPredictionConfig | None
    class_threshold: float
    attention_threshold: float
    foreground_ratio: float | None
    detections: Detections | None
    stride_of: Callable[[str, int], float] | None
    form: str


def _segment_labels(out, t_len: int, segment_cfg: SegmentPredictionConfig) -> np.ndarray:
    segments, _, _ = predict_segments_np(out, segment_cfg)
    return from_segments(t_len, segments)


def _uniform_random(video_id, out, t_len, rng, settings):
    return uniform_random(t_len, rng)


def _distribution_aware(video_id, out, t_len, rng, settings):
    return distribution_aware(t_len, rng, settings.foreground_ratio)


def _class_activation(video_id, out, t_len, rng, settings):
    if settings.form == "segments":  # alpha_A = 1 keeps every snippet (the code's p_fg > 0)
        return _segment_labels(out, t_len, dataclasses.replace(settings.segment_cfg,
                                                               alpha_a=1.0))
    return class_activation(out.class_scores, settings.class_threshold)


def _attention(video_id, out, t_len, rng, settings):
    if settings.form == "segments":  # alpha_C = 0 keeps every snippet
        return _segment_labels(out, t_len, dataclasses.replace(settings.segment_cfg,
                                                               alpha_c=0.0))
    return attention(out.p_fg, settings.attention_threshold)


def _segment_prediction(video_id, out, t_len, rng, settings):
    if settings.detections is None:
        return _segment_labels(out, t_len, settings.segment_cfg)
    found = settings.detections.for_video(video_id)
    first, last = seconds_to_snippet_span(found.starts, found.ends,
                                          settings.stride_of(video_id, t_len))
    return from_segments(t_len, np.stack([first, last], 1) if len(found) else np.zeros((0, 2)))


#: ``name -> (video_id, outputs, T, rng, settings) -> labels [T]``, one per generator.
_GENERATOR_FNS = {"uniform_random": _uniform_random,
                  "distribution_aware": _distribution_aware,
                  "class_activation": _class_activation,
                  "attention": _attention,
                  "segment_prediction": _segment_prediction}
assert tuple(_GENERATOR_FNS) == GENERATORS


def generate(name: str, outputs: Mapping, *, video_ids, test_ids, seed: int,
             sample_fraction: float, segment_cfg: SegmentPredictionConfig | None = None,
             class_threshold: float = 0.5, attention_threshold: float = 0.5,
             foreground_ratio: float | None = None,
             detections: Detections | None = None,
             stride_of: Callable[[str, int], float] | None = None,
             lengths: Mapping[str, int] | None = None, iteration: int = 0,
             form: str = "threshold") -> PseudoLabels:
    """Pseudo labels of ``video_ids`` from a model's outputs (or a detections file).

    Args:
        name: one of ``GENERATORS``.
        outputs: ``video_id -> VideoOutputs`` of the previous model (training
            videos only); may be empty for the random generators and for
            ``detections``.
        video_ids: the training (+ holdout) videos to label.
        test_ids: the test split's ids: asking for any of them is an error.
        seed: seeds the random generators and the sampling of S.
        sample_fraction: S, the fraction of snippets the loss uses.
        detections: for ``segment_prediction``: an external detector's
            detections (seconds), e.g. AutoLoc's, instead of our segments.
        stride_of: ``(video_id, T) -> seconds per snippet`` (for detections).
        lengths: ``video_id -> T`` when ``outputs`` does not give it.
        form: ``"threshold"`` (generators 3 and 4 threshold max C̄ / p_fg) or
            ``"segments"`` (NOTES, the release: they are the segment pipeline
            of ``segment_cfg`` with alpha_A resp. alpha_C switched off).
    """
    if name not in GENERATORS:
        raise WtalError(f"unknown pseudo-label generator {name!r}; known: {GENERATORS}")
    leaked = sorted(set(video_ids) & set(test_ids))
    if leaked:
        raise WtalError(f"pseudo labels are never made for test videos ({len(leaked)} "
                        f"requested, first {leaked[0]!r})")
    label_fn = _GENERATOR_FNS[name]
    settings = _GeneratorSettings(segment_cfg, class_threshold, attention_threshold,
                                  foreground_ratio, detections, stride_of, form)
    rng = np.random.default_rng([seed, iteration, 7])
    labels, samples = {}, {}
    for vid in sorted(video_ids):
        out = outputs.get(vid)
        t_len = out.class_scores.shape[0] if out is not None else int(lengths[vid])
        labels[vid] = label_fn(vid, out, t_len, rng, settings)
        samples[vid] = sample_mask(t_len, sample_fraction, rng)
    meta = {"generator": name, "form": form, "iteration": iteration, "seed": seed,
            "sample_fraction": sample_fraction,
            "weakly_supervised": name not in NOT_WEAKLY_SUPERVISED,
            "from_detections": detections is not None}
    if name == "segment_prediction" and detections is None and segment_cfg is not None:
        meta["segment_prediction"] = dataclasses.asdict(segment_cfg)
    return PseudoLabels(labels, samples, meta)


__all__ = ["GENERATORS", "PseudoLabels", "generate", "uniform_random", "distribution_aware",
           "class_activation", "attention", "from_segments", "sample_mask",
           "seconds_per_snippet"]
