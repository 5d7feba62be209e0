"""Issue 14's additions: the supervised reference, multi-threshold segments, the
release's segment semantics and pseudo-label loss forms, the presets."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_root
from wtal_tf.configs import get_config
from wtal_tf.models.cas_model import CasModel, SupervisedSnippetModel
from wtal_tf.ops import cas as cas_ops
from wtal_tf.ops import segments as seg_ops


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_supervised_model_is_a_k_plus_1_snippet_classifier():
    model = SupervisedSnippetModel(3, num_layers=1, length_buckets_per_octave=0)
    assert SupervisedSnippetModel.from_config(model.get_config()).get_config() == \
        model.get_config()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.float32)
    labels = np.array([[0, 1, 2, 3, 3], [3, 2, 2, 0, 0]])
    out = model({"features": tf.constant(x), "mask": tf.constant(mask)})
    dense = model.classifier.out
    logits = x @ dense.kernel.numpy() + dense.bias.numpy()          # [2, 5, K + 1]
    p = _softmax(logits)
    # p_fg = 1 - p(background); C̄ = p(class | action)
    np.testing.assert_allclose(out["p_fg"].numpy(), 1 - p[..., 3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tf.nn.softmax(out["cas_logits"]).numpy(),
                               p[..., :3] / p[..., :3].sum(-1, keepdims=True), rtol=1e-5)
    loss = model.compute_loss({"mask": tf.constant(mask), "snippet_labels": tf.constant(labels)},
                              None, out)
    nll = -np.log(np.take_along_axis(p, labels[..., None], -1)[..., 0])
    np.testing.assert_allclose(float(loss), (nll * mask).sum() / mask.sum(), rtol=1e-5)


def test_snippet_labels_from_ground_truth(tmp_path):
    from wtal_tf.data.source import RootSource
    from wtal_tf.training.cas_task import snippet_label_extras

    root = make_root(tmp_path / "r", num_train=4, num_test=1, dim=4, min_snippets=10,
                     max_snippets=10)
    source = RootSource(root)
    fns, _ = snippet_label_extras(source)
    vid = source.video_ids("train")[0] if source.video_ids("train") else \
        source.video_ids("holdout")[0]
    ann = source.annotation(vid)
    labels = fns["snippet_labels"](vid)
    stride = ann.seconds_per_snippet or ann.duration / 10
    centres = (np.arange(10) + 0.5) * stride
    want = np.full(10, len(source.classes))
    for seg in ann.segments:
        want[(centres >= seg.start) & (centres < seg.end)] = source.classes.index(seg.label)
    np.testing.assert_array_equal(labels, want)


def test_contrast_scores_by_hand():
    signal = tf.constant([0, 0, 1, 1, 1, 1, 0, 0, 0, 0.5], tf.float32)
    # run 2..5 (4 snippets): outer side max(round(0.25 * 4), 1) = 1 -> snippets 1 and 6 (0)
    # run 0..9 fills the video: no outer area -> its inner mean
    # run 8..9: outer side 1 -> snippet 7 only (clipped at the end)
    got = seg_ops.contrast_scores(signal, tf.constant([2, 0, 8]), tf.constant([5, 9, 9]))
    np.testing.assert_allclose(got.numpy(), [1.0, 4.5 / 10, 0.25], rtol=1e-6)


def test_multi_threshold_finds_a_bump_at_any_scale():
    t = 40
    for scale in (1.0, 0.05):  # the fixed alpha_C = 0.35 would see nothing at 0.05
        scores = np.full((t, 2), 0.5, np.float32)
        scores[12:20, 0] = 0.5 + 0.5 * scale
        scores[12:20, 1] = 0.5 - 0.5 * scale
        scores /= scores.sum(1, keepdims=True)
        p_fg = np.full(t, 0.3, np.float32)
        p_fg[12:20] = 0.3 + 0.6 * scale
        seg, score, cls = seg_ops.multi_threshold_segments(
            tf.constant(scores), tf.constant(p_fg), tf.constant([0.9, 0.1]), top_k=1)
        best = int(np.argmax(score.numpy()))
        assert seg.numpy()[best].tolist() == [12.0, 19.0]
        assert int(cls.numpy()[best]) == 0
        # NMS at 0.5 leaves no two proposals of a class overlapping more than that
        s = seg.numpy()
        for i in range(len(s)):
            for j in range(i + 1, len(s)):
                inter = max(0, min(s[i, 1], s[j, 1]) + 1 - max(s[i, 0], s[j, 0]))
                union = (s[i, 1] - s[i, 0] + 1) + (s[j, 1] - s[j, 0] + 1) - inter
                assert inter / union <= 0.5 + 1e-6


def test_release_dilation_and_extra_end_by_hand():
    t = 20
    scores = np.zeros((t, 1), np.float32)
    scores[5:8] = 1.0
    scores[10:12] = 1.0      # a gap of 2 (snippets 8, 9): bridged by the release's dilation
    p_fg = np.ones(t, np.float32)
    common = dict(alpha_a=0.5, alpha_c=0.5, top_k=1)
    seg, score, _ = seg_ops.predict_segments(tf.constant(scores), tf.constant(p_fg),
                                             tf.constant([1.0]), **common)
    assert seg.numpy().tolist() == [[3.0, 9.0], [8.0, 13.0]]    # paper: gap of 2 splits
    seg, score, _ = seg_ops.predict_segments(
        tf.constant(scores), tf.constant(p_fg), tf.constant([1.0]), max_gap=2, dilation=1,
        extra_end=1, inflate=2, **common)
    # one run 5..11, dilated to 4..12 (scored there), padded by 2, one more at the end
    assert seg.numpy().tolist() == [[2.0, 15.0]]
    np.testing.assert_allclose(score.numpy(), [1 + 5 / 9 + 1.0], rtol=1e-6)


@pytest.mark.parametrize("switch, segments", [
    # the release's dilation alone: runs 5..7 and 10..11 widened to 4..8 and 9..12, then
    # inflated by 2 (max_gap 1 keeps the gap of 2 at snippets 8, 9)
    (dict(dilation=1), [[2.0, 10.0], [7.0, 14.0]]),
    # the score margin (issue 18's default): the paper's segments, runs inflated by 2 ...
    (dict(score_margin=1), [[3.0, 9.0], [8.0, 13.0]]),
])
def test_dilation_and_score_margin_score_over_one_more_snippet_each_side(switch, segments):
    t = 20
    scores = np.zeros((t, 1), np.float32)
    scores[5:8] = 1.0
    scores[10:12] = 1.0
    p_fg = np.ones(t, np.float32)
    seg, score, _ = seg_ops.predict_segments(
        tf.constant(scores), tf.constant(p_fg), tf.constant([1.0]), alpha_a=0.5, alpha_c=0.5,
        top_k=1, max_gap=1, inflate=2, **switch)
    assert seg.numpy().tolist() == segments
    # ... both scored over 4..8 and 9..12: 1 + 3/5 and 1 + 2/4, plus ŷ = 1
    np.testing.assert_allclose(score.numpy(), [2.6, 2.5], rtol=1e-6)
    # a window reaching past the video's ends is clamped to it
    seg, score, _ = seg_ops.predict_segments(
        tf.constant(scores[5:8]), tf.constant(p_fg[5:8]), tf.constant([1.0]), alpha_a=0.5,
        alpha_c=0.5, top_k=1, inflate=0, **switch)
    assert seg.numpy().tolist() == [[0.0, 2.0]]
    np.testing.assert_allclose(score.numpy(), [3.0], rtol=1e-6)


def test_test_semantics_defaults_of_issue_18():
    """configs/experiments.py, _SCORE_MARGIN and _BASE_MODEL_TEST_SEMANTICS: every
    method scores runs with a margin of one snippet; the base model also bridges gaps
    of 2 on ActivityNet-like data; the release presets keep the release's semantics;
    pseudo labels keep their own."""
    for dataset, base_gap in (("thumos14", 1), ("synthetic_thumos", 1), ("anet12", 2),
                              ("synthetic_anet", 2)):
        for method, max_gap in (("cas", base_gap), ("supervised", base_gap), ("refineloc", 1)):
            cfg = get_config(f"{dataset}_{method}")
            seg = cfg.test_segments
            assert (seg.max_gap, seg.dilation, seg.score_margin) == (max_gap, 0, 1)
            assert cfg.pseudo_segments.score_margin == 0 and cfg.pseudo_segments.dilation == 0
        rel = get_config(f"{dataset}_refineloc_release").test_segments
        assert (rel.max_gap, rel.dilation, rel.score_margin) == (2, 1, 0)
    from wtal_tf.configs.experiments import _BASE_MODEL_TEST_SEMANTICS, list_datasets
    assert sorted(_BASE_MODEL_TEST_SEMANTICS) == sorted(list_datasets())  # a new dataset decides


def test_runs_saved_before_the_score_margin_keep_rl_semantics_and_bad_values_fail():
    from wtal_tf.configs import config_from_dict
    from wtal_tf.configs.experiments import SegmentPredictionConfig
    from wtal_tf.errors import WtalError

    d = get_config("synthetic_thumos_cas").to_dict()
    del d["test_segments"]["score_margin"]   # a run directory older than issue 18
    assert config_from_dict(d).test_segments.score_margin == 0
    with pytest.raises(WtalError, match="score_margin must be an integer >= 0"):
        SegmentPredictionConfig(0.5, 0.35, score_margin=-1)


@pytest.mark.parametrize("heads", [2, 1])
@pytest.mark.parametrize("weighting", ["global", "none"])
def test_release_pseudo_label_losses_against_numpy(heads, weighting):
    rng = np.random.default_rng(3)
    b, t = 3, 8
    att = rng.standard_normal((b, t, heads)).astype(np.float32)
    g = (rng.random((b, t)) > 0.6).astype(np.float32)
    m = (rng.random((b, t)) < 0.8).astype(np.float32)
    w = 0.7  # #bg / #all over the training set
    got = float(cas_ops.pseudo_label_batch_loss(tf.constant(att), tf.constant(g),
                                                tf.constant(m), weighting, w))
    if heads == 2:
        p = _softmax(att)[..., 1]
        ce = -np.log(np.where(g > 0, p, 1 - p))
        cw = np.where(g > 0, w, 1 - w) if weighting == "global" else np.ones_like(g)
    else:
        p = 1 / (1 + np.exp(-att[..., 0]))
        pw = np.sqrt(w) if weighting == "global" else 1.0
        ce = -(pw * g * np.log(p) + (1 - g) * np.log(1 - p))
        cw = np.ones_like(g)
    # each video's (weighted) mean over its sampled snippets, then over videos
    want = np.mean([(cw[i] * ce[i] * m[i]).sum() / (cw[i] * m[i]).sum() for i in range(b)])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # a video with no sampled snippet contributes 0 (and no NaN)
    m0 = m.copy()
    m0[0] = 0
    got0 = float(cas_ops.pseudo_label_batch_loss(tf.constant(att), tf.constant(g),
                                                 tf.constant(m0), weighting, w))
    want0 = np.mean([0.0] + [(cw[i] * ce[i] * m0[i]).sum() / (cw[i] * m0[i]).sum()
                             for i in range(1, b)])
    np.testing.assert_allclose(got0, want0, rtol=1e-5)
    # the per-video form is the mean of the per-video losses
    per_video = cas_ops.pseudo_label_loss(tf.constant(att), tf.constant(g), tf.constant(m))
    np.testing.assert_allclose(
        float(cas_ops.pseudo_label_batch_loss(tf.constant(att), tf.constant(g),
                                              tf.constant(m))),
        per_video.numpy().mean(), rtol=1e-6)


def test_one_stream_ignores_the_other_half():
    model = CasModel(3, input_stream="first_half")
    x = np.random.default_rng(1).standard_normal((1, 6, 8)).astype(np.float32)
    y = x.copy()
    y[..., 4:] = 100.0
    a = model({"features": tf.constant(x)})["cas_logits"].numpy()
    b = model({"features": tf.constant(y)})["cas_logits"].numpy()
    np.testing.assert_allclose(a, b)
    assert model.classifier.out.kernel.shape[0] == 2  # 4 -> 2 -> 3


def test_release_presets_follow_notes():
    al = get_config("thumos14_autoloc_release")
    assert al.preset == "release" and al.autoloc.oic_threshold == 0.4
    assert (al.autoloc.activation, al.autoloc.head_kernel) == ("leaky_relu", 1)
    assert (al.autoloc.test_top_k, al.autoloc.test_class_score) == (2, "mean_cas")
    assert al.autoloc.loss_scale == 0.5 and al.autoloc.bn_statistics == "video_average"
    assert get_config("thumos14_autoloc").autoloc.oic_threshold == -0.3   # the paper's
    th = get_config("thumos14_refineloc_release")
    assert (th.model.attention, th.model.input_stream) == ("sigmoid1", "first_half")
    assert (th.refine.beta, th.refine.sample_fraction) == (2.0, 0.7)
    assert (th.train.epochs, th.train.batch_size) == (100, 32)
    assert (th.pseudo_segments.alpha_c, th.pseudo_segments.alpha_a,
            th.pseudo_segments.top_k) == (0.1, 0.08, 2)
    an = get_config("anet12_refineloc_release")
    assert an.refine.pseudo_weighting == "none" and an.train.batch_size == 256
    assert an.train.learning_rate == 1e-4 and an.pseudo_segments.top_k == 3
    assert get_config("synthetic_thumos_supervised").method == "supervised"


def test_release_generators_are_the_segment_pipeline_with_one_threshold_off():
    from wtal_tf.configs import SegmentPredictionConfig
    from wtal_tf.training import pseudo_labels as pl
    from wtal_tf.inference.cas import VideoOutputs

    t = 12
    scores = np.full((t, 2), 0.5, np.float32)
    scores[3:6, 0], scores[3:6, 1] = 0.9, 0.1
    p_fg = np.zeros(t, np.float32)
    p_fg[8:10] = 0.9
    out = {"v": VideoOutputs("v", scores, p_fg, np.array([0.8, 0.2], np.float32),
                             np.array([1, 0]))}
    cfg = SegmentPredictionConfig(alpha_a=0.5, alpha_c=0.8, top_k=1, inflate=0)
    kw = dict(video_ids=["v"], test_ids=[], seed=0, sample_fraction=1.0, segment_cfg=cfg,
              form="segments")
    ca = pl.generate("class_activation", out, **kw).labels["v"]
    att = pl.generate("attention", out, **kw).labels["v"]
    np.testing.assert_array_equal(np.flatnonzero(ca), [3, 4, 5])   # alpha_A off: C̄ alone
    np.testing.assert_array_equal(np.flatnonzero(att), [8, 9])     # alpha_C off: p_fg alone


def test_runs_saved_before_bn_statistics_keep_their_behaviour():
    from wtal_tf.configs import config_from_dict

    d = get_config("synthetic_thumos_autoloc").to_dict()
    del d["autoloc"]["bn_statistics"]
    assert config_from_dict(d).autoloc.bn_statistics == "keras"
    full = get_config("synthetic_thumos_autoloc")
    assert config_from_dict(full.to_dict()) == full
