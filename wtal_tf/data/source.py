"""A data source for trainers: a dataset root or a TFDS dataset, same interface.

Splits are ``train`` (training videos minus the holdout), ``holdout`` and
``test``; see :mod:`wtal_tf.data.splits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from wtal_tf.data.video import AnnotationSet, Segment, VideoAnnotation, seconds_per_snippet
from wtal_tf.errors import WtalError

SPLITS = ("train", "holdout", "test")


class DataSource:
    """What a trainer needs from data."""

    classes: tuple[str, ...]
    feature_dim: int
    description: str

    def video_ids(self, split: str) -> list[str]:
        raise NotImplementedError

    def annotation(self, video_id: str) -> VideoAnnotation:
        raise NotImplementedError

    def dataset(self, split: str, *, shuffle: bool = False, seed: int = 0,
                extras: Mapping[str, Callable] | None = None, extra_specs=None):
        raise NotImplementedError

    def epoch_batches(self, split: str, *, seed: int, start_epoch: int, epochs: int,
                      batch_fn, extras=None, extra_specs=None, length_window: int = 0,
                      batch_size: int = 0):
        """Batches for epochs ``start_epoch..epochs-1``, each epoch's order fixed by
        ``(seed, epoch)`` (what makes a resumed training match an uninterrupted one)."""
        base = self.dataset(split, extras=extras, extra_specs=extra_specs)
        # One dataset per epoch with a Python seed: ``shuffle`` needs a Python int
        # (a seed computed from flat_map's epoch tensor raised
        # OperatorNotAllowedInGraphError).
        out = None
        for epoch in range(start_epoch, epochs):
            one = batch_fn(base.shuffle(256, seed=int(seed) * 100003 + epoch))
            out = one if out is None else out.concatenate(one)
        if out is None:  # nothing left to train (resumed at the end)
            out = batch_fn(base.take(0))
        return out

    def ground_truth(self, split: str) -> AnnotationSet:
        """Annotations of a split, for evaluation."""
        ids = self.video_ids(split)
        return AnnotationSet(self.classes, {v: self.annotation(v) for v in ids})

    def fingerprint(self) -> str:
        raise NotImplementedError

    def num_snippets(self, video_id: str) -> int:
        raise NotImplementedError

    def typical_stride(self) -> float | None:
        """Median seconds per snippet of the training videos (the export's default)."""
        strides = []
        for vid in self.video_ids("train")[:2000]:
            try:
                strides.append(seconds_per_snippet(self.annotation(vid), self.num_snippets(vid)))
            except WtalError:
                continue
        return float(np.median(strides)) if strides else None

    def to_dict(self) -> dict:
        return {"description": self.description, "classes": list(self.classes),
                "feature_dim": self.feature_dim, "fingerprint": self.fingerprint(),
                "seconds_per_snippet": self.typical_stride(),
                "split_sizes": {s: len(self.video_ids(s)) for s in SPLITS}}


class RootSource(DataSource):
    """An interchange dataset root (``annotations.json`` + ``features/``)."""

    def __init__(self, path, *, root=None):
        from wtal_tf.data import interchange, splits

        self.root = root or interchange.open_root(path)
        self.classes = self.root.classes
        self._splits = splits.split_ids(self.root.annotations)
        if not self._splits["train"] and not self._splits["test"]:
            raise WtalError("no 'training', 'validation' or 'testing' videos", path=path)
        self.feature_dim = self.root.feature_dim()
        self.description = f"root:{Path(self.root.path).resolve()}"
        self._check_features()

    def _check_features(self):
        """Fails early, naming file and video, on what would break training later:
        missing, unreadable or truncated files, T = 0, a D unlike the others, labels
        outside the class list.  (NaN/inf are caught when a video is read.)"""
        from wtal_tf.data.readers import load_feature_file

        self._lengths = {}
        for split in SPLITS:
            for vid in self._splits[split]:
                path = self.root.features.path(vid)
                arr = load_feature_file(path, video_id=vid, mmap=True)
                self._lengths[vid] = int(arr.shape[0])
                if arr.shape[1] != self.feature_dim:
                    raise WtalError(f"features have D = {arr.shape[1]}, expected D = "
                                    f"{self.feature_dim} like the other videos", path=path,
                                    video_id=vid)
                try:
                    self.root.annotations.videos[vid].multi_hot(self.classes)
                except WtalError as e:
                    raise WtalError(e.reason, path=self.root.path / "annotations.json",
                                    video_id=vid) from None

    def video_ids(self, split):
        return list(self._splits[split])

    def annotation(self, video_id):
        return self.root.annotations.videos[video_id]

    def features(self, video_id) -> np.ndarray:
        return self.root.features.load(video_id)

    def num_snippets(self, video_id) -> int:
        # read once from the headers when the source was opened
        return self._lengths[video_id]

    def dataset(self, split, *, shuffle=False, seed=0, extras=None, extra_specs=None):
        from wtal_tf.data import pipeline

        return pipeline.from_root(self.root, self.video_ids(split), shuffle=shuffle,
                                  seed=seed, extras=extras, extra_specs=extra_specs)

    def epoch_batches(self, split, *, seed, start_epoch, epochs, batch_fn, extras=None,
                      extra_specs=None, length_window=0, batch_size=0):
        from wtal_tf.data import pipeline

        return pipeline.epoch_batches(self.root, self.video_ids(split), seed=seed,
                                      start_epoch=start_epoch, epochs=epochs, batch_fn=batch_fn,
                                      extras=extras, extra_specs=extra_specs,
                                      length_window=length_window, batch_size=batch_size,
                                      lengths=self._lengths)

    def fingerprint(self):
        return self.root.fingerprint()


class TfdsSource(DataSource):
    """A TFDS dataset built by one of ``wtal_datasets``' builders."""

    def __init__(self, name: str, data_dir=None):
        import tensorflow_datasets as tfds

        import wtal_datasets  # noqa: F401 -- registers the builders

        self.name = name
        try:
            self.builder = tfds.builder(name, data_dir=data_dir)
        except Exception as e:  # noqa: BLE001 -- unknown name or config: a user mistake
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WtalError(f"not a TFDS dataset or config ({first}); wtal's are "
                            "thumos14/i3d|tsn, activitynet12/i3d|tsn, "
                            "wtal_synthetic/thumos|anet|thumos_tiny", path=f"tfds:{name}"
                            ) from None
        try:
            self.builder.download_and_prepare()
        except Exception as e:  # noqa: BLE001 -- e.g. manual files missing
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WtalError(f"cannot prepare the dataset ({first}); see its "
                            "MANUAL_DOWNLOAD_INSTRUCTIONS", path=f"tfds:{name}") from None
        self.classes = tuple(self.builder.info.metadata["classes"])
        self.feature_dim = int(self.builder.info.features["features"].shape[-1])
        self.description = f"tfds:{name}"
        self._annotations: dict[str, VideoAnnotation] = {}
        self._ids: dict[str, list[str]] = {}
        for split in SPLITS:
            ids = []
            ds = self.builder.as_dataset(split=split).map(
                lambda e: {k: e[k] for k in ("video_id", "duration", "seconds_per_snippet",
                                             "segments", "labels")})
            for ex in ds.as_numpy_iterator():
                vid = ex["video_id"].decode()
                segs = [Segment(float(s[0]), float(s[1]), self.classes[int(lab)])
                        for s, lab in zip(ex["segments"]["segment"], ex["segments"]["label"])]
                labels = tuple(c for c, y in zip(self.classes, ex["labels"]) if y > 0)
                self._annotations[vid] = VideoAnnotation(
                    vid, "training" if split != "test" else "testing",
                    float(ex["duration"]), segs, labels=labels,
                    seconds_per_snippet=float(ex["seconds_per_snippet"]))
                ids.append(vid)
            self._ids[split] = ids

    def video_ids(self, split):
        return list(self._ids[split])

    def annotation(self, video_id):
        return self._annotations[video_id]

    def features(self, video_id) -> np.ndarray:
        raise WtalError("random access to TFDS features is not supported; iterate "
                        "dataset()", video_id=video_id)

    def num_snippets(self, video_id) -> int:
        a = self._annotations[video_id]
        return max(1, int(round(a.duration / a.seconds_per_snippet)))

    def dataset(self, split, *, shuffle=False, seed=0, extras=None, extra_specs=None):
        import tensorflow as tf

        from wtal_tf.data import pipeline

        ds = pipeline.from_tfds(self.name, split, shuffle=shuffle, seed=seed,
                                data_dir=self.builder.data_dir_root)
        if extras:
            names = list(extras)

            def join(e):
                def load(vid):
                    v = vid.decode()
                    return [np.asarray(extras[k](v), extra_specs[k].dtype.as_numpy_dtype)
                            for k in names]
                arrays = tf.numpy_function(load, [e["video_id"]],
                                           [extra_specs[k].dtype for k in names])
                out = dict(e)
                for k, a in zip(names, arrays):
                    out[k] = tf.ensure_shape(a, extra_specs[k].shape)
                return out
            ds = ds.map(join)
        return ds

    def fingerprint(self):
        info = self.builder.info
        return f"{self.name}@{info.version}:" + ",".join(
            f"{s}={info.splits[s].num_examples}" for s in SPLITS)


def open_source(data=None, tfds_name=None, tfds_data_dir=None) -> DataSource:
    if (data is None) == (tfds_name is None):
        raise WtalError("give exactly one of --data ROOT or --tfds NAME")
    if data is not None:
        return RootSource(data)
    return TfdsSource(tfds_name, data_dir=tfds_data_dir)
