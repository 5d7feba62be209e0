import numpy as np
import pytest
import tensorflow as tf

from wtal_tf.data import interchange, pipeline, synthetic
from tests.conftest import make_root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipe") / "root"
    make_root(path, num_train=7, num_test=2, dim=8, min_snippets=5, max_snippets=30)
    return interchange.open_root(path)


def test_padded_batches_mask_exactly_the_padded_snippets(root):
    ids = [v.video_id for v in root.select(["training"])]
    ds = pipeline.padded_batches(pipeline.from_root(root, ids), batch_size=3)
    seen = 0
    for batch in ds:
        for b in range(batch["features"].shape[0]):
            vid = batch["video_id"][b].numpy().decode()
            feats = root.video(vid).features
            t = feats.shape[0]
            mask = batch["mask"][b].numpy()
            assert mask[:t].all() and not mask[t:].any()
            np.testing.assert_array_equal(batch["features"][b, :t].numpy(), feats)
            assert not batch["features"][b, t:].numpy().any()
            assert int(batch["num_snippets"][b]) == t
            seen += 1
    assert seen == 7


def test_shuffle_by_seed_and_one_video_per_step(root):
    ids = [v.video_id for v in root.select(["training"])]

    def order(seed):
        ds = pipeline.from_root(root, ids, shuffle=True, seed=seed)
        return [e["video_id"].numpy().decode() for e in ds]

    assert order(3) == order(3) and sorted(order(3)) == sorted(ids)
    assert order(3) != order(4) or order(3) != order(5)
    for e in pipeline.one_video_per_step(pipeline.from_root(root, ids[:2])):
        assert e["features"].shape[0] == 1 and e["mask"].shape == e["features"].shape[:2]


def test_extras_join_by_video_id(root):
    ids = [v.video_id for v in root.select(["training"])][:3]
    lengths = {v: root.video(v).num_snippets for v in ids}
    ds = pipeline.from_root(
        root, ids, extras={"pseudo": lambda v: np.full(lengths[v], len(v), np.float32)},
        extra_specs={"pseudo": tf.TensorSpec([None], tf.float32)})
    for e in ds:
        vid = e["video_id"].numpy().decode()
        assert e["pseudo"].shape[0] == lengths[vid] and float(e["pseudo"][0]) == len(vid)


def test_from_tfds_matches_generator(tmp_path):
    ds = pipeline.from_tfds("wtal_synthetic/thumos_tiny", "test", data_dir=str(tmp_path))
    spec = synthetic.SyntheticSpec(num_train=10, num_test=4, feature_dim=16,
                                   min_snippets=20, max_snippets=60)
    expected = {v.annotation.video_id: v for v in synthetic.iter_videos(spec)}
    n = 0
    for e in ds:
        v = expected[e["video_id"].numpy().decode()]
        np.testing.assert_allclose(e["features"].numpy(), v.features)
        np.testing.assert_array_equal(e["labels"].numpy(),
                                      v.annotation.multi_hot(synthetic.class_names(
                                          spec.resolved_profile())))
        n += 1
    assert n == 4


@pytest.mark.parametrize("per_octave, cases", [
    # T -> bucket, by hand: quantum = 2**floor(log2 T) / per_octave, at least 1
    (16, [(1, 1), (16, 16), (17, 17), (31, 31), (32, 32), (33, 34), (100, 100),
          (101, 104), (340, 352), (512, 512), (513, 544), (600, 608), (5000, 5120)]),
    (4, [(3, 3), (5, 5), (9, 10), (100, 112), (340, 384), (600, 640)]),
    (0, [(7, 7), (340, 340)]),
])
def test_bucket_length_by_hand(per_octave, cases):
    for t, expected in cases:
        assert pipeline.bucket_length(t, per_octave) == expected
        if per_octave:
            assert int(pipeline.bucket_length(tf.constant(t), per_octave)) == expected


def test_bucket_length_bounds_padding_and_shapes():
    lengths = np.arange(1, 20001)
    for per_octave in (8, 16, 32):
        buckets = np.array([pipeline.bucket_length(int(t), per_octave) for t in lengths])
        tensor = pipeline.bucket_length(tf.constant(lengths, tf.int32), per_octave).numpy()
        np.testing.assert_array_equal(tensor, buckets)
        assert (buckets >= lengths).all()
        assert ((buckets - lengths) < np.maximum(1, lengths / per_octave)).all()
        # bucket(bucket(T)) = bucket(T): a bucketed batch is not padded again
        np.testing.assert_array_equal(
            [pipeline.bucket_length(int(b), per_octave) for b in buckets], buckets)
        # per_octave lengths per doubling above per_octave, every length below it
        assert len(np.unique(buckets)) <= per_octave * (1 + np.log2(20000 / per_octave))
    with pytest.raises(ValueError, match="power of two"):
        pipeline.bucket_length(10, 12)


def test_bucketed_batches_pad_every_per_snippet_array_and_keep_the_mask(root):
    ids = [v.video_id for v in root.select(["training"])]
    extras = {"weights": lambda vid: np.arange(root.video(vid).num_snippets, dtype=np.float32)}
    specs = {"weights": tf.TensorSpec([None], tf.float32)}
    ds = pipeline.padded_batches(pipeline.from_root(root, ids, extras=extras, extra_specs=specs),
                                 batch_size=3, length_buckets_per_octave=4)
    seen = 0
    for batch in ds:
        longest = int(tf.reduce_max(batch["num_snippets"]))
        width = pipeline.bucket_length(longest, 4)
        assert batch["features"].shape[1] == batch["mask"].shape[1] == width
        assert batch["weights"].shape[1] == width
        assert batch["labels"].shape[1] == len(root.classes)  # not a time axis
        for b in range(batch["features"].shape[0]):
            vid = batch["video_id"][b].numpy().decode()
            feats = root.video(vid).features
            t = feats.shape[0]
            np.testing.assert_array_equal(batch["mask"][b].numpy(),
                                          np.arange(width) < t)
            np.testing.assert_array_equal(batch["features"][b, :t].numpy(), feats)
            assert not batch["features"][b, t:].numpy().any()
            np.testing.assert_array_equal(batch["weights"][b, :t].numpy(), np.arange(t))
            assert not batch["weights"][b, t:].numpy().any()
            seen += 1
    assert seen == 7


def test_unpooled_copy_is_an_equal_array_with_memory_of_its_own():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = pipeline.unpooled_copy(a)
    np.testing.assert_array_equal(a, b)
    assert b.dtype == np.float32 and b.flags.writeable and not np.shares_memory(a, b)
    assert pipeline.unpooled_copy(np.zeros((0, 4), np.float32)).shape == (0, 4)
    pipeline.release_free_heap()  # a no-op where the C library has no malloc_trim


@pytest.mark.parametrize("batch_size,max_snippets", [(3, 40), (16, 30), (2, 10_000), (4, 1)])
def test_budgeted_batches_bound_videos_and_padded_snippets(root, batch_size, max_snippets):
    ids = [v.video_id for v in root.select(["training"])]
    seen = []
    for batch in pipeline.budgeted_batches(pipeline.from_root(root, ids), batch_size,
                                           max_snippets):
        b, t_max = batch["mask"].shape
        assert b <= batch_size
        assert b == 1 or b * t_max <= max_snippets  # a longer video goes alone
        assert t_max == batch["num_snippets"].max()
        for i, vid in enumerate(batch["video_id"]):
            feats = root.video(vid.decode()).features
            t = feats.shape[0]
            np.testing.assert_array_equal(batch["features"][i, :t], feats)
            assert not batch["features"][i, t:].any()
            assert batch["mask"][i, :t].all() and not batch["mask"][i, t:].any()
            seen.append(vid.decode())
    assert seen == ids  # every video once, in the dataset's order


def test_budgeted_batches_group_greedily_by_hand():
    lengths = [5, 7, 20, 3, 3, 3, 50]
    ds = tf.data.Dataset.from_tensor_slices(
        {"video_id": [str(i).encode() for i in range(len(lengths))],
         "num_snippets": lengths}).map(
        lambda e: dict(e, features=tf.ones([e["num_snippets"], 2])))
    groups = [[int(v) for v in b["video_id"]] for b in pipeline.budgeted_batches(ds, 3, 21)]
    # [5, 7]: 2 x 7 = 14 (adding 20 would make 3 x 20); [20]: 20 (2 x 20 > 21);
    # [3, 3, 3]: batch_size; [50]: longer than the budget, alone
    assert groups == [[0, 1], [2], [3, 4, 5], [6]]
    with pytest.raises(ValueError):
        next(pipeline.budgeted_batches(ds, 0, 10))
