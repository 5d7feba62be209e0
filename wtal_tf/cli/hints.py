"""Why a run produced nothing: which threshold nothing passed, and the value it
would need.  Computed from a command's outputs (CAS, history.json, refine.json)
after the work, so the methods themselves stay as they are; the CLI prints each
hint as a one-line warning.
"""

from __future__ import annotations

import json
from pathlib import Path

from wtal_tf.inference.explain import empty_segment_prediction  # noqa: F401 (CLI's hints)


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
