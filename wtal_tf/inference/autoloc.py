"""AutoLoc's detections on a split (the detector's own graph, one video at a time)."""

from __future__ import annotations

import tensorflow as tf

from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.inference.detections import video_detections
from wtal_tf.models.autoloc import AutoLocModel


def detect_fn(model: AutoLocModel, feature_dim: int, *, max_detections=None, top_k=None):
    """A ``tf.function`` for one video ``[T, D]`` (any T), traced once."""
    @tf.function(input_signature=[tf.TensorSpec([None, feature_dim], tf.float32)])
    def detect(features):
        return model.detect(features[None], max_detections=max_detections, top_k=top_k)
    return detect


def autoloc_detections(model: AutoLocModel, source: DataSource, split: str, *,
                       max_detections=None, top_k=None, progress: bool = False) -> Detections:
    """Detections of every video of ``split``, in seconds."""
    detect = detect_fn(model, source.feature_dim, max_detections=max_detections, top_k=top_k)
    parts = []
    videos = source.dataset(split)
    if progress:
        from tqdm.auto import tqdm  # only for terminals: tqdm's import is not free
        videos = tqdm(videos, total=len(source.video_ids(split)), desc=f"AutoLoc on {split}",
                      unit="video")
    for element in videos:
        segments, scores, classes, num = detect(element["features"])
        n = int(num)
        if n:
            segments = segments.numpy()[:n]
            parts.append(video_detections(source, element["video_id"].numpy().decode(),
                                          int(element["num_snippets"]), segments[:, 0],
                                          segments[:, 1], scores.numpy()[:n],
                                          classes.numpy()[:n]))
    return Detections.concatenate(parts)
