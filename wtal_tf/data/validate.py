"""``wtal data validate``: every problem of a dataset root, reported at once.

Errors make the root unusable (non-zero exit); warnings describe real-world
dirt that is kept as given because the official evaluators use it (segments
starting or ending past the video's duration exist in THUMOS'14 and
ActivityNet 1.2).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from wtal_tf.data.interchange import ANNOTATIONS_FILE, FEATURES_DIR
from wtal_tf.data.readers import SUBSET_ALIASES, check_regular_file
from wtal_tf.errors import WtalError


@dataclasses.dataclass
class Problem:
    path: str
    video_id: str | None
    message: str

    def __str__(self):
        vid = f" video {self.video_id!r}:" if self.video_id is not None else ""
        return f"{self.path}:{vid} {self.message}"


@dataclasses.dataclass
class Report:
    errors: list[Problem] = dataclasses.field(default_factory=list)
    warnings: list[Problem] = dataclasses.field(default_factory=list)
    num_videos: int = 0
    num_segments: int = 0
    feature_dim: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        lines = [f"error: {p}" for p in self.errors]
        lines += [f"warning: {p}" for p in self.warnings]
        lines.append(f"{self.num_videos} videos, {self.num_segments} segments, "
                     f"D={self.feature_dim}: {len(self.errors)} errors, "
                     f"{len(self.warnings)} warnings")
        return "\n".join(lines)


class _DuplicateKeys(dict):
    pass


def _object_pairs(pairs):
    d = _DuplicateKeys()
    dups = []
    for k, v in pairs:
        if k in d:
            dups.append(k)
        d[k] = v
    d.duplicates = dups
    return d


def validate_root(root) -> Report:
    """Checks an interchange root without stopping at the first problem."""
    root = Path(root)
    report = Report()
    ann_path = root / ANNOTATIONS_FILE
    ann_file = str(ann_path)
    try:
        text = ann_path.read_text()
    except OSError as e:
        report.errors.append(Problem(ann_file, None, f"cannot read ({e})"))
        return report
    try:
        data = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as e:
        report.errors.append(Problem(ann_file, None, f"malformed JSON ({e})"))
        return report
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        report.errors.append(Problem(ann_file, None, "expected a 'database' object"))
        return report
    for vid in getattr(database, "duplicates", []):
        report.errors.append(Problem(ann_file, vid, "duplicate video id"))
    classes = data.get("classes")
    if classes is not None:
        dup = [c for c, n in collections.Counter(classes).items() if n > 1]
        if dup:
            report.errors.append(Problem(ann_file, None, f"duplicate class names {dup}"))
        class_set = set(map(str, classes))
    else:
        class_set = None
    feat_dir = root / FEATURES_DIR
    dims: dict[int, list[str]] = collections.defaultdict(list)
    report.num_videos = len(database)
    for vid, entry in database.items():
        if not isinstance(entry, dict):
            report.errors.append(Problem(ann_file, vid, "entry is not an object"))
            continue
        subset = str(entry.get("subset", "training")).lower()
        if subset not in SUBSET_ALIASES:
            report.errors.append(Problem(ann_file, vid, f"unknown subset {subset!r}"))
        duration = _check_timing(report, ann_file, vid, entry)
        _check_annotations(report, ann_file, vid, entry.get("annotations", []), duration,
                           class_set)
        _check_features(report, feat_dir / f"{vid}.npy", vid, dims)
    _check_feature_dims(report, feat_dir, dims, database)
    return report


def _check_timing(report: Report, ann_file: str, vid: str, entry: dict):
    """Duration and stride: what converts snippets to seconds; returns the duration."""
    duration = _number(entry.get("duration"))
    if entry.get("duration") is not None and (duration is None or duration <= 0):
        report.errors.append(Problem(ann_file, vid,
                                     f"duration {entry.get('duration')!r} is not a "
                                     "positive number"))
    if entry.get("duration") is None and entry.get("seconds_per_snippet") is None:
        report.errors.append(Problem(ann_file, vid,
                                     "neither 'duration' nor 'seconds_per_snippet': "
                                     "snippets cannot be converted to seconds; add one "
                                     "(wtal data convert --seconds-per-snippet)"))
    elif entry.get("seconds_per_snippet") is not None and not (
            (_number(entry.get("seconds_per_snippet")) or 0) > 0):
        report.errors.append(Problem(ann_file, vid,
                                     f"seconds_per_snippet "
                                     f"{entry.get('seconds_per_snippet')!r} is not a "
                                     "positive number"))
    return duration


def _check_annotations(report: Report, ann_file: str, vid: str, anns, duration, class_set):
    """Every segment ``[start, end]`` numeric, ordered, inside the video, of a known class."""
    if not isinstance(anns, list):
        report.errors.append(Problem(ann_file, vid, "'annotations' is not a list"))
        anns = []
    for i, ann in enumerate(anns):
        report.num_segments += 1
        seg = ann.get("segment") if isinstance(ann, dict) else None
        label = ann.get("label") if isinstance(ann, dict) else None
        if not isinstance(seg, (list, tuple)) or len(seg) != 2:
            report.errors.append(Problem(ann_file, vid,
                                         f"annotation {i}: segment {seg!r} is not "
                                         "[start, end]"))
            continue
        s, e = _number(seg[0]), _number(seg[1])
        if s is None or e is None:
            report.errors.append(Problem(ann_file, vid,
                                         f"annotation {i}: segment {seg!r} is not "
                                         "numeric"))
            continue
        if e <= s:
            report.errors.append(Problem(ann_file, vid,
                                         f"annotation {i}: end {e} <= start {s}; "
                                         "expected end > start"))
        if s < 0:
            report.warnings.append(Problem(ann_file, vid,
                                           f"annotation {i}: starts before 0 ({s})"))
        if duration is not None and s > duration:
            report.warnings.append(Problem(ann_file, vid,
                                           f"annotation {i}: starts at {s} past the "
                                           f"duration {duration} (kept as given)"))
        elif duration is not None and e > duration:
            report.warnings.append(Problem(ann_file, vid,
                                           f"annotation {i}: ends at {e} past the "
                                           f"duration {duration} (kept as given)"))
        if class_set is not None and str(label) not in class_set:
            report.errors.append(Problem(ann_file, vid,
                                         f"annotation {i}: label {label!r} is not in "
                                         "the class list"))


def _check_features(report: Report, fpath: Path, vid: str, dims: dict) -> None:
    """One video's ``[T, D]`` floating-point, finite features; records its D in ``dims``."""
    if not fpath.exists():
        report.errors.append(Problem(str(fpath), vid, "feature file missing"))
        return
    try:
        check_regular_file(fpath, video_id=vid)
    except WtalError as e:
        report.errors.append(Problem(str(fpath), vid, e.reason))
        return
    try:
        arr = np.load(fpath, mmap_mode="r", allow_pickle=False)
        if arr.ndim != 2:
            raise ValueError(f"shape {arr.shape}, expected [T, D]")
        if not np.issubdtype(arr.dtype, np.floating):
            report.errors.append(Problem(str(fpath), vid,
                                         f"features are {arr.dtype}; expected floating "
                                         "point (convert with .astype(np.float32))"))
            return
        if arr.shape[0] == 0:
            report.errors.append(Problem(str(fpath), vid,
                                         "T = 0 snippets; expected T >= 1"))
            return
        dims[int(arr.shape[1])].append(vid)
        if not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            report.errors.append(Problem(str(fpath), vid,
                                         f"{bad} NaN/inf values; expected finite "
                                         "features"))
    except Exception as e:  # noqa: BLE001 -- every unreadable file is reported
        report.errors.append(Problem(str(fpath), vid,
                                     f"unreadable or truncated .npy ({e})"))


def _check_feature_dims(report: Report, feat_dir: Path, dims: dict, database) -> None:
    """One D for all videos, and no features without an annotation entry."""
    if len(dims) > 1:
        common = max(dims, key=lambda d: len(dims[d]))
        for d, vids in dims.items():
            if d != common:
                for vid in vids:
                    report.errors.append(Problem(str(feat_dir / f"{vid}.npy"), vid,
                                                 f"D = {d}, but most videos have D = "
                                                 f"{common}"))
    if dims:
        report.feature_dim = max(dims, key=lambda d: len(dims[d]))
    if feat_dir.is_dir():
        for p in sorted(feat_dir.glob("*.npy")):
            if p.stem not in database:
                report.errors.append(Problem(str(p), p.stem,
                                             "features without an annotation entry"))


def _number(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None

