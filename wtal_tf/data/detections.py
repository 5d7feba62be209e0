"""Detections (predicted segments) and the ActivityNet results file format.

``{"version": ..., "results": {vid: [{"label", "score", "segment": [s, e]}]},
"external_data": {}}``; a bare ``{vid: [...]}`` mapping is read as well, and
segment times may be numbers or numeric strings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from wtal_tf import io_utils
from wtal_tf.data.readers import load_json
from wtal_tf.data.video import parse_time
from wtal_tf.errors import WtalError


@dataclasses.dataclass
class Detections:
    """Flat, column-wise detections: one row per predicted segment."""

    video_ids: np.ndarray  # [N] str
    starts: np.ndarray     # [N] float64, seconds
    ends: np.ndarray       # [N] float64, seconds
    scores: np.ndarray     # [N] float64
    labels: np.ndarray     # [N] str

    def __len__(self):
        return len(self.scores)

    @classmethod
    def empty(cls):
        return cls(np.array([], str), np.zeros(0), np.zeros(0), np.zeros(0),
                   np.array([], str))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, float, float, float, str]]):
        rows = list(rows)
        if not rows:
            return cls.empty()
        vids, s, e, sc, lab = zip(*rows)
        return cls(np.asarray(vids, str), np.asarray(s, float), np.asarray(e, float),
                   np.asarray(sc, float), np.asarray(lab, str))

    @classmethod
    def concatenate(cls, parts: Iterable["Detections"]):
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                     for f in dataclasses.fields(cls)))

    def select(self, mask) -> "Detections":
        return Detections(*(getattr(self, f.name)[mask] for f in dataclasses.fields(self)))

    def for_video(self, video_id: str) -> "Detections":
        return self.select(self.video_ids == video_id)

    def to_results(self) -> dict:
        results: dict[str, list] = {}
        order = np.argsort(-self.scores, kind="stable")
        for i in order:
            results.setdefault(str(self.video_ids[i]), []).append({
                "label": str(self.labels[i]), "score": float(self.scores[i]),
                "segment": [float(self.starts[i]), float(self.ends[i])]})
        return results


def detections_from_results(results: Mapping, *, path=None) -> Detections:
    rows = []
    for vid, preds in results.items():
        if not isinstance(preds, list):
            raise WtalError("expected a list of predictions", path=path, video_id=vid)
        for p in preds:
            if not isinstance(p, dict) or not {"label", "score", "segment"} <= set(p):
                raise WtalError(f"prediction {p!r} needs 'label', 'score' and 'segment'",
                                path=path, video_id=vid)
            seg = p["segment"]
            if not isinstance(seg, (list, tuple)) or len(seg) != 2:
                raise WtalError(f"segment {seg!r} is not [start, end]", path=path,
                                video_id=vid)
            rows.append((str(vid),
                         parse_time(seg[0], path=path, video_id=vid, what="segment start"),
                         parse_time(seg[1], path=path, video_id=vid, what="segment end"),
                         parse_time(p["score"], path=path, video_id=vid, what="score"),
                         str(p["label"])))
    return Detections.from_rows(rows)


def read_detections(path) -> Detections:
    """Reads a results file: the ``{"results": ...}`` wrapper or a bare dict."""
    path = Path(path)
    data = load_json(path)
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        return detections_from_results(data["results"], path=path)
    if (isinstance(data, dict) and "results" not in data
            and all(isinstance(v, list) for v in data.values())):
        return detections_from_results(data, path=path)
    raise WtalError("expected {'results': {video_id: [...]}} or a bare "
                    "{video_id: [...]} mapping of predictions", path=path)


def write_detections(path, detections: Detections, *, version="wtal-tf",
                     extra: dict | None = None) -> Path:
    """Writes the ActivityNet results format atomically."""
    obj = {"version": version, "results": detections.to_results(),
           "external_data": extra or {}}
    return io_utils.write_json(path, obj)
