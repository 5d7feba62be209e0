"""The one data model for a video, and the only snippet <-> seconds conversions.

A video is cut into ``T`` non-overlapping snippets.  With ``s`` seconds per
snippet, snippet ``t`` covers ``[t, t + 1) * s`` seconds, and a segment over
snippets ``x1..x2`` (inclusive, possibly fractional) covers
``[x1, x2 + 1) * s``.  ``s`` is the video's ``seconds_per_snippet`` when the
annotation gives one, else ``duration / T``.  Every other module converts
through the functions here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from wtal_tf.errors import WtalError

#: Subset names of the interchange format (ActivityNet's vocabulary).
SUBSETS = ("training", "validation", "testing")
#: Subsets a model trains on; the others are evaluated on.  THUMOS'14 is
#: converted with its validation videos as ``training`` and its test videos as
#: ``testing`` (see README), so one rule serves both datasets.
TRAIN_SUBSETS = ("training",)
TEST_SUBSETS = ("validation", "testing")


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """A ground-truth or predicted segment, in seconds."""

    start: float
    end: float
    label: str


@dataclasses.dataclass(slots=True)
class VideoAnnotation:
    """Everything known about a video except its features.

    Attributes:
        video_id: the video's id (the feature file's stem).
        subset: one of ``SUBSETS``.
        duration: length in seconds, or ``None`` when the source omits it.
        segments: ground-truth segments as given (never clipped or dropped).
        labels: video-level labels; by default the set of segment labels.
        seconds_per_snippet: snippet stride in seconds, if the source fixes it.
    """

    video_id: str
    subset: str = "training"
    duration: float | None = None
    segments: list[Segment] = dataclasses.field(default_factory=list)
    labels: tuple[str, ...] | None = None
    seconds_per_snippet: float | None = None

    def __post_init__(self):
        if self.labels is None:
            self.labels = tuple(sorted({s.label for s in self.segments}))
        else:
            self.labels = tuple(self.labels)

    def multi_hot(self, classes: Sequence[str]) -> np.ndarray:
        """Video-level labels as a ``[K]`` float32 multi-hot over ``classes``."""
        index = {c: i for i, c in enumerate(classes)}
        y = np.zeros(len(classes), np.float32)
        for label in self.labels:
            if label not in index:
                raise WtalError(
                    f"label {label!r} is not in the class list "
                    f"({len(classes)} classes)", video_id=self.video_id)
            y[index[label]] = 1.0
        return y


@dataclasses.dataclass
class AnnotationSet:
    """An ordered class list and the annotations of every video."""

    classes: tuple[str, ...]
    videos: dict[str, VideoAnnotation]
    source: str | None = None

    def __post_init__(self):
        self.classes = tuple(self.classes)

    def subset(self, subsets: Iterable[str]) -> list[VideoAnnotation]:
        wanted = set(subsets)
        return [v for v in self.videos.values() if v.subset in wanted]

    def __len__(self):
        return len(self.videos)

    @property
    def num_segments(self) -> int:
        return sum(len(v.segments) for v in self.videos.values())


@dataclasses.dataclass
class Video:
    """A video record: annotation plus ``[T, D]`` float32 features."""

    annotation: VideoAnnotation
    features: np.ndarray

    @property
    def video_id(self) -> str:
        return self.annotation.video_id

    @property
    def num_snippets(self) -> int:
        return int(self.features.shape[0])

    @property
    def seconds_per_snippet(self) -> float:
        return seconds_per_snippet(self.annotation, self.num_snippets)


def seconds_per_snippet(annotation: VideoAnnotation, num_snippets: int) -> float:
    """The snippet stride of a video: its own value, else duration / T."""
    if annotation.seconds_per_snippet is not None:
        stride = float(annotation.seconds_per_snippet)
        if not (math.isfinite(stride) and stride > 0):  # would give negative/NaN seconds
            raise WtalError(f"seconds_per_snippet {annotation.seconds_per_snippet!r} is not a "
                            "finite number > 0; fix the annotations",
                            video_id=annotation.video_id)
        return stride
    if annotation.duration is None or num_snippets < 1:
        raise WtalError(
            "needs either 'seconds_per_snippet' or 'duration' (and T >= 1) to "
            "convert snippets to seconds", video_id=annotation.video_id)
    duration = float(annotation.duration)
    if not (math.isfinite(duration) and duration > 0):
        raise WtalError(f"duration {annotation.duration!r} is not a finite number > 0; fix "
                        "the annotations", video_id=annotation.video_id)
    return duration / num_snippets


def snippet_span_to_seconds(x1, x2, stride: float):
    """Snippets ``x1..x2`` (inclusive, may be fractional) -> ``(start, end)`` s.

    Works on scalars and NumPy arrays alike.
    """
    return np.multiply(x1, stride), np.multiply(np.add(x2, 1.0), stride)


def seconds_to_snippet_span(start, end, stride: float):
    """Inverse of :func:`snippet_span_to_seconds` (continuous snippet units)."""
    return np.divide(start, stride), np.subtract(np.divide(end, stride), 1.0)


def num_snippets_for_duration(duration: float, stride: float) -> int:
    """``T = ceil(duration / stride)``, at least 1: the snippets that cover a
    video (the last one may run past its end).  Rounded to 1e-6 first so that
    100.0 / 0.5 gives 200, not 201 by a float's last bit."""
    return max(1, math.ceil(round(duration / stride, 6)))


def segment_snippets(start: float, end: float, stride: float, num_snippets: int):
    """The whole snippets ``(x1, x2)`` (inclusive) a segment covers in a video
    of ``num_snippets``, or ``None`` when it lies outside the video.

    A snippet belongs to the segment when its centre ``(t + 0.5) * stride``
    lies in ``[start, end)`` (the rule of :func:`segments_to_mask`); a segment
    shorter than a snippet gets the snippet holding its midpoint.  The span is
    clipped to the video (real segments may run past its end).
    """
    x1 = math.ceil(round(start / stride - 0.5, 6))
    x2 = math.ceil(round(end / stride - 0.5, 6)) - 1
    if x2 < x1:
        x1 = x2 = math.floor((start + end) / 2 / stride)
    x1, x2 = max(x1, 0), min(x2, num_snippets - 1)
    return (x1, x2) if x1 <= x2 else None


def segments_to_mask(segments: Iterable[Segment], num_snippets: int,
                     stride: float, classes: Sequence[str] | None = None):
    """Snippet-level ground truth: ``[T]`` bool foreground mask, or ``[T, K]``.

    A snippet is foreground when its centre lies inside a segment.
    """
    centres = (np.arange(num_snippets) + 0.5) * stride
    if classes is None:
        mask = np.zeros(num_snippets, bool)
        for s in segments:
            mask |= (centres >= s.start) & (centres < s.end)
        return mask
    index = {c: i for i, c in enumerate(classes)}
    mask = np.zeros((num_snippets, len(classes)), bool)
    for s in segments:
        mask[:, index[s.label]] |= (centres >= s.start) & (centres < s.end)
    return mask


def parse_time(value, *, path=None, video_id=None, what="time") -> float:
    """A time given as a number or a numeric string -> finite float seconds."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise WtalError(f"{what} {value!r} is not a number",
                        path=path, video_id=video_id) from None
    if not math.isfinite(t):
        raise WtalError(f"{what} {value!r} is not finite",
                        path=path, video_id=video_id)
    return t


def classes_from_labels(videos: Mapping[str, VideoAnnotation]) -> tuple[str, ...]:
    """The default class list: the sorted set of every label used."""
    labels = set()
    for v in videos.values():
        labels.update(v.labels)
        labels.update(s.label for s in v.segments)
    return tuple(sorted(labels))
