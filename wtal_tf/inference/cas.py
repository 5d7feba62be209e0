"""Inference of the CAS model: per-video CAS, p_fg and ŷ, then segments in seconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from wtal_tf.configs import SegmentPredictionConfig
from wtal_tf.data import pipeline
from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.inference.detections import video_detections
from wtal_tf.ops import cas as cas_ops
from wtal_tf.ops import segments as seg_ops


@dataclasses.dataclass
class VideoOutputs:
    """The CAS model's outputs for one video (padding removed)."""

    video_id: str
    class_scores: np.ndarray   # [T, K] softmax over classes (C̄)
    p_fg: np.ndarray           # [T]
    video_scores: np.ndarray   # [K] ŷ
    labels: np.ndarray         # [K] ground-truth multi-hot


def cas_outputs(model, source: DataSource, split: str, batch_size: int = 16,
                progress: bool = False,
                max_snippets: int = pipeline.MAX_INFERENCE_SNIPPETS) -> dict[str, VideoOutputs]:
    """Runs the model over a split in padded batches of at most ``batch_size``
    videos and ``max_snippets`` padded snippets; returns outputs per video (each
    its own arrays, so no padded batch outlives its step)."""
    batches = pipeline.budgeted_batches(source.dataset(split), batch_size, max_snippets)
    bar = None
    if progress:
        from tqdm.auto import tqdm  # only for terminals: tqdm's import is not free
        bar = tqdm(total=len(source.video_ids(split)), desc=f"CAS model on {split}",
                   unit="video")

    @tf.function(input_signature=[tf.TensorSpec([None, None, source.feature_dim], tf.float32),
                                  tf.TensorSpec([None, None], tf.float32)])
    def forward(features, mask):  # traced once for every batch shape
        return model({"features": features, "mask": mask}, training=False)

    out: dict[str, VideoOutputs] = {}
    for batch in batches:
        pred = forward(batch["features"], batch["mask"])
        scores = tf.nn.softmax(pred["cas_logits"], axis=-1).numpy()
        p_fg = pred["p_fg"].numpy()
        y_hat = pred["video_scores"].numpy()
        for b, vid in enumerate(batch["video_id"]):
            t = int(batch["num_snippets"][b])
            vid = vid.decode()
            out[vid] = VideoOutputs(vid, scores[b, :t].copy(), p_fg[b, :t].copy(),
                                    y_hat[b].copy(), batch["labels"][b].copy())
        if bar is not None:
            bar.update(len(batch["video_id"]))
    if bar is not None:
        bar.close()
    return out


_SEGMENT_FNS: dict[SegmentPredictionConfig, object] = {}


def _segment_fn(cfg: SegmentPredictionConfig):
    if cfg not in _SEGMENT_FNS:  # one trace per configuration (frozen, hashable)
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32),
                                      tf.TensorSpec([None], tf.float32),
                                      tf.TensorSpec([None], tf.float32)])
        def fn(class_scores, p_fg, video_scores):
            return seg_ops.segments_from_config(class_scores, p_fg, video_scores, cfg)
        _SEGMENT_FNS[cfg] = fn
    return _SEGMENT_FNS[cfg]


def predict_segments_np(out: VideoOutputs, cfg: SegmentPredictionConfig):
    """Segment prediction (§3.1, or ``cfg.method``) for one video:
    ``(segments [N,2] snippets, scores, classes)``."""
    seg, score, cls = _segment_fn(cfg)(tf.constant(out.class_scores, tf.float32),
                                       tf.constant(out.p_fg, tf.float32),
                                       tf.constant(out.video_scores, tf.float32))
    return seg.numpy(), score.numpy(), cls.numpy()


def outputs_to_detections(outputs: dict[str, VideoOutputs], source: DataSource,
                          cfg: SegmentPredictionConfig) -> Detections:
    """Segment predictions of every video, in seconds."""
    parts = []
    for vid, out in outputs.items():
        seg, score, cls = predict_segments_np(out, cfg)
        if len(score):
            parts.append(video_detections(source, vid, out.class_scores.shape[0], seg[:, 0],
                                          seg[:, 1], score, cls))
    return Detections.concatenate(parts)


def mean_video_loss(outputs: dict[str, VideoOutputs]) -> float:
    """Mean paper-form video-label loss over videos (:func:`wtal_tf.ops.cas.video_score_loss`)."""
    if not outputs:
        return float("nan")
    labels = np.stack([o.labels for o in outputs.values()]).astype(np.float64)
    scores = np.stack([o.video_scores for o in outputs.values()]).astype(np.float64)
    return float(tf.reduce_mean(cas_ops.video_score_loss(labels, scores)))


__all__ = ["VideoOutputs", "cas_outputs", "mean_video_loss", "outputs_to_detections",
           "predict_segments_np"]
