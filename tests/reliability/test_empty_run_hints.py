"""Issue 15, item 8: a run that produces nothing says which threshold nothing
passed and the value it would need."""

import json
import types

import numpy as np

from tests.reliability.cli_helpers import run_cli_out
from wtal_tf.cli import hints
from wtal_tf.configs import get_config


def _outputs(cas_max, fg):
    """One video: class scores peaking at ``cas_max`` for class 0, p_fg = ``fg``."""
    scores = np.full((6, 3), 0.05)
    scores[2, 0] = cas_max
    return {"v": types.SimpleNamespace(class_scores=scores, p_fg=np.asarray(fg),
                                       video_scores=np.array([0.9, 0.5, 0.1]))}


def test_zero_detections_below_alpha_c():
    cfg = get_config("synthetic_thumos_cas").test_segments   # alpha_c 0.35, alpha_a 0.5
    hint = hints.empty_segment_prediction(_outputs(0.27, [0.9] * 6), cfg)
    assert hint.startswith("0 detections: no snippet's class score reached alpha_c = 0.35 "
                           "(highest 0.270; alpha_c <= 0.270 would let it pass)")


def test_zero_detections_below_the_foreground_threshold():
    cfg = get_config("synthetic_thumos_cas").test_segments
    hint = hints.empty_segment_prediction(_outputs(0.8, [0.3] * 6), cfg)
    assert "foreground probability reached 1 - alpha_a = 0.5 (highest p_fg 0.300; " \
           "alpha_a >= 0.700 would let it pass)" in hint


def test_zero_detections_when_no_snippet_passes_both():
    cfg = get_config("synthetic_thumos_cas").test_segments
    fg = [0.9, 0.9, 0.1, 0.9, 0.9, 0.9]          # the high-CAS snippet is background
    hint = hints.empty_segment_prediction(_outputs(0.8, fg), cfg)
    assert "no snippet passed both alpha_c = 0.35 and p_fg >= 0.5 at once (highest class " \
           "score among snippets with that p_fg: 0.050)" in hint


def test_predict_after_a_short_training_warns(cas_run, tiny_root, tmp_path, capsys):
    code, out, err = run_cli_out(capsys, "predict", cas_run, "--data", tiny_root, "--out",
                                 tmp_path / "d.json")
    assert code == 0 and "0 detections in 0 videos" in out
    lines = [line for line in err.splitlines() if line.startswith("wtal ")]  # not tqdm's
    assert len(lines) == 1 and lines[0].startswith(
        "wtal predict: warning: 0 detections: no snippet's class score reached alpha_c = 0.35 "
        "(highest 0.")


def test_autoloc_training_that_kept_no_segment(autoloc_run):
    """The shared AutoLoc run trained on a 1-epoch CAS model: kept_segments 0, loss 0."""
    history = json.loads((autoloc_run / "history.json").read_text())
    assert max(history["kept_segments"]) == 0
    (line,) = hints.autoloc_training(autoloc_run)
    assert "kept_segments is 0 in every epoch, so the loss is 0" in line
    assert "cas_threshold 0.1 on the gated CAS, oic_threshold -0.3" in line


def test_autoloc_training_that_kept_segments_says_nothing(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps({"kept_segments": [0.0, 2.5]}))
    (tmp_path / "config.json").write_text(json.dumps({"autoloc": {}}))
    assert hints.autoloc_training(tmp_path) == []


def test_refinement_without_pseudo_foreground(tmp_path):
    (tmp_path / "refine.json").write_text(json.dumps({
        "generator": "segment_prediction",
        "iterations": [{"iteration": 0, "pseudo_foreground_ratio": None},
                       {"iteration": 1, "pseudo_foreground_ratio": 0.0},
                       {"iteration": 2, "pseudo_foreground_ratio": 0.4}]}))
    cfg = get_config("synthetic_thumos_refineloc")
    (line,) = hints.refinement(tmp_path, cfg)
    assert "iteration 1: the pseudo labels have no foreground snippet (pseudo-fg 0.000), so " \
           "iteration 1 learned the same video labels as iteration 0 and repeats it" in line
    assert f"pseudo_segments alpha_c {cfg.pseudo_segments.alpha_c:g}" in line
