"""Snippet spans -> detections in seconds: the one place every detector converts."""

from __future__ import annotations

import numpy as np

from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet, snippet_span_to_seconds


def video_detections(source: DataSource, video_id: str, num_snippets: int, first, last,
                     scores, class_indices) -> Detections:
    """Detections of one video from segments in snippet units.

    Args:
        source: the data (the video's stride and the class names).
        video_id: the video.
        num_snippets: T, for a stride derived from the duration.
        first, last: ``[N]`` first and last snippet of each segment (inclusive,
            may be fractional); computed in their own dtype, then stored as float64.
        scores: ``[N]``.
        class_indices: ``[N]`` indices into ``source.classes``.
    """
    stride = seconds_per_snippet(source.annotation(video_id), num_snippets)
    start, end = snippet_span_to_seconds(first, last, stride)
    return Detections(np.full(len(scores), video_id), np.asarray(start, float),
                      np.asarray(end, float), np.asarray(scores, float),
                      np.asarray(source.classes)[np.asarray(class_indices, int)])
