"""AutoLoc: layers through the shared helper, the OIC layer by hand, training in fit."""

import numpy as np
import pytest
import tensorflow as tf

from tests.layer_test_case import run_layer_test
from wtal_tf.layers.localization import LocalizationNetwork
from wtal_tf.layers.oic import OICLayer
from wtal_tf.ops import nms, oic_select


def test_localization_network_layer():
    x = np.random.default_rng(0).standard_normal((1, 9, 16)).astype(np.float32)
    # 3 x (conv kernel + bias, BN gamma + beta) + head kernel + bias; BN moving mean + var
    run_layer_test(LocalizationNetwork, {"num_anchors": 6, "filters": 8, "num_conv_layers": 3,
                                         "activation": "relu", "head_kernel": 3},
                   x, (1, 9, 6), expected_num_trainable_weights=14,
                   expected_num_non_trainable_weights=6)
    # bias-free conv (leaky_relu, the official blocks) + BN + head
    run_layer_test(LocalizationNetwork, {"num_anchors": 2, "filters": 4, "num_conv_layers": 1,
                                         "activation": "leaky_relu", "head_kernel": 1,
                                         "test_statistics": "video"},
                   x, (1, 9, 2), expected_num_trainable_weights=5,
                   expected_num_non_trainable_weights=2)


def test_oic_layer_config_round_trip():
    layer = OICLayer([1, 2, 4], inflation=0.3, cas_threshold=0.2, oic_threshold=-0.4,
                     nms_iou=0.5, loss="inner_only")
    clone = OICLayer.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.anchors == [1, 2, 4] and clone.loss == "inner_only"


def test_oic_layer_through_the_shared_helper():
    rng = np.random.default_rng(0)
    call = {"cas": tf.constant(rng.uniform(size=(9, 3)), tf.float32),
            "t_x": tf.zeros((9, 2)), "t_w": tf.zeros((9, 2)),
            "classes": tf.constant([0, 2])}
    layer = run_layer_test(OICLayer, {"anchors": [1, 4], "inflation": 0.25, "min_outer": 1.0,
                                      "cas_threshold": 0.1, "oic_threshold": -0.3,
                                      "nms_iou": 0.4, "loss": "oic"},
                           call, (2,), expected_num_trainable_weights=0, symbolic=False)
    # no weights, and the selection's classes are the ones asked for
    assert layer(**call).classes.numpy().tolist() == [0, 2]


def test_autoloc_model_round_trip_holds_its_cas_model():
    from tests.layer_test_case import run_model_test
    from wtal_tf.models.autoloc import AutoLocModel
    from wtal_tf.models.cas_model import CasModel

    cas_model = CasModel(num_classes=3, num_layers=1, attention="sigmoid1")
    kwargs = {"anchors": [1, 2, 4], "filters": 4, "num_conv_layers": 2,
              "activation": "leaky_relu", "head_kernel": 1, "oic_threshold": -0.2,
              "bn_statistics": "keras", "test_top_k": 2, "cas_gate": "soft"}
    model = AutoLocModel(cas_model, **kwargs)
    x = {"features": tf.random.normal((1, 9, 8), seed=3)}
    # localizer: 2 x (bias-free conv, BN gamma + beta) + head kernel + bias; BN moving
    # mean + var; the CAS model's two 1-layer MLPs (kernel + bias each), frozen here
    out, _ = run_model_test(model, x, init_kwargs=kwargs, expected_num_trainable_weights=8,
                            expected_num_non_trainable_weights=4 + 4)
    assert out[0].shape == (1, 9, 3)
    clone = AutoLocModel.from_config(model.get_config())
    assert type(clone.cas_model) is CasModel
    assert clone.cas_model.get_config() == cas_model.get_config()
    assert clone.cas_model.attention == "sigmoid1" and not clone.cas_model.trainable


def test_nms_1d_by_hand():
    starts = tf.constant([[0.0, 1.0, 10.0, 0.5]])
    ends = tf.constant([[10.0, 10.0, 20.0, 4.0]])
    scores = tf.constant([[0.9, 0.8, 0.7, 0.95]])
    idx, num = nms.batched_nms_1d(starts, ends, scores, max_output=4, iou_threshold=0.4)
    # [0.5, 4] (.95) kept; [0, 10] IoU with it 3.5/10 = .35 < .4 kept; [1, 10] IoU .9 with
    # [0, 10] suppressed; [10, 20] kept.
    assert int(num[0]) == 3 and idx.numpy()[0, :3].tolist() == [3, 0, 2]


def test_oic_layer_selects_the_action_by_hand():
    # one class, an action on snippets 10..19 of a 30-snippet video; anchors 1 and 10
    t = 30
    cas = np.zeros((t, 1), np.float32)
    cas[10:20] = 1.0
    layer = OICLayer([1, 10], cas_threshold=0.1, oic_threshold=-0.3, nms_iou=0.4)
    sel = layer(tf.constant(cas), tf.zeros((t, 2)), tf.zeros((t, 2)), tf.constant([0]))
    valid = sel.valid.numpy()[0]
    x1, x2 = sel.x1.numpy()[0][valid], sel.x2.numpy()[0][valid]
    scores = 1 - sel.oic.numpy()[0][valid]
    # positions outside the action (CAS < 0.1) are discarded
    assert np.all(sel.positions.numpy()[0][valid] >= 10)
    assert np.all(sel.positions.numpy()[0][valid] <= 19)
    # the best segment is the 10-wide anchor at position 14 or 15, [9, 19] or [10, 20]:
    # inner mean 10/11, outer (3 + 3 snippets) mean 0 -> OIC -10/11
    best = int(np.argmax(scores))
    assert scores[best] == pytest.approx(1 + 10 / 11, abs=1e-5)
    assert (x1[best], x2[best]) in ((9.0, 19.0), (10.0, 20.0))
    # every kept segment has OIC <= -0.3 and pairs overlap less than 0.4
    assert np.all(scores >= 1.3)
    det = oic_select.flatten_detections(sel, max_detections=5)
    assert int(det[3]) == int(valid.sum()) and det[0].shape == (5, 2)
    assert det[2].numpy()[int(det[3]):].tolist() == [-1] * (5 - int(det[3]))


@pytest.mark.parametrize("t_len", [1, 3, 50])
def test_autoloc_detect_and_train_step_any_length(t_len, tmp_path):
    import keras

    from wtal_tf.configs import get_config
    from wtal_tf.models.autoloc import build_autoloc, make_optimizer
    from wtal_tf.models.cas_model import CasModel

    cfg = get_config("synthetic_thumos_autoloc")
    cas_model = CasModel(5)
    cas_model({"features": tf.zeros((1, 2, 8))})
    model = build_autoloc(cfg, cas_model, 8)
    model.compile(optimizer=make_optimizer(cfg.autoloc))
    x = tf.random.normal((1, t_len, 8))
    y = tf.one_hot([[2]], 5)[0]
    before = [w.numpy().copy() for w in model.localizer.trainable_weights]
    cas_before = [w.numpy().copy() for w in cas_model.weights]
    hist = model.fit(tf.data.Dataset.from_tensors(({"features": x}, y)).repeat(3), epochs=1,
                     verbose=0)
    assert np.isfinite(hist.history["loss"][-1])
    # the CAS model is frozen
    for a, b in zip(cas_before, cas_model.weights):
        np.testing.assert_array_equal(a, b.numpy())
    segs, scores, classes, num = tf.function(model.detect)(x, 7)
    assert segs.shape == (7, 2) and scores.shape == (7,) and int(num) <= 7
    n = int(num)
    assert np.all(segs.numpy()[:n, 0] >= 0) and np.all(segs.numpy()[:n, 1] <= t_len - 1)
    del before, keras


def test_one_video_padded_with_mask_gives_the_lone_video_loss_and_gradients():
    """Training pads each video to a bucketed length with a mask: the loss and the
    localization branch's gradients must be those of the unpadded video."""
    import dataclasses

    from wtal_tf.configs import get_config
    from wtal_tf.data.pipeline import bucket_length
    from wtal_tf.models.autoloc import build_autoloc
    from wtal_tf.models.cas_model import CasModel

    cfg = get_config("synthetic_thumos_autoloc")
    cfg = cfg.replace(autoloc=dataclasses.replace(cfg.autoloc, cas_threshold=0.0,
                                                  oic_threshold=10.0))  # keep segments
    tf.random.set_seed(4)
    cas_model = CasModel(5)
    cas_model({"features": tf.zeros((1, 2, 8))})
    model = build_autoloc(cfg, cas_model, 8)
    t_len = 37
    padded_len = bucket_length(t_len, 4)
    assert padded_len > t_len
    video = tf.random.normal((1, t_len, 8), seed=1)
    padded = tf.pad(video, [[0, 0], [0, padded_len - t_len], [0, 0]])
    mask = tf.cast(tf.range(padded_len)[None] < t_len, tf.float32)
    y = tf.one_hot([2], 5)
    variables = model.localizer.trainable_variables

    def loss_and_grads(features, m):
        with tf.GradientTape() as tape:
            loss, kept, _, _ = model.batch_loss(features, y, training=True, mask=m)
        return loss, kept, tape.gradient(loss, variables)

    loss_a, kept_a, grads_a = loss_and_grads(video, None)
    loss_b, kept_b, grads_b = loss_and_grads(padded, mask)
    assert float(kept_a) > 0 and float(kept_a) == float(kept_b)
    np.testing.assert_allclose(float(loss_b), float(loss_a), rtol=1e-5)
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_allclose(gb.numpy(), ga.numpy(), rtol=1e-4, atol=1e-6)


def _np_conv_same(x, kernel, bias):
    """Conv1D, 'same' zero padding, stride 1: x [T, Cin], kernel [k, Cin, Cout]."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    xp = np.pad(x, [(pad, k - 1 - pad), (0, 0)])
    out = sum(xp[i:i + len(x)] @ kernel[i] for i in range(k))
    return out + (0 if bias is None else bias)


def _np_blocks(net, video):
    """NumPy reference of each block's pre-BatchNorm input, one-video training style."""
    x, inputs = video, []
    for conv, norm in zip(net.convs, net.norms):
        x = _np_conv_same(x, conv.kernel.numpy(), conv.bias.numpy() if conv.use_bias else None)
        inputs.append(x)
        x = (x - x.mean(0)) / np.sqrt(x.var(0) + norm.epsilon) * norm.gamma.numpy() + \
            norm.beta.numpy()
        x = np.maximum(x, 0.0) if net.activation == "relu" else np.where(x > 0, x, 0.1 * x)
    return inputs


@pytest.mark.parametrize("aggregate", ["population", "video_average"])
def test_recomputed_bn_statistics_equal_numpy_over_training_videos(aggregate):
    from wtal_tf.layers.localization import recompute_statistics

    rng = np.random.default_rng(1)
    net = LocalizationNetwork(3, filters=5, num_conv_layers=2, activation="leaky_relu",
                              head_kernel=1)
    net.build((None, None, 4))
    for norm in net.norms:  # non-trivial affine parameters
        norm.gamma.assign(rng.uniform(0.5, 2.0, 5).astype(np.float32))
        norm.beta.assign(rng.normal(0, 1, 5).astype(np.float32))
    videos = [rng.normal(i, 1 + i, (t, 4)).astype(np.float32) for i, t in enumerate((7, 3, 11))]
    # padded batches with a mask: the padding must not count
    t_max = 16
    feats = np.zeros((3, t_max, 4), np.float32)
    mask = np.zeros((3, t_max), np.float32)
    for b, v in enumerate(videos):
        feats[b, :len(v)] = v
        mask[b, :len(v)] = 1
    batches = [(tf.constant(feats[:2]), tf.constant(mask[:2])),
               (tf.constant(feats[2:]), tf.constant(mask[2:]))]
    stats = recompute_statistics(net, batches, aggregate=aggregate)
    refs = [_np_blocks(net, v) for v in videos]
    for layer, (norm, (mean, var)) in enumerate(zip(net.norms, stats)):
        xs = [r[layer] for r in refs]
        if aggregate == "population":
            allx = np.concatenate(xs)
            want_mean, want_var = allx.mean(0), allx.var(0)
        else:
            want_mean = np.mean([x.mean(0) for x in xs], 0)
            want_var = np.mean([x.var(0, ddof=1) for x in xs], 0)
        np.testing.assert_allclose(norm.moving_mean.numpy(), want_mean, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(norm.moving_variance.numpy(), want_var, rtol=1e-4, atol=1e-4)


def test_video_statistics_at_test_equal_one_video_training_normalisation():
    rng = np.random.default_rng(2)
    net = LocalizationNetwork(2, filters=6, num_conv_layers=3, test_statistics="video")
    video = rng.normal(3.0, 2.0, (1, 9, 5)).astype(np.float32)
    net(video)  # build
    # a training step normalises one video by its own batch statistics
    want = net(tf.constant(video), training=True)
    got = net(tf.constant(video), training=False)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5)
    # the same video zero-padded with a mask gives the same outputs on its snippets
    padded = np.concatenate([video, np.zeros((1, 7, 5), np.float32)], axis=1)
    mask = np.concatenate([np.ones((1, 9)), np.zeros((1, 7))], axis=1).astype(np.float32)
    got_padded = net(tf.constant(padded), training=False, mask=tf.constant(mask))
    for w, g in zip(want, got_padded):
        np.testing.assert_allclose(g.numpy()[:, :9], w.numpy(), rtol=1e-4, atol=1e-5)
    # the stored (moving) statistics give something else: they were never trained
    net.test_statistics = "moving"
    moving = net(tf.constant(video), training=False)
    assert not np.allclose(moving[1].numpy(), want[1].numpy(), atol=1e-3)
