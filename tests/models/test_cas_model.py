"""The CAS model: layers, losses against NumPy, segment prediction by hand, a tiny run."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from wtal_tf.layers.mlp import SnippetMLP
from wtal_tf.models.cas_model import CasModel
from wtal_tf.ops import cas as cas_ops
from wtal_tf.ops import segments as seg_ops
from tests.conftest import make_root


def test_snippet_mlp_layer():
    x = np.random.default_rng(0).standard_normal((2, 5, 16)).astype(np.float32)
    layer = run_layer_test(SnippetMLP, {"units": 3, "num_layers": 3}, x, (2, 5, 3),
                           expected_num_trainable_weights=6)  # 3 x (kernel, bias)
    # widths halve: 16 -> 8 -> 4 -> 3
    assert [d.units for d in layer.hidden] == [8, 4]


def test_cas_model_config_eager_fit_and_save(tmp_path):
    model = CasModel(num_classes=4, num_layers=2, attention="sigmoid1", video_loss="official")
    clone = CasModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    x = {"features": tf.random.normal((3, 6, 8)), "mask": tf.ones((3, 6))}
    y = tf.one_hot([0, 1, 3], 4)
    out = model(x)
    assert out["cas_logits"].shape == (3, 6, 4) and out["attention_logits"].shape == (3, 6, 1)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(tf.data.Dataset.from_tensors((x, y)), epochs=1, verbose=0)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, model.trainable_weights))
    model.save_weights(str(tmp_path / "w.weights.h5"))
    clone(x)
    clone.load_weights(str(tmp_path / "w.weights.h5"))
    np.testing.assert_allclose(clone(x)["video_scores"], model(x)["video_scores"], rtol=1e-6)


def test_cas_models_through_the_shared_helper():
    from tests.layer_test_case import run_model_test
    from wtal_tf.models.cas_model import SupervisedSnippetModel

    x = {"features": tf.random.normal((2, 7, 8), seed=1), "mask": tf.ones((2, 7))}
    kwargs = {"num_classes": 4, "num_layers": 2, "attention": "sigmoid1",
              "input_stream": "second_half", "beta": 2.0, "pseudo_weighting": "global",
              "pseudo_bg_fraction": 0.7}
    # two 2-layer MLPs (kernel + bias per layer) on the second half (D/2 = 4)
    out, _ = run_model_test(CasModel(**kwargs), x, init_kwargs=kwargs,
                            expected_num_trainable_weights=8,
                            expected_num_non_trainable_weights=0)
    assert out["attention_logits"].shape == (2, 7, 1)
    # the supervised reference: one MLP over K + 1 classes
    out, _ = run_model_test(SupervisedSnippetModel(4, num_layers=3), x,
                            init_kwargs={"num_classes": 4, "num_layers": 3},
                            expected_num_trainable_weights=6,
                            expected_num_non_trainable_weights=0)
    assert out["cas_logits"].shape == (2, 7, 4)


def _softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _numpy_forward(cas, att, mask):
    """Eqs. 1-2 of RefineLoc in NumPy: Ā^bf, Ā^time (masked), ŷ."""
    if att.shape[-1] == 2:
        score = _softmax(att, -1)[..., 1]
    else:
        score = att[..., 0]
    a_time = np.zeros_like(score)
    for b in range(len(score)):
        real = mask[b] > 0
        a_time[b, real] = _softmax(score[b, real], 0)
    y_hat = np.einsum("bt,btk->bk", a_time, _softmax(cas, -1))
    return a_time, y_hat


@pytest.mark.parametrize("heads", [2, 1])
def test_video_losses_against_numpy(heads):
    rng = np.random.default_rng(heads)
    b, t, k = 4, 9, 5
    cas = rng.standard_normal((b, t, k)).astype(np.float32)
    att = rng.standard_normal((b, t, heads)).astype(np.float32)
    mask = np.ones((b, t), np.float32)
    mask[1, 6:] = 0
    mask[3, 2:] = 0
    labels = np.zeros((b, k), np.float32)
    labels[0, 1] = labels[1, [0, 3]] = labels[2, 4] = labels[3, [2, 4]] = 1
    a_time, y_hat = _numpy_forward(cas, att, mask)
    got_a = cas_ops.temporal_attention(tf.constant(att), tf.constant(mask)).numpy()
    np.testing.assert_allclose(got_a, a_time, rtol=1e-5, atol=1e-7)
    # paper form: -sum_k (y_k / sum y) log y_hat_k
    ref = -np.sum(labels / labels.sum(1, keepdims=True) * np.log(y_hat), axis=1)
    got = cas_ops.video_label_loss(labels, cas, got_a, "paper").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    # official form: -sum_t a_t log_softmax(C_t)[first label]
    log_p = np.log(_softmax(cas, -1))
    first = labels.argmax(1)
    ref = -np.array([np.sum(a_time[i] * log_p[i, :, first[i]]) for i in range(b)])
    got = cas_ops.video_label_loss(labels, cas, got_a, "official").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)


@pytest.mark.parametrize("heads", [2, 1])
def test_pseudo_label_loss_against_numpy(heads):
    rng = np.random.default_rng(7)
    b, t = 3, 10
    att = rng.standard_normal((b, t, heads)).astype(np.float32)
    g = (rng.random((b, t)) > 0.6).astype(np.float32)
    w = (rng.random((b, t)) < 0.8).astype(np.float32)
    ref = np.zeros(b)
    for i in range(b):
        n = max(w[i].sum(), 1)
        frac_bg = ((1 - g[i]) * w[i]).sum() / n
        cw = np.where(g[i] > 0, frac_bg, 1 - frac_bg)
        if heads == 2:
            p = _softmax(att[i], -1)
            ce = -np.log(np.where(g[i] > 0, p[:, 1], p[:, 0]))
        else:
            p = 1 / (1 + np.exp(-att[i, :, 0]))
            ce = -(g[i] * np.log(p) + (1 - g[i]) * np.log(1 - p))
        ref[i] = np.sum(cw * ce * w[i]) / n
    got = cas_ops.pseudo_label_loss(tf.constant(att), tf.constant(g), tf.constant(w)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_gated_cas():
    cas = tf.constant([[[0.0, 0.0], [2.0, 0.0]]])
    p_fg = tf.constant([[0.4, 0.6]])
    hard = cas_ops.gated_cas(cas, p_fg, "hard", 0.5).numpy()[0]
    np.testing.assert_allclose(hard[0], [0, 0])
    np.testing.assert_allclose(hard[1], _softmax(np.array([2.0, 0.0]), 0), rtol=1e-6)
    soft = cas_ops.gated_cas(cas, p_fg, "soft").numpy()[0]
    np.testing.assert_allclose(soft[0], [0.2, 0.2], rtol=1e-6)


def _runs(mask, gap=1):
    s, e = seg_ops.mask_to_runs(tf.constant(np.asarray(mask, bool)), gap)
    return list(zip(s.numpy().tolist(), e.numpy().tolist()))


def test_mask_to_runs_bridges_one_snippet_gaps_only():
    m = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0]
    assert _runs(m) == [(1, 4), (7, 8)]          # gap of 1 bridged, gap of 2 not
    assert _runs(m, gap=0) == [(1, 2), (4, 4), (7, 8)]
    assert _runs(m, gap=2) == [(1, 8)]
    assert _runs([1]) == [(0, 0)] and _runs([0]) == [] and _runs([1, 1, 1]) == [(0, 2)]


def test_segment_prediction_by_hand():
    # T = 8, K = 3.  Class 0: snippets 1-2 and 4 high (one-snippet gap at 3);
    # class 2: snippet 7 only; class 1 is not in the top-2 of y_hat.
    t = 8
    scores = np.full((t, 3), 0.1, np.float32)
    scores[[1, 2, 4], 0] = 0.8
    scores[7, 2] = 0.9
    scores[0:3, 1] = 0.9  # high, but class 1 is outside the top-k
    p_fg = np.full(t, 0.9, np.float32)
    p_fg[5] = 0.2  # background probability 0.8 > alpha_a
    y_hat = np.array([0.6, 0.1, 0.3], np.float32)
    seg, score, cls = seg_ops.predict_segments(scores, p_fg, y_hat, alpha_a=0.5,
                                               alpha_c=0.5, top_k=2, inflate=2)
    seg, score, cls = seg.numpy(), score.numpy(), cls.numpy()
    assert cls.tolist() == [0, 2]
    # class 0: run 1..4 (gap at 3 bridged); inflated by 2, clamped at 0 -> [0, 6]
    # class 2: run 7..7, inflated, clamped at T-1 = 7 -> [5, 7]
    np.testing.assert_array_equal(seg, [[0, 6], [5, 7]])
    # scores (eq. 3, before inflation): mean(p_fg + C) over 1..4 + y_hat
    s0 = np.mean(p_fg[1:5] + scores[1:5, 0]) + 0.6
    s2 = p_fg[7] + scores[7, 2] + 0.3
    np.testing.assert_allclose(score, [s0, s2], rtol=1e-6)


def test_segment_prediction_two_snippet_gap_splits_and_top_k():
    scores = np.zeros((10, 2), np.float32)
    scores[[2, 3, 6, 7], 0] = 1.0   # gap of 2 (snippets 4, 5): two segments
    p_fg = np.ones(10, np.float32)
    seg, score, cls = seg_ops.predict_segments(scores, p_fg, np.array([0.9, 0.1], np.float32),
                                               alpha_a=0.5, alpha_c=0.5, top_k=1, inflate=0)
    np.testing.assert_array_equal(seg.numpy(), [[2, 3], [6, 7]])
    assert cls.numpy().tolist() == [0, 0]
    # T = 1 works
    seg, score, cls = seg_ops.predict_segments(np.ones((1, 2), np.float32), np.ones(1, np.float32),
                                               np.array([0.5, 0.5], np.float32), alpha_a=0.5,
                                               alpha_c=0.5, top_k=2)
    np.testing.assert_array_equal(seg.numpy(), [[0, 0], [0, 0]])


@pytest.mark.slow
def test_tiny_synthetic_run_learns(tmp_path):
    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource
    from wtal_tf.training.cas_task import train_cas

    make_root(tmp_path / "data", num_train=60, num_test=10, dim=32, min_snippets=40, max_snippets=120)
    cfg = get_config("synthetic_thumos_cas")
    # a tiny set: a larger step than the paper's 1e-3 gets there in few updates
    cfg = cfg.replace(train=dataclasses.replace(cfg.train, learning_rate=1e-2, batch_size=8))
    train_cas(cfg, RootSource(tmp_path / "data"), tmp_path / "run", epochs=20, progress=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert hist["loss"][-1] < 0.7 * hist["loss"][0]
    # chance video mAP with 20 classes and ~1.2 labels per video is ~0.06-0.1
    assert max(hist["val_video_mAP"]) > 0.6
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert run["seed"] == 0 and len(data["fingerprint"]) == 16 and data["feature_dim"] == 32
    assert (tmp_path / "run" / "tensorboard").is_dir()


@pytest.mark.parametrize("attention", ["softmax2", "sigmoid1"])
def test_extra_padding_changes_no_output_or_loss(attention):
    """Bucketed batches pad further: every per-video output and the loss must be
    those of the videos alone (the mask carries everything)."""
    rng = np.random.default_rng(3)
    model = CasModel(5, attention=attention)
    lengths = [7, 13, 2]
    videos = [rng.normal(size=(t, 6)).astype(np.float32) for t in lengths]
    labels = np.eye(5, dtype=np.float32)[[0, 3, 1]]
    width = 19  # more than any video: padding beyond the longest
    feats = np.zeros((3, width, 6), np.float32)
    mask = np.zeros((3, width), np.float32)
    for b, v in enumerate(videos):
        feats[b, :len(v)] = v
        mask[b, :len(v)] = 1
    x = {"features": tf.constant(feats), "mask": tf.constant(mask)}
    batched = model(x)
    loss = float(model.compute_loss(x, tf.constant(labels), batched))
    alone_losses = []
    for b, v in enumerate(videos):
        xb = {"features": tf.constant(v[None]), "mask": tf.ones((1, len(v)))}
        alone = model(xb)
        np.testing.assert_allclose(batched["video_scores"][b], alone["video_scores"][0],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched["attention_time"][b, :len(v)],
                                   alone["attention_time"][0], rtol=1e-5, atol=1e-6)
        assert not batched["attention_time"][b, len(v):].numpy().any()
        alone_losses.append(float(model.compute_loss(xb, tf.constant(labels[b:b + 1]), alone)))
    np.testing.assert_allclose(loss, np.mean(alone_losses), rtol=1e-5)


def test_length_buckets_inside_the_model_change_no_output():
    """CasModel computes on bucketed lengths and cuts back: same outputs as exact lengths."""
    rng = np.random.default_rng(5)
    exact = CasModel(4, length_buckets_per_octave=0)
    bucketed = CasModel(4, length_buckets_per_octave=4)
    x = {"features": tf.constant(rng.normal(size=(2, 37, 6)).astype(np.float32)),
         "mask": tf.constant((np.arange(37)[None] < np.array([[37], [20]])).astype(np.float32))}
    exact(x)
    bucketed(x)
    bucketed.set_weights(exact.get_weights())
    a, b = exact(x), bucketed(x)
    for key in a:
        assert a[key].shape == b[key].shape, key
        np.testing.assert_allclose(b[key].numpy(), a[key].numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    assert bucketed.get_config()["length_buckets_per_octave"] == 4
    assert CasModel.from_config(bucketed.get_config()).length_buckets_per_octave == 4


def test_dtype_policy_reaches_every_sublayer():
    """keras-hub's habit: a layer's dtype policy is passed to the layers it makes."""
    from wtal_tf.layers.localization import LocalizationNetwork
    from wtal_tf.models.autoloc import AutoLocModel

    policy = "mixed_bfloat16"
    cas_model = CasModel(num_classes=3, num_layers=2, dtype=policy)
    cas_model({"features": tf.zeros((1, 4, 8))})
    network = LocalizationNetwork(2, filters=4, num_conv_layers=2, dtype=policy)
    network(tf.zeros((1, 4, 8)))
    autoloc = AutoLocModel(CasModel(num_classes=3, num_layers=1), anchors=[1, 2], filters=4,
                           dtype=policy)
    for owner in (cas_model, network, autoloc.localizer, autoloc.oic_layer):
        sublayers = owner._flatten_layers(include_self=True)
        assert {layer.dtype_policy.name for layer in sublayers} == {policy}, owner.name
    assert [d.compute_dtype for d in cas_model.classifier.hidden] == ["bfloat16"]
