"""RefineLoc: generators by hand, sampling, no test-split labels, re-runs reproduce."""

import json

import numpy as np
import pytest

from wtal_tf.configs import SegmentPredictionConfig
from wtal_tf.data.detections import Detections
from wtal_tf.errors import WtalError
from wtal_tf.training import pseudo_labels as pl
from wtal_tf.inference.cas import VideoOutputs
from tests.conftest import make_root


def _outputs():
    # T = 8, K = 2: class 0 strong on 2..4, attention high on 2..5
    scores = np.full((8, 2), 0.5, np.float32)
    scores[2:5, 0] = 0.9
    scores[2:5, 1] = 0.1
    p_fg = np.array([0.1, 0.2, 0.9, 0.8, 0.95, 0.6, 0.3, 0.1], np.float32)
    return VideoOutputs("v", scores, p_fg, np.array([0.8, 0.2], np.float32),
                        np.array([1, 0], np.float32))


def test_class_activation_and_attention_generators_by_hand():
    out = _outputs()
    assert pl.class_activation(out.class_scores, 0.6).tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert pl.attention(out.p_fg, 0.5).tolist() == [0, 0, 1, 1, 1, 1, 0, 0]


def test_segment_generator_by_hand():
    out = _outputs()
    cfg = SegmentPredictionConfig(alpha_a=0.5, alpha_c=0.6, top_k=1, inflate=1)
    p = pl.generate("segment_prediction", {"v": out}, video_ids=["v"], test_ids=[], seed=0,
                    sample_fraction=1.0, segment_cfg=cfg)
    # class 0 kept on 2..4 (p_fg >= .5 and score >= .6), inflated by 1 -> 1..5
    assert p.labels["v"].tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    assert pl.from_segments(6, np.array([[-2.0, 0.4], [4.6, 9.0]])).tolist() == [
        1, 0, 0, 0, 0, 1]


def test_segment_generator_from_detections_in_seconds():
    dets = Detections.from_rows([("v", 1.0, 2.0, 0.9, "a"), ("w", 0.0, 1.0, 0.5, "a")])
    # stride 0.5 s: [1.0, 2.0) s is snippets 2..3
    p = pl.generate("segment_prediction", {}, video_ids=["v"], test_ids=[], seed=0,
                    sample_fraction=1.0, detections=dets, stride_of=lambda vid, t: 0.5,
                    lengths={"v": 6})
    assert p.labels["v"].tolist() == [0, 0, 1, 1, 0, 0]
    assert p.meta["from_detections"] is True


def test_random_generators_and_weak_supervision_flag():
    rng = np.random.default_rng(0)
    u = pl.uniform_random(20000, rng)
    assert abs(u.mean() - 0.5) < 0.02
    d = pl.distribution_aware(20000, rng, 0.3)
    assert abs(d.mean() - 0.3) < 0.02
    with pytest.raises(WtalError, match="not weakly supervised"):
        pl.distribution_aware(10, rng, None)
    p = pl.generate("distribution_aware", {}, video_ids=["v"], test_ids=[], seed=0,
                    sample_fraction=0.5, foreground_ratio=0.3, lengths={"v": 10})
    assert p.meta["weakly_supervised"] is False
    p = pl.generate("uniform_random", {}, video_ids=["v"], test_ids=[], seed=0,
                    sample_fraction=0.5, lengths={"v": 10})
    assert p.meta["weakly_supervised"] is True


@pytest.mark.parametrize("t_len,fraction,expected", [(10, 0.8, 8), (7, 0.7, 5), (1, 0.1, 1),
                                                     (200, 0.8, 160)])
def test_sampling_fraction_is_respected(t_len, fraction, expected):
    m = pl.sample_mask(t_len, fraction, np.random.default_rng(1))
    assert int(m.sum()) == expected and set(np.unique(m)) <= {0, 1}


def test_never_for_test_videos():
    with pytest.raises(WtalError, match="never made for test videos"):
        pl.generate("uniform_random", {}, video_ids=["a", "t1"], test_ids=["t1"], seed=0,
                    sample_fraction=0.8, lengths={"a": 3, "t1": 3})


def test_artifact_round_trip(tmp_path):
    p = pl.generate("uniform_random", {}, video_ids=["a", "b"], test_ids=[], seed=3,
                    sample_fraction=0.5, lengths={"a": 5, "b": 9})
    p.save(tmp_path / "it1" / "pseudo_labels")
    q = pl.PseudoLabels.load(tmp_path / "it1" / "pseudo_labels")
    for vid in ("a", "b"):
        np.testing.assert_array_equal(p.labels[vid], q.labels[vid])
        np.testing.assert_array_equal(p.samples[vid], q.samples[vid])
    meta = json.loads((tmp_path / "it1" / "pseudo_labels.json").read_text())
    assert meta["generator"] == "uniform_random" and meta["num_videos"] == 2
    assert q.agreement(p) == 1.0


@pytest.mark.slow
def test_refine_loop_and_rerun_from_stored_labels(tmp_path):
    import dataclasses

    import tensorflow as tf

    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource
    from wtal_tf.training.refineloc import load_iteration, read_refine, refine, train_iteration

    make_root(tmp_path / "d", num_train=20, num_test=4, dim=16, min_snippets=20, max_snippets=60)
    source = RootSource(tmp_path / "d")
    cfg = get_config("synthetic_thumos_refineloc")
    cfg = cfg.replace(train=dataclasses.replace(cfg.train, epochs=3))
    results = refine(cfg, source, tmp_path / "run", iterations=2, seed=5)
    assert [r.iteration for r in results] == [0, 1, 2]
    info = read_refine(tmp_path / "run")
    assert info["selected_iteration"] == 2 and info["selection"] == "fixed"
    # the stored labels cover exactly the training videos (holdout included), no test video
    labels = pl.PseudoLabels.load(tmp_path / "run" / "iter_1" / "pseudo_labels")
    assert set(labels.labels) == set(source.video_ids("train") + source.video_ids("holdout"))
    assert not set(labels.labels) & set(source.video_ids("test"))
    # re-running iteration 1 from its stored labels reproduces the model
    before = [w.numpy() for w in load_iteration(tmp_path / "run", 1).weights]
    tf.config.experimental.enable_op_determinism()
    model, _ = train_iteration(cfg, source, tmp_path / "run", 1, seed=5)
    first = [w.numpy() for w in model.weights]
    model, _ = train_iteration(cfg, source, tmp_path / "run", 1, seed=5)
    for a, b in zip(first, model.weights):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(before, first):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_early_stopping_by_hand():
    from wtal_tf.training.refineloc import IterationResult, stop_early

    def runs(*losses):
        return [IterationResult(i, x) for i, x in enumerate(losses)]

    assert not stop_early(0, runs(1.0, 2.0, 3.0, 4.0))          # off
    assert not stop_early(3, runs(1.0, 2.0, 3.0))               # too few iterations yet
    assert stop_early(3, runs(1.0, 2.0, 3.0, 1.0))              # none of the last 3 < 1.0
    assert not stop_early(3, runs(1.0, 2.0, 0.9, 3.0))          # iteration 2 improved
    assert not stop_early(2, runs(1.0, 0.5, 0.7))               # 0.5 < 1.0
