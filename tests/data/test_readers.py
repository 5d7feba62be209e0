"""Every reader on the real annotation files in ../shared/data."""

import json

import numpy as np
import pytest

from wtal_tf.data import interchange, readers
from wtal_tf.errors import WtalError


@pytest.fixture(scope="module")
def classlist(shared_data):
    return readers.read_classlist(shared_data / "thumos14" / "classlist.txt")


def test_classlist(classlist):
    assert len(classlist) == 20
    assert classlist[0] == "BaseballPitch" and classlist[11] == "HighJump"


def test_thumos_test_csv(shared_data, classlist):
    ann = readers.read_refineloc_csv(
        shared_data / "thumos14" / "thumos14_test_groundtruth.csv",
        subset="testing", classes=classlist)
    assert len(ann) == 212 and ann.num_segments == 3358
    v = ann.videos["video_test_0000324"]
    assert v.duration == pytest.approx(149.105)
    assert (v.segments[0].start, v.segments[0].end, v.segments[0].label) == (
        49.2, 53.5, "BaseballPitch")
    # Real-world dirt is kept: 26 segments start past their video's duration.
    late = sum(s.start > vv.duration for vv in ann.videos.values() for s in vv.segments)
    assert late == 26


def test_thumos_valid_csv(shared_data, classlist):
    ann = readers.read_refineloc_csv(
        shared_data / "thumos14" / "thumos14_valid_groundtruth.csv",
        subset="validation", classes=classlist, subset_map=readers.THUMOS14_SUBSET_MAP)
    assert len(ann) == 200 and ann.num_segments == 3003
    assert {v.subset for v in ann.videos.values()} == {"training"}
    # Some THUMOS'14 videos hold two classes.
    assert sum(len(v.labels) > 1 for v in ann.videos.values()) == 27


def test_csv_index_labels_need_a_classlist(shared_data):
    with pytest.raises(WtalError, match="--classlist"):
        readers.read_refineloc_csv(shared_data / "thumos14" / "thumos14_test_groundtruth.csv")


def test_activitynet_csv(shared_data):
    ann = readers.read_refineloc_csv(
        shared_data / "activitynet12" / "activitynet_v1-2_valid_groundtruth.csv",
        subset="validation")
    assert len(ann) == 2303 and ann.num_segments == 3459 and len(ann.classes) == 100
    seg = ann.videos["--1DO2V4K74"].segments[0]
    assert seg.label == "Rock climbing" and seg.start == pytest.approx(30.02588)
    past = sum(s.end > v.duration for v in ann.videos.values() for s in v.segments)
    assert past == 187
    bad = [(v.video_id, s) for v in ann.videos.values() for s in v.segments if s.end <= s.start]
    assert [b[0] for b in bad] == ["QhiKgeJV3k0"]


def test_basnet_json(shared_data):
    ann = readers.read_activitynet_json(shared_data / "thumos14" / "thumos14_gt_basnet.json")
    subsets = [v.subset for v in ann.videos.values()]
    assert subsets.count("training") == 200 and subsets.count("testing") == 210
    assert "video_test_0000270" not in ann.videos  # dropped, as AutoLoc does
    v = ann.videos["video_test_0000896"]
    assert v.duration is None
    assert (v.segments[0].start, v.segments[0].end) == (18.6, 24.8)  # strings parsed
    assert len(ann.classes) == 20


def test_wtalc_needs_explicit_pickle_opt_in(shared_data):
    with pytest.raises(WtalError, match="allow-pickle"):
        readers.read_wtalc(shared_data / "thumos14" / "wtalc")


def test_wtalc(shared_data):
    ann = readers.read_wtalc(shared_data / "thumos14" / "wtalc", allow_pickle=True,
                             subset_map=readers.THUMOS14_SUBSET_MAP)
    assert len(ann) == 412
    assert ann.classes[0] == "BaseballPitch" and len(ann.classes) == 20
    v = ann.videos["video_validation_0000051"]
    assert v.subset == "training" and v.duration == pytest.approx(169.794)
    assert [(s.start, s.end, s.label) for s in v.segments][0] == (67.5, 75.9, "Billiards")


def test_ambiguous(shared_data):
    amb = readers.read_ambiguous(shared_data / "thumos14" / "Ambiguous_test.txt")
    assert amb["video_test_0000278"][:2] == [(0.0, 1.4), (95.7, 97.2)]


def _segments(ann):
    return {vid: [(s.start, s.end, s.label) for s in v.segments]
            for vid, v in ann.videos.items()}


@pytest.mark.parametrize("source", ["thumos_test_csv", "anet_csv", "basnet", "wtalc"])
def test_round_trip_through_the_interchange_format(shared_data, tmp_path, source):
    t = shared_data / "thumos14"
    classes = readers.read_classlist(t / "classlist.txt")
    ann = {
        "thumos_test_csv": lambda: readers.read_refineloc_csv(
            t / "thumos14_test_groundtruth.csv", subset="testing", classes=classes),
        "anet_csv": lambda: readers.read_refineloc_csv(
            shared_data / "activitynet12" / "activitynet_v1-2_valid_groundtruth.csv"),
        "basnet": lambda: readers.read_activitynet_json(t / "thumos14_gt_basnet.json"),
        "wtalc": lambda: readers.read_wtalc(t / "wtalc", allow_pickle=True),
    }[source]()
    interchange.write_root(tmp_path / "root", ann, None)
    back = interchange.open_root(tmp_path / "root").annotations
    assert back.classes == ann.classes
    assert _segments(back) == _segments(ann)
    assert {v: a.subset for v, a in back.videos.items()} == {
        v: a.subset for v, a in ann.videos.items()}


def test_feature_layouts(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "one").mkdir()
    np.save(tmp_path / "one" / "a.npy", rng.standard_normal((5, 4)).astype(np.float32))
    store = readers.open_features(tmp_path / "one")
    assert isinstance(store, readers.NpyDirFeatures) and store.load("a").shape == (5, 4)

    for stream, t in (("rgb", 6), ("flow", 5)):
        (tmp_path / "two" / stream).mkdir(parents=True)
        np.save(tmp_path / "two" / stream / "a.npy", np.full((t, 3), t, np.float32))
    store = readers.open_features(tmp_path / "two")
    feats = store.load("a")
    assert feats.shape == (5, 6)  # cut to the shorter stream, concatenated
    np.testing.assert_array_equal(feats[0], [6, 6, 6, 5, 5, 5])

    packed = np.empty(2, object)
    packed[0] = np.ones((3, 2))
    packed[1] = np.zeros((4, 2))
    np.save(tmp_path / "packed.npy", packed, allow_pickle=True)
    with pytest.raises(WtalError, match="opt-in"):
        readers.open_features(tmp_path / "packed.npy", video_ids=["x", "y"])
    store = readers.open_features(tmp_path / "packed.npy", video_ids=["x", "y"],
                                  allow_pickle=True)
    assert store.load("y").shape == (4, 2) and store.load("y").dtype == np.float32


def test_truncated_npy_names_file_and_video(tmp_path):
    np.save(tmp_path / "v1.npy", np.ones((50, 8), np.float32))
    data = (tmp_path / "v1.npy").read_bytes()
    (tmp_path / "v1.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(WtalError, match=r"v1\.npy.*'v1'.*truncated"):
        readers.NpyDirFeatures(tmp_path).load("v1")


def test_malformed_json(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(WtalError, match="malformed JSON"):
        readers.read_activitynet_json(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"database": {"v": {"annotations": [
        {"segment": ["x", 2], "label": "a"}]}}}))
    with pytest.raises(WtalError, match="'v'.*not a number"):
        readers.read_activitynet_json(tmp_path / "b.json")
