"""Why a run produced nothing: which threshold nothing passed, and the value it
would need.  Computed from a command's outputs (CAS, history.json, refine.json)
after the work, so the methods themselves stay as they are; the CLI prints each
hint as a one-line warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def empty_segment_prediction(outputs, seg_cfg) -> str | None:
    """RefineLoc's segment prediction gave 0 detections on every video: say which
    of its thresholds (``test_segments`` / ``pseudo_segments``) nothing passed.

    Args:
        outputs: ``{video_id: VideoOutputs}`` (``class_scores [T, K]``, ``p_fg [T]``,
            ``video_scores [K]``).
        seg_cfg: the ``SegmentPredictionConfig`` that was applied.
    """
    if not outputs:
        return None
    fg_needed = 1.0 - seg_cfg.alpha_a
    best_cas = best_fg = best_both = 0.0
    for out in outputs.values():
        top = np.argsort(-np.asarray(out.video_scores))[: seg_cfg.top_k]
        cas = np.asarray(out.class_scores)[:, top].max(axis=1)      # [T]
        fg = np.asarray(out.p_fg)
        best_cas = max(best_cas, float(cas.max()))
        best_fg = max(best_fg, float(fg.max()))
        passing = cas[fg >= fg_needed]
        if passing.size:
            best_both = max(best_both, float(passing.max()))
    if best_cas < seg_cfg.alpha_c:
        why = (f"no snippet's class score reached alpha_c = {seg_cfg.alpha_c:g} (highest "
               f"{best_cas:.3f}; alpha_c <= {best_cas:.3f} would let it pass)")
    elif best_fg < fg_needed:
        why = (f"no snippet's foreground probability reached 1 - alpha_a = {fg_needed:g} "
               f"(highest p_fg {best_fg:.3f}; alpha_a >= {1 - best_fg:.3f} would let it pass)")
    else:
        why = (f"no snippet passed both alpha_c = {seg_cfg.alpha_c:g} and p_fg >= "
               f"{fg_needed:g} at once (highest class score among snippets with that p_fg: "
               f"{best_both:.3f})")
    return (f"0 detections: {why}; train longer (--epochs) or lower the thresholds in the "
            "config's segment prediction")


def autoloc_training(run_dir) -> list[str]:
    """AutoLoc learned nothing when no segment was kept in any epoch."""
    run_dir = Path(run_dir)
    try:
        history = json.loads((run_dir / "history.json").read_text())
        cfg = json.loads((run_dir / "config.json").read_text()).get("autoloc", {})
    except (OSError, ValueError):
        return []
    kept = history.get("kept_segments") or []
    if not kept or max(kept) > 0:
        return []
    return [f"{run_dir / 'history.json'}: kept_segments is 0 in every epoch, so the loss is 0 "
            "and the localization branch learned nothing: no position of the CAS run passed "
            f"OIC selection (cas_threshold {cfg.get('cas_threshold')} on the gated CAS, "
            f"oic_threshold {cfg.get('oic_threshold')}); train the CAS run longer or lower "
            "autoloc.cas_threshold"]


def refinement(run_dir, cfg) -> list[str]:
    """RefineLoc iterations trained on pseudo labels without any foreground."""
    path = Path(run_dir) / "refine.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    seg = cfg.pseudo_segments
    lines = []
    for it in info.get("iterations", []):
        ratio = it.get("pseudo_foreground_ratio")
        if ratio is not None and ratio == 0:
            eta = it["iteration"]
            lines.append(
                f"{path}: iteration {eta}: the pseudo labels have no foreground snippet "
                f"(pseudo-fg 0.000), so iteration {eta} learned the same video labels as "
                f"iteration {eta - 1} and repeats it: the {info.get('generator')} generator "
                "found no foreground in the previous model's outputs"
                + (f" (pseudo_segments alpha_c {seg.alpha_c:g}, alpha_a {seg.alpha_a:g})"
                   if info.get("generator") == "segment_prediction" else "")
                + "; train longer (--epochs) or use another --generator")
    return lines
