"""Readers of the annotation and feature formats the WTAL field uses.

Each reader returns an :class:`~wtal_tf.data.video.AnnotationSet` (or a
feature store) and keeps every segment exactly as given: segments past a
video's duration, or even with ``end <= start``, are the validator's business,
because the official evaluators use them as they are.

Formats:
    * ActivityNet-style JSON (also BaS-Net's ``gt.json``): times as numbers or
      strings, ``duration`` optional, ``classes`` optional.
    * RefineLoc CSV: ``video-name,t-start,t-end,label,video-duration,...``,
      ``label`` a class name or an index into a class list.
    * W-TALC packed ``.npy`` arrays (``videoname``, ``subset``, ``duration``,
      ``segments``, ``labels``, ``classlist``); the object arrays are pickles,
      so reading them needs ``allow_pickle=True`` (the CLI's
      ``--allow-pickle``): pickles can run code.
    * Features: ``<dir>/<vid>.npy``, two-stream ``<dir>/rgb/<vid>.npy`` +
      ``<dir>/flow/<vid>.npy`` (concatenated on the feature axis), or a W-TALC
      packed features ``.npy`` (object array aligned with ``videoname``).
"""

from __future__ import annotations

import csv
import json
import re
import sys
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from wtal_tf.data.video import (
    AnnotationSet, Segment, VideoAnnotation, classes_from_labels,
    parse_time)
from wtal_tf.errors import WtalError

#: Subset spellings seen in the field, normalised to ActivityNet's names.
SUBSET_ALIASES = {"train": "training", "training": "training",
                  "val": "validation", "valid": "validation",
                  "validation": "validation", "test": "testing",
                  "testing": "testing"}

#: THUMOS'14 trains on its validation videos and tests on its test videos
#: (AutoLoc §5.1, RefineLoc §4.1); converting with this map gives a root whose
#: ``training`` subset is the training data.
THUMOS14_SUBSET_MAP = {"validation": "training", "testing": "testing"}


def normalise_subset(name, *, path=None, video_id=None,
                     subset_map: Mapping[str, str] | None = None) -> str:
    if isinstance(name, bytes):
        name = name.decode()
    key = SUBSET_ALIASES.get(str(name).strip().lower())
    if key is None:
        raise WtalError(f"subset {name!r} is not one of {sorted(SUBSET_ALIASES)}",
                        path=path, video_id=video_id)
    if subset_map:
        key = subset_map.get(key, key)
    return key


def load_json(path) -> object:
    path = Path(path)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise WtalError("file not found", path=path) from None
    except json.JSONDecodeError as e:
        raise WtalError(f"malformed JSON ({e})", path=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise WtalError(f"cannot read file ({e})", path=path) from None


def read_classlist(path) -> tuple[str, ...]:
    """A class list: a text file (one name a line) or W-TALC's ``classlist.npy``."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise WtalError(f"cannot read class list ({e})", path=path) from None
        return tuple(_to_str(x) for x in arr.reshape(-1))
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise WtalError(f"cannot read class list ({e})", path=path) from None
    names = tuple(line.strip() for line in lines if line.strip())
    if len(set(names)) != len(names):
        raise WtalError("class list has duplicate names", path=path)
    return names


def _to_str(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _segment_pair(seg, *, path, video_id):
    if not isinstance(seg, (list, tuple)) or len(seg) != 2:
        raise WtalError(f"segment {seg!r} is not a [start, end] pair",
                        path=path, video_id=video_id)
    return (parse_time(seg[0], path=path, video_id=video_id, what="segment start"),
            parse_time(seg[1], path=path, video_id=video_id, what="segment end"))


def read_activitynet_json(path, *, subset_map=None, classes=None) -> AnnotationSet:
    """ActivityNet-style ground truth (the interchange format, BaS-Net gt.json).

    Args:
        path: the JSON file.
        subset_map: optional renaming of normalised subsets (e.g.
            ``THUMOS14_SUBSET_MAP``).
        classes: the class order; default the file's ``classes`` entry, else
            the sorted labels.
    """
    path = Path(path)
    return activitynet_from_json(load_json(path), path, subset_map=subset_map, classes=classes)


def activitynet_from_json(data, path, *, subset_map=None, classes=None) -> AnnotationSet:
    """``read_activitynet_json`` on an already parsed file (``path`` names it in errors)."""
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise WtalError("expected an object with a 'database' mapping of video "
                        "ids to entries (ActivityNet format)", path=path)
    videos: dict[str, VideoAnnotation] = {}
    for vid, entry in data["database"].items():
        if not isinstance(entry, dict):
            raise WtalError("entry is not an object", path=path, video_id=vid)
        subset = normalise_subset(entry.get("subset", "training"), path=path,
                                  video_id=vid, subset_map=subset_map)
        duration = entry.get("duration")
        if duration is not None:
            duration = parse_time(duration, path=path, video_id=vid, what="duration")
        sps = entry.get("seconds_per_snippet")
        if sps is not None:
            sps = parse_time(sps, path=path, video_id=vid, what="seconds_per_snippet")
        anns = entry.get("annotations", [])
        if not isinstance(anns, list):
            raise WtalError("'annotations' is not a list", path=path, video_id=vid)
        segments = []
        for ann in anns:
            if not isinstance(ann, dict) or "segment" not in ann or "label" not in ann:
                raise WtalError(f"annotation {ann!r} needs 'segment' and 'label'",
                                path=path, video_id=vid)
            s, e = _segment_pair(ann["segment"], path=path, video_id=vid)
            # one string object per class name, not one per segment
            segments.append(Segment(s, e, sys.intern(str(ann["label"]))))
        labels = entry.get("labels")
        videos[str(vid)] = VideoAnnotation(
            str(vid), subset, duration, segments,
            labels=None if labels is None else tuple(map(str, labels)),
            seconds_per_snippet=sps)
    if classes is None and data.get("classes") is not None:
        classes = tuple(map(str, data["classes"]))
    return AnnotationSet(classes or classes_from_labels(videos), videos, str(path))


CSV_COLUMNS = ("video-name", "t-start", "t-end", "label")


def read_refineloc_csv(path, *, subset: str = "validation", classes=None,
                       subset_map=None) -> AnnotationSet:
    """RefineLoc's ground-truth CSV.

    Args:
        path: the CSV (columns ``video-name,t-start,t-end,label,video-duration,...``).
        subset: the subset of every video in the file (the CSV has no column).
        classes: class list; needed when ``label`` is an index (THUMOS'14).
    """
    path = Path(path)
    subset = normalise_subset(subset, path=path, subset_map=subset_map)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise WtalError(f"CSV lacks columns {missing}; expected at least "
                                f"{list(CSV_COLUMNS)}", path=path)
            rows = list(reader)
    except FileNotFoundError:
        raise WtalError("file not found", path=path) from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise WtalError(f"malformed CSV ({e})", path=path) from None
    videos: dict[str, VideoAnnotation] = {}
    for line, row in enumerate(rows, start=2):
        vid = row["video-name"]
        if not vid:
            raise WtalError(f"line {line}: empty video-name", path=path)
        label = (row["label"] or "").strip()
        if classes is not None and re.fullmatch(r"\d+", label):
            idx = int(label)
            if idx >= len(classes):
                raise WtalError(f"line {line}: label index {idx} is outside the "
                                f"class list of {len(classes)}", path=path, video_id=vid)
            label = classes[idx]
        elif re.fullmatch(r"\d+", label):
            raise WtalError(f"line {line}: label {label!r} is an index; pass the "
                            "class list (--classlist)", path=path, video_id=vid)
        s = parse_time(row["t-start"], path=path, video_id=vid, what="t-start")
        e = parse_time(row["t-end"], path=path, video_id=vid, what="t-end")
        if vid not in videos:
            dur = row.get("video-duration")
            dur = parse_time(dur, path=path, video_id=vid, what="video-duration") if dur else None
            videos[vid] = VideoAnnotation(vid, subset, dur, [], labels=())
        videos[vid].segments.append(Segment(s, e, label))
    for v in videos.values():
        v.labels = tuple(sorted({s.label for s in v.segments}))
    return AnnotationSet(tuple(classes) if classes is not None
                         else classes_from_labels(videos), videos, str(path))


def _load_npy(path, *, allow_pickle: bool, what: str):
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except FileNotFoundError:
        raise WtalError(f"{what} file not found", path=path) from None
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise WtalError(
                f"{what} is a pickled object array; pickles can run code, so "
                "reading it needs an explicit opt-in (allow_pickle=True, CLI "
                "--allow-pickle)", path=path) from None
        raise WtalError(f"cannot read {what} ({e})", path=path) from None
    except OSError as e:
        raise WtalError(f"cannot read {what} ({e})", path=path) from None


def read_wtalc(folder, *, allow_pickle: bool = False, subset_map=None) -> AnnotationSet:
    """W-TALC's packed annotation set (``Thumos14reduced-Annotations/``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WtalError("expected a folder of W-TALC annotation arrays", path=folder)
    names = [_to_str(x) for x in _load_npy(folder / "videoname.npy", allow_pickle=False,
                                           what="videoname").reshape(-1)]
    n = len(names)
    subsets = _load_npy(folder / "subset.npy", allow_pickle=False, what="subset").reshape(-1)
    durations = _load_npy(folder / "duration.npy", allow_pickle=False,
                          what="duration").reshape(-1)
    segs = _load_npy(folder / "segments.npy", allow_pickle=allow_pickle, what="segments")
    labels = _load_npy(folder / "labels.npy", allow_pickle=allow_pickle, what="labels")
    classes = read_classlist(folder / "classlist.npy") if (folder / "classlist.npy").exists() else None
    for name, arr in (("subset", subsets), ("duration", durations),
                      ("segments", segs), ("labels", labels)):
        if len(arr) != n:
            raise WtalError(f"{name}.npy has {len(arr)} entries, videoname.npy has {n}",
                            path=folder)
    videos = {}
    for i, vid in enumerate(names):
        s_list, l_list = list(segs[i]), list(labels[i])
        if len(s_list) != len(l_list):
            raise WtalError(f"{len(s_list)} segments but {len(l_list)} labels",
                            path=folder / "segments.npy", video_id=vid)
        segments = []
        for seg, lab in zip(s_list, l_list):
            s, e = _segment_pair(list(seg), path=folder / "segments.npy", video_id=vid)
            segments.append(Segment(s, e, _to_str(lab)))
        videos[vid] = VideoAnnotation(
            vid, normalise_subset(subsets[i], path=folder / "subset.npy", video_id=vid,
                                  subset_map=subset_map),
            float(durations[i]), segments)
    return AnnotationSet(classes or classes_from_labels(videos), videos, str(folder))


def read_ambiguous(path) -> dict[str, list[tuple[float, float]]]:
    """THUMOS'14 ``Ambiguous_test.txt``: ``video start end`` per line."""
    path = Path(path)
    out: dict[str, list[tuple[float, float]]] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise WtalError(f"cannot read ambiguous segments ({e})", path=path) from None
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise WtalError(f"line {n}: expected 'video start end'", path=path)
        vid = parts[0]
        out.setdefault(vid, []).append(
            (parse_time(parts[1], path=path, video_id=vid),
             parse_time(parts[2], path=path, video_id=vid)))
    return out


ANNOTATION_FORMATS = ("activitynet-json", "refineloc-csv", "wtalc")


def detect_annotation_format(path) -> str:
    path = Path(path)
    if path.is_dir():
        if (path / "videoname.npy").exists():
            return "wtalc"
        if (path / "annotations.json").exists():
            return "activitynet-json"
        raise WtalError("folder holds neither annotations.json nor W-TALC arrays",
                        path=path)
    if path.suffix.lower() == ".csv":
        return "refineloc-csv"
    if path.suffix.lower() == ".json":
        return "activitynet-json"
    raise WtalError("cannot tell the annotation format from the name; pass --format "
                    f"one of {ANNOTATION_FORMATS}", path=path)


def read_annotations(path, *, format: str | None = None, classes=None,
                     subset: str = "validation", subset_map=None,
                     allow_pickle: bool = False) -> AnnotationSet:
    """Reads ground truth in any supported format (auto-detected by default)."""
    path = Path(path)
    fmt = format or detect_annotation_format(path)
    if fmt == "activitynet-json":
        if path.is_dir():
            path = path / "annotations.json"
        return read_activitynet_json(path, subset_map=subset_map, classes=classes)
    if fmt == "refineloc-csv":
        return read_refineloc_csv(path, subset=subset, classes=classes,
                                  subset_map=subset_map)
    if fmt == "wtalc":
        return read_wtalc(path, allow_pickle=allow_pickle, subset_map=subset_map)
    raise WtalError(f"unknown annotation format {fmt!r}; expected one of "
                    f"{ANNOTATION_FORMATS}", path=path)


# --------------------------------------------------------------------------
# Features


#: np.load parses .npy headers with ast.literal_eval, which CPython 3.11 does
#: not make thread-safe ("AST constructor recursion depth mismatch" when
#: tf.data's parallel map reads several files at once): loads are serialised.
_NPY_LOCK = threading.Lock()


def check_regular_file(path, *, video_id=None) -> None:
    """Opening a FIFO blocks until something writes to it (a hang), and a device
    or directory is no ``.npy`` either: refuse them before ``open``."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise WtalError("not a regular file (a FIFO, device or directory); expected a .npy "
                        "file", path=path, video_id=video_id)


def load_feature_file(path, *, video_id=None, mmap: bool = False) -> np.ndarray:
    """One ``[T, D]`` feature array, checked (memory-mapped on request)."""
    path = Path(path)
    check_regular_file(path, video_id=video_id)
    try:
        with _NPY_LOCK:
            if mmap:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            else:
                with open(path, "rb") as f:  # a file object: TFDS's test harness wants one
                    arr = np.load(f, allow_pickle=False)
    except FileNotFoundError:
        raise WtalError("feature file not found", path=path, video_id=video_id) from None
    except (ValueError, OSError, EOFError) as e:
        raise WtalError(f"unreadable or truncated .npy ({e})", path=path,
                        video_id=video_id) from None
    if arr.ndim != 2:
        raise WtalError(f"features must be [T, D], got shape {arr.shape}",
                        path=path, video_id=video_id)
    if arr.shape[0] < 1:
        raise WtalError("features have T = 0 snippets; expected T >= 1",
                        path=path, video_id=video_id)
    if not np.issubdtype(arr.dtype, np.floating):
        raise WtalError(f"features must be floating point, got {arr.dtype}",
                        path=path, video_id=video_id)
    return arr


class FeatureStore:
    """Maps a video id to its ``[T, D]`` float32 features, read on demand."""

    def ids(self) -> list[str]:
        raise NotImplementedError

    def path(self, video_id: str) -> Path:
        raise NotImplementedError

    def load(self, video_id: str) -> np.ndarray:
        raise NotImplementedError

    def __contains__(self, video_id) -> bool:
        return video_id in set(self.ids())


class NpyDirFeatures(FeatureStore):
    """``<root>/<vid>.npy`` per video (the interchange format's ``features/``)."""

    def __init__(self, root):
        self.root = Path(root)

    def ids(self):
        return sorted(p.stem for p in self.root.glob("*.npy"))

    def path(self, video_id):
        return self.root / f"{video_id}.npy"

    def __contains__(self, video_id):
        return self.path(video_id).exists()

    def load(self, video_id, *, mmap=False):
        arr = np.asarray(load_feature_file(self.path(video_id), video_id=video_id, mmap=mmap),
                         np.float32)
        if not np.isfinite(arr).all():
            raise WtalError(f"{int(np.count_nonzero(~np.isfinite(arr)))} NaN/inf values; "
                            "expected finite features", path=self.path(video_id),
                            video_id=video_id)
        return arr


class TwoStreamFeatures(FeatureStore):
    """``<root>/rgb/<vid>.npy`` and ``<root>/flow/<vid>.npy``, concatenated.

    I3D RGB and flow dumps of one video often differ by a snippet or two at the
    end (the flow stream needs one frame more); the longer stream is cut to the
    shorter one when they differ by at most ``max_length_gap`` snippets, and
    anything more is an error.
    """

    def __init__(self, root, *, max_length_gap: int = 2):
        self.root = Path(root)
        self.max_length_gap = max_length_gap

    def ids(self):
        rgb = {p.stem for p in (self.root / "rgb").glob("*.npy")}
        flow = {p.stem for p in (self.root / "flow").glob("*.npy")}
        return sorted(rgb | flow)

    def path(self, video_id):
        return self.root / "rgb" / f"{video_id}.npy"

    def __contains__(self, video_id):
        return ((self.root / "rgb" / f"{video_id}.npy").exists()
                and (self.root / "flow" / f"{video_id}.npy").exists())

    def load(self, video_id, *, mmap=False):
        rgb = load_feature_file(self.root / "rgb" / f"{video_id}.npy", video_id=video_id)
        flow = load_feature_file(self.root / "flow" / f"{video_id}.npy", video_id=video_id)
        gap = abs(rgb.shape[0] - flow.shape[0])
        if gap > self.max_length_gap:
            raise WtalError(f"rgb has T={rgb.shape[0]} snippets, flow T={flow.shape[0]}; "
                            f"expected equal lengths (up to {self.max_length_gap})",
                            path=self.root, video_id=video_id)
        t = min(rgb.shape[0], flow.shape[0])
        return np.concatenate([rgb[:t], flow[:t]], axis=1).astype(np.float32)


class PackedFeatures(FeatureStore):
    """W-TALC's packed features: an object array of ``[T, D]`` aligned with names."""

    def __init__(self, path, video_ids: Sequence[str], *, allow_pickle: bool = False):
        self.file = Path(path)
        arr = _load_npy(self.file, allow_pickle=allow_pickle, what="packed features")
        if len(arr) != len(video_ids):
            raise WtalError(f"{len(arr)} feature arrays for {len(video_ids)} video names",
                            path=self.file)
        self._features = dict(zip(video_ids, arr))

    def ids(self):
        return sorted(self._features)

    def path(self, video_id):
        return self.file

    def __contains__(self, video_id):
        return video_id in self._features

    def load(self, video_id, *, mmap=False):
        if video_id not in self._features:
            raise WtalError("no features for this video", path=self.file, video_id=video_id)
        arr = np.asarray(self._features[video_id])
        if arr.ndim != 2 or arr.shape[0] < 1:
            raise WtalError(f"features must be [T, D] with T >= 1, got {arr.shape}",
                            path=self.file, video_id=video_id)
        return arr.astype(np.float32)


def open_features(path, *, video_ids: Iterable[str] | None = None,
                  allow_pickle: bool = False) -> FeatureStore:
    """Opens features in any supported layout (detected from ``path``)."""
    path = Path(path)
    if path.is_file():
        if video_ids is None:
            raise WtalError("a packed features file needs the video names "
                            "(from W-TALC's videoname.npy)", path=path)
        return PackedFeatures(path, list(video_ids), allow_pickle=allow_pickle)
    if (path / "rgb").is_dir() and (path / "flow").is_dir():
        return TwoStreamFeatures(path)
    if path.is_dir():
        return NpyDirFeatures(path)
    raise WtalError("features not found: expected a folder of <vid>.npy, a folder "
                    "with rgb/ and flow/, or a packed .npy file", path=path)
