"""The synthetic default is deterministic and hard in the ways the papers are about;
the difficulty ladder's knobs, rungs and real timelines do what they say."""

import csv
import math

import numpy as np
import pytest

from wtal_tf.cli.main import main
from wtal_tf.data import interchange, synthetic
from wtal_tf.data.video import Segment, num_snippets_for_duration, segment_snippets
from wtal_tf.errors import WtalError
from wtal_tf.data.splits import HOLDOUT_FRACTION, holdout_score, is_holdout, split_ids


@pytest.fixture(scope="module")
def videos():
    # the default profile and D, fewer videos to keep the test fast
    return list(synthetic.iter_videos(synthetic.SyntheticSpec(num_train=60, num_test=0)))


def test_deterministic_by_seed(tmp_path):
    spec = synthetic.SyntheticSpec(num_train=3, num_test=2, feature_dim=16)
    a = list(synthetic.iter_videos(spec))
    b = list(synthetic.iter_videos(spec))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.features, y.features)
        assert x.annotation.segments == y.annotation.segments
    c = list(synthetic.iter_videos(synthetic.SyntheticSpec(num_train=3, num_test=2,
                                                           feature_dim=16, seed=1)))
    assert not np.array_equal(a[0].features[:10], c[0].features[:10][: len(a[0].features)])
    # a video does not depend on how many others are generated
    more = list(synthetic.iter_videos(synthetic.SyntheticSpec(num_train=5, num_test=2,
                                                              feature_dim=16)))
    np.testing.assert_array_equal(a[2].features, more[2].features)
    # and the written root round-trips
    synthetic.build(tmp_path / "r", spec, progress=False)
    root = interchange.open_root(tmp_path / "r")
    np.testing.assert_array_equal(root.video(a[1].annotation.video_id).features, a[1].features)
    assert "profile=thumos seed=0" in root.version


def test_thumos_statistics(videos):
    n = [len(v.annotation.segments) for v in videos]
    fg = np.mean([v.foreground.mean() for v in videos])
    assert 0.25 < fg < 0.4                                     # THUMOS'14: 0.30-0.32
    assert 5 < np.mean(n) < 25                                 # THUMOS'14: 15 per video
    lengths = [s.end - s.start for v in videos for s in v.annotation.segments]
    assert 2.0 < np.median(lengths) < 4.5                      # THUMOS'14: ~3 s
    assert any(len(v.annotation.labels) == 2 for v in videos)  # two-class videos exist
    t = [v.features.shape[0] for v in videos]
    assert min(t) >= 80 and max(t) <= 600 and videos[0].features.shape[1] == 256


def _runs(mask):
    return int(np.sum(np.diff(np.concatenate([[0], mask.astype(int)])) == 1))


def test_thresholding_clean_evidence_over_segments(videos):
    """Dips inside actions (and bursts outside) split a thresholded CAS."""
    pieces = instances = 0
    for v in videos:
        for s in v.annotation.segments:
            k = int(s.label.split("_")[1])
            x1, x2 = int(round(s.start / 0.5)), int(round(s.end / 0.5)) - 1
            pieces += _runs(v.evidence[x1:x2 + 1, k] > 0.5)
            instances += 1
    assert pieces > 1.3 * instances


def test_bursts_in_background(videos):
    bursts = sum(_runs(v.burst) for v in videos)
    assert bursts > 0.5 * len(videos)
    for v in videos:
        assert not (v.burst & v.foreground).any()
        if v.burst.any():
            assert v.evidence[v.burst].max(axis=1).min() > 0.4


def test_context_looks_like_action_in_appearance_not_in_motion(videos):
    half = 128
    app_ctx, app_bg, mot_ctx, mot_bg = [], [], [], []
    for v in videos:
        bg = ~v.foreground & ~v.context & ~v.burst
        if not v.context.any() or not bg.any():
            continue
        act = v.features[v.foreground].mean(axis=0)
        ctx = v.features[v.context].mean(axis=0)
        back = v.features[bg].mean(axis=0)
        app_ctx.append(np.linalg.norm(ctx[:half] - act[:half]))
        app_bg.append(np.linalg.norm(back[:half] - act[:half]))
        mot_ctx.append(np.linalg.norm(ctx[half:] - act[half:]))
        mot_bg.append(np.linalg.norm(back[half:] - act[half:]))
    # appearance: context is much closer to the action than plain background is
    assert np.mean(app_ctx) < 0.6 * np.mean(app_bg)
    # motion: context is as far from the action as plain background
    assert np.mean(mot_ctx) > 0.8 * np.mean(mot_bg)
    assert np.mean(mot_ctx) > 3 * np.mean(app_ctx)


def test_anet_profile_long_instances():
    vids = list(synthetic.iter_videos(synthetic.SyntheticSpec(profile="anet", num_train=30,
                                                              num_test=0, feature_dim=16)))
    n = [len(v.annotation.segments) for v in vids]
    assert max(n) <= 2 and np.mean(n) >= 1.0
    assert 0.4 < np.mean([v.foreground.mean() for v in vids]) < 0.85


def test_holdout_rule_is_stable_and_about_20_percent():
    ids = [f"video_{i}" for i in range(5000)]
    frac = np.mean([is_holdout(v) for v in ids])
    assert abs(frac - HOLDOUT_FRACTION) < 0.02
    # fixed by the id alone: the same answer in a bigger dataset
    assert [is_holdout(v) for v in ids[:50]] == [is_holdout(v) for v in ids[:50]]
    assert holdout_score("video_1") == holdout_score("video_1")


def test_split_ids(tmp_path):
    spec = synthetic.SyntheticSpec(num_train=20, num_test=5, feature_dim=8,
                                   min_snippets=10, max_snippets=20)
    synthetic.build(tmp_path / "r", spec, progress=False)
    s = split_ids(interchange.open_root(tmp_path / "r").annotations)
    assert len(s["train"]) + len(s["holdout"]) == 20 and len(s["test"]) == 5
    assert all(is_holdout(v) for v in s["holdout"])
    assert not set(s["train"]) & set(s["holdout"])


# ---------------------------------------------------------------- difficulty ladder

def _small(**kw):
    return synthetic.SyntheticSpec(num_train=kw.pop("num_train", 12), num_test=0,
                                   min_snippets=60, max_snippets=100, **kw)


def _background(v):
    return ~v.foreground & ~v.context & ~v.burst


def test_default_rung_is_the_profile():
    assert _small().resolved_profile() == _small(rung="default").resolved_profile()
    hard = _small(rung="hard").resolved_profile()
    base = synthetic.PROFILES["thumos"]
    assert (hard.noise_sd, hard.scene_class_similarity, hard.action_motion,
            hard.generic_motion) == (0.25, 0.9, 1.0, 0.5)
    assert hard.noise_sd > base.noise_sd
    assert hard.scene_class_similarity > base.scene_class_similarity
    # an explicit knob wins over the rung
    assert _small(rung="hard", noise_sd=0.2).resolved_profile().noise_sd == 0.2
    assert "rung=hard noise_sd=0.2 " in _small(rung="hard", noise_sd=0.2).version()


@pytest.mark.parametrize("sd", [0.05, 0.4])
def test_noise_knob_is_the_sd_on_background(sd):
    # background motion is pure noise: its per-dimension sd over time is noise_sd
    half = 8
    vids = synthetic.iter_videos(_small(noise_sd=sd, feature_dim=2 * half))
    sds = [v.features[_background(v), half:].std(axis=0) for v in vids]
    assert np.mean(np.concatenate(sds)) == pytest.approx(sd, rel=0.1)


def _scene_cosine(similarity):
    spec = _small(scene_class_similarity=similarity, feature_dim=256, num_train=20)
    protos = synthetic.class_prototypes(spec.resolved_profile(), spec.seed)
    names = synthetic.class_names(spec.resolved_profile())
    cos = []
    for v in synthetic.iter_videos(spec):
        if len(v.annotation.labels) != 1:
            continue
        app = v.features[_background(v), :128].mean(axis=0)  # averages the noise out
        proto = protos.appearance[names.index(v.annotation.labels[0])]
        cos.append(app @ proto / np.linalg.norm(app))
    return np.mean(cos)


def test_scene_similarity_knob_sets_the_background_cosine_to_the_class():
    # background appearance = s * prototype + 0.7 * random scene (unit-ish,
    # nearly orthogonal in 128 dims): cosine ~ s / sqrt(s^2 + 0.49)
    for s in (0.0, 0.6, 1.5):
        assert _scene_cosine(s) == pytest.approx(s / math.sqrt(s * s + 0.49), abs=0.06)


def test_motion_knobs_set_the_action_amplitudes():
    for motion, generic in ((1.0, 0.5), (0.3, 0.8)):
        spec = _small(action_motion=motion, generic_motion=generic, noise_sd=0.0,
                      feature_dim=64)
        profile = spec.resolved_profile()
        protos = synthetic.class_prototypes(profile, spec.seed)
        names = synthetic.class_names(profile)
        v = next(synthetic.iter_videos(spec))
        s = v.annotation.segments[0]
        k = names.index(s.label)
        x1, x2 = int(round(s.start / 0.5)), int(round(s.end / 0.5)) - 1
        top = v.evidence[x1:x2 + 1, k].argmax() + x1       # not inside a dip
        mot = v.features[top, 32:]
        assert mot @ protos.motion[k] == pytest.approx(motion + generic * motion *
                                                       (protos.generic @ protos.motion[k]),
                                                       abs=1e-5)


@pytest.mark.parametrize("kw, text", [
    (dict(noise_sd=-0.1), "noise_sd must be"), (dict(action_motion=float("nan")), "action_motion"),
    (dict(rung="harder"), "unknown rung"), (dict(timeline="thumos15"), "unknown timeline"),
    (dict(timeline="thumos14", classes=0), "classes must be >= 1"),
    (dict(classes=3), "timeline (--timeline) only")])
def test_bad_knobs_are_user_errors(kw, text):
    with pytest.raises(WtalError, match=text.replace("(", r"\(").replace(")", r"\)")):
        synthetic.SyntheticSpec(**kw).check()


# ---------------------------------------------------------------- real timelines

@pytest.fixture(scope="module")
def thumos_timeline(shared_data):
    spec = synthetic.SyntheticSpec(timeline="thumos14", timeline_dir=str(shared_data),
                                   feature_dim=16)
    return spec, synthetic.load_timeline(spec)


def _timeline_video(spec, timeline, vid):
    ann = next(v for v in timeline.videos if v.video_id == vid)
    profile = spec.resolved_profile(len(timeline.classes))
    return synthetic.generate_timeline_video(
        profile, synthetic.class_prototypes(profile, spec.seed), spec.seed, ann,
        timeline.classes)


def test_segment_snippets_by_hand():
    # snippet t is in when its centre (t + 0.5) * 0.5 s lies in [start, end)
    assert segment_snippets(0.2, 1.1, 0.5, 68) == (0, 1)
    assert segment_snippets(1.0, 1.5, 0.5, 68) == (2, 2)
    assert segment_snippets(11.4, 12.2, 0.5, 68) == (23, 23)
    assert segment_snippets(11.5, 11.6, 0.5, 68) == (23, 23)  # < 1 snippet
    assert segment_snippets(30.0, 40.0, 0.5, 68) == (60, 67)  # clipped
    assert segment_snippets(40.0, 41.0, 0.5, 68) is None      # past the end
    assert num_snippets_for_duration(100.0, 0.5) == 200
    assert num_snippets_for_duration(0.1, 1.28) == 1


def test_thumos_timeline_video_matches_the_csv(thumos_timeline):
    spec, timeline = thumos_timeline
    assert len(timeline.videos) == 412 and timeline.classes[0] == "BaseballPitch"
    # thumos14_test_groundtruth.csv: video_test_0000004, 33.826 s, classes 5 and 6
    v = _timeline_video(spec, timeline, "video_test_0000004")
    ann = v.annotation
    assert ann.subset == "testing" and ann.seconds_per_snippet == 0.5
    assert v.features.shape == (68, 16)                       # ceil(33.826 / 0.5)
    # class 5: 0.2-1.1, 11.4-12.2, 18.6-20.8, 28.3-29.7 s; class 6: 1.0-1.5, 20.8-22.3,
    # 30.3-31.7 s; snippet t is in when (t + 0.5) * 0.5 lies in [start, end)
    spans = {5: [(0, 1), (23, 23), (37, 41), (57, 58)],
             6: [(2, 2), (42, 44), (61, 62)]}
    expected_fg = sorted(t for k in spans for a, b in spans[k] for t in range(a, b + 1))
    assert np.flatnonzero(v.foreground).tolist() == expected_fg
    for k, class_spans in spans.items():
        inside = {t for a, b in class_spans for t in range(a, b + 1)}
        evidence_fg = set(np.flatnonzero((v.evidence[:, k] > 0) & v.foreground).tolist())
        assert evidence_fg <= inside and evidence_fg & {a for a, _ in class_spans}
    assert ann.segments[2] == Segment(18.6, 20.8, timeline.classes[5])
    assert ann.labels == (timeline.classes[5], timeline.classes[6])


def test_segments_past_the_end_kept_as_given(thumos_timeline):
    spec, timeline = thumos_timeline
    # video_test_0001081 (117.235 s) has a segment at 127.5-130.1: kept in the
    # annotations, no evidence in the features
    v = _timeline_video(spec, timeline, "video_test_0001081")
    assert v.features.shape[0] == 235                         # ceil(234.47)
    assert any(s.start == 127.5 and s.end == 130.1 for s in v.annotation.segments)
    assert v.annotation.duration == 117.235


def test_anet_timeline_stride_and_inverted_segment(shared_data):
    spec = synthetic.SyntheticSpec(timeline="activitynet12", timeline_dir=str(shared_data),
                                   feature_dim=16)
    timeline = synthetic.load_timeline(spec)
    assert timeline.dropped_segments == 2            # one end <= start in each CSV
    assert len(timeline.videos) == 4702 + 2303 and len(timeline.classes) == 100
    # ---9CpRcKoU: 14.014 s, Drinking beer at 0.01-12.64441 s; 1.28 s snippets
    v = _timeline_video(spec, timeline, "---9CpRcKoU")
    assert v.features.shape[0] == 11                 # ceil(10.95)
    assert np.flatnonzero(v.foreground).tolist() == list(range(10))  # centres 0.64..12.16 s
    assert v.annotation.seconds_per_snippet == 1.28 and v.annotation.subset == "training"
    assert spec.test_subset == "validation"
    inverted = next(a for a in timeline.videos if a.video_id == "EJxWhTE_ZeE")
    assert len(inverted.segments) == 6               # 7 rows, one with end == start


def _csv_videos_within(path, allowed):
    labels = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            labels.setdefault(row["video-name"], set()).add(row["label"])
    return {v for v, ls in labels.items() if ls <= allowed}


def test_classes_keeps_exactly_the_videos_within_the_first_n(shared_data):
    t = shared_data / "thumos14"
    expected = (_csv_videos_within(t / "thumos14_valid_groundtruth.csv", {"0", "1", "2"})
                | _csv_videos_within(t / "thumos14_test_groundtruth.csv", {"0", "1", "2"}))
    spec = synthetic.SyntheticSpec(timeline="thumos14", timeline_dir=str(shared_data),
                                   classes=3)
    timeline = synthetic.load_timeline(spec)
    assert {v.video_id for v in timeline.videos} == expected and len(expected) > 20
    assert timeline.classes == ("BaseballPitch", "BasketballDunk", "Billiards")

    a = shared_data / "activitynet12"
    files = ("activitynet_v1-2_train_groundtruth.csv", "activitynet_v1-2_valid_groundtruth.csv")
    names = set()
    for name in files:
        with open(a / name, newline="") as f:
            names |= {row["label"] for row in csv.DictReader(f)}
    first = set(sorted(names)[:20])
    counts = [len(_csv_videos_within(a / name, first)) for name in files]
    spec = synthetic.SyntheticSpec(timeline="activitynet12", timeline_dir=str(shared_data),
                                   classes=20)
    timeline = synthetic.load_timeline(spec)
    got = [sum(v.subset == s for v in timeline.videos) for s in ("training", "validation")]
    assert got == counts and 800 < counts[0] < 1000 and 380 < counts[1] < 500


def test_timeline_is_deterministic(thumos_timeline, shared_data):
    spec, timeline = thumos_timeline
    a = _timeline_video(spec, timeline, "video_validation_0000681")
    b = _timeline_video(spec, synthetic.load_timeline(spec), "video_validation_0000681")
    np.testing.assert_array_equal(a.features, b.features)
    other = synthetic.SyntheticSpec(timeline="thumos14", timeline_dir=str(shared_data),
                                    feature_dim=16, seed=1)
    c = _timeline_video(other, timeline, "video_validation_0000681")
    assert not np.array_equal(a.features, c.features)


def test_missing_timeline_file_names_it(tmp_path, monkeypatch):
    spec = synthetic.SyntheticSpec(timeline="thumos14", timeline_dir=str(tmp_path))
    with pytest.raises(WtalError, match="thumos14_valid_groundtruth.csv.*--timeline-dir"):
        synthetic.load_timeline(spec)
    monkeypatch.setenv(synthetic.TIMELINE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert synthetic.timeline_dir() == tmp_path / "elsewhere"


def test_cli_timeline_root_validates(shared_data, tmp_path, capsys):
    root = tmp_path / "tl"
    assert main(["data", "synth", str(root), "--timeline", "thumos14", "--classes", "3",
                 "--rung", "hard", "--dim", "16", "--timeline-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "0 segments with end <= start dropped" in out
    r = interchange.open_root(root)
    assert r.annotations.classes == ("BaseballPitch", "BasketballDunk", "Billiards")
    assert "timeline=thumos14" in r.version and "rung=hard" in r.version
    assert all(v.video_id.startswith("video_") for v in r.annotations.videos.values())
    assert main(["data", "validate", "--quiet", str(root)]) == 0
    # bad input: one line, non-zero
    assert main(["data", "synth", str(tmp_path / "x"), "--noise", "-1"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("wtal data synth: error:") and "noise_sd" in err and "\n" not in err
    assert main(["data", "synth", str(tmp_path / "y"), "--timeline", "thumos14",
                 "--timeline-dir", str(tmp_path / "none")]) != 0
    assert "thumos14_valid_groundtruth.csv" in capsys.readouterr().err
