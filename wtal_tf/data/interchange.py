"""The interchange format: what every command accepts.

A dataset root holds ``annotations.json`` (ActivityNet-style, plus an ordered
``classes`` list) and ``features/<vid>.npy`` of shape ``[T, D]``::

    {"version": "...", "classes": ["BaseballPitch", ...],
     "database": {"video_1": {"subset": "training", "duration": 120.0,
                              "seconds_per_snippet": 0.5,      # optional
                              "annotations": [{"segment": [3.2, 7.9],
                                               "label": "BaseballPitch"}]}}}
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from wtal_tf import io_utils
from wtal_tf.data.readers import FeatureStore, NpyDirFeatures, activitynet_from_json, load_json
from wtal_tf.data.video import AnnotationSet, Video, VideoAnnotation
from wtal_tf.errors import WtalError

ANNOTATIONS_FILE = "annotations.json"
FEATURES_DIR = "features"


def annotations_to_json(annotations: AnnotationSet, version: str = "1.0") -> dict:
    """An :class:`AnnotationSet` as the interchange JSON object."""
    database = {}
    for vid, v in annotations.videos.items():
        entry = {"subset": v.subset}
        if v.duration is not None:
            entry["duration"] = v.duration
        if v.seconds_per_snippet is not None:
            entry["seconds_per_snippet"] = v.seconds_per_snippet
        entry["annotations"] = [{"segment": [s.start, s.end], "label": s.label}
                                for s in v.segments]
        if tuple(sorted({s.label for s in v.segments})) != tuple(v.labels):
            entry["labels"] = list(v.labels)
        database[vid] = entry
    return {"version": version, "classes": list(annotations.classes),
            "database": database}


@dataclasses.dataclass
class DatasetRoot:
    """An opened interchange root: annotations plus lazily read features."""

    path: Path
    annotations: AnnotationSet
    features: FeatureStore
    version: str | None = None

    @property
    def classes(self):
        return self.annotations.classes

    def video(self, video_id: str) -> Video:
        ann = self.annotations.videos[video_id]
        feats = self.features.load(video_id)
        return Video(ann, feats)

    def videos(self, subsets=None) -> Iterator[Video]:
        for ann in self.select(subsets):
            yield Video(ann, self.features.load(ann.video_id))

    def select(self, subsets=None) -> list[VideoAnnotation]:
        if subsets is None:
            return list(self.annotations.videos.values())
        return self.annotations.subset(subsets)

    def feature_dim(self) -> int:
        """D, read from the first feature file's header (no data loaded)."""
        for vid in self.annotations.videos:
            if vid in self.features:
                from wtal_tf.data.readers import load_feature_file

                arr = load_feature_file(self.features.path(vid), video_id=vid, mmap=True)
                return int(arr.shape[1])
        raise WtalError("no feature file found for any annotated video",
                        path=self.path / FEATURES_DIR)

    def fingerprint(self) -> str:
        """A short hash of the annotations and of every feature file's header
        and size: identifies the data a run was trained on."""
        h = hashlib.sha256()
        h.update((self.path / ANNOTATIONS_FILE).read_bytes())
        for vid in sorted(self.annotations.videos):
            p = self.features.path(vid)
            if p.exists():
                h.update(f"{vid}:{p.stat().st_size}".encode())
        return h.hexdigest()[:16]


def open_root(path) -> DatasetRoot:
    """Opens an interchange dataset root."""
    path = Path(path)
    if not path.is_dir():
        raise WtalError("dataset root not found (expected a folder with "
                        f"{ANNOTATIONS_FILE} and {FEATURES_DIR}/)", path=path)
    ann_path = path / ANNOTATIONS_FILE
    if not ann_path.exists():
        raise WtalError(f"no {ANNOTATIONS_FILE} in the dataset root", path=path)
    data = load_json(ann_path)  # parsed once: annotations and version
    annotations = activitynet_from_json(data, ann_path)
    version = data.get("version") if isinstance(data, dict) else None
    return DatasetRoot(path, annotations, NpyDirFeatures(path / FEATURES_DIR),
                       version)


def write_root(path, annotations: AnnotationSet,
               load_features: Callable[[str], np.ndarray] | None,
               *, version: str = "1.0", progress: bool = False) -> Path:
    """Writes an interchange root atomically (a temporary folder, then renamed).

    Args:
        path: the root to create or replace.
        annotations: the videos to write; every segment is kept as given.
        load_features: ``video_id -> [T, D]`` array, or ``None`` to write
            annotations only.
    """
    path = Path(path)
    ids = list(annotations.videos)
    with io_utils.atomic_directory(path) as tmp:
        io_utils.write_json(tmp / ANNOTATIONS_FILE,
                            annotations_to_json(annotations, version))
        if load_features is not None:
            (tmp / FEATURES_DIR).mkdir()
            it = ids
            if progress:
                from tqdm.auto import tqdm
                it = tqdm(ids, desc="writing features", unit="video")
            for vid in it:
                arr = np.asarray(load_features(vid), np.float32)
                np.save(tmp / FEATURES_DIR / f"{vid}.npy", arr)
    return path


def write_root_streaming(path, classes, videos, *, version: str = "1.0") -> Path:
    """Writes an interchange root from an iterator of ``(annotation, features)``,
    holding one video in memory at a time (atomically, like :func:`write_root`)."""
    path = Path(path)
    annotations = {}
    with io_utils.atomic_directory(path) as tmp:
        (tmp / FEATURES_DIR).mkdir()
        for ann, feats in videos:
            annotations[ann.video_id] = ann
            np.save(tmp / FEATURES_DIR / f"{ann.video_id}.npy", np.asarray(feats, np.float32))
        io_utils.write_json(tmp / ANNOTATIONS_FILE,
                            annotations_to_json(AnnotationSet(classes, annotations), version))
    return path
