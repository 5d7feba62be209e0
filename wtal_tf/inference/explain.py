"""Why inference produced nothing, in one sentence (NumPy only: the CLI reads it
without importing TensorFlow)."""

from __future__ import annotations

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
