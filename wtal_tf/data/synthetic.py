"""The synthetic default: video features that are hard the way real ones are.

No real features can be downloaded where this project is developed, so every
model is developed and compared here.  A video is a sequence of ``T``
snippets whose ``D``-dim feature is an *appearance* half and a *motion* half
(the two streams of TSN/I3D, AutoLoc §4.1, RefineLoc §3.1).  The generator
reproduces the difficulties the papers are about:

* **dips inside actions**: the class evidence (motion) drops for a few
  snippets inside many instances, so thresholding a CAS over-segments
  (AutoLoc §1);
* **context**: the scene of a video looks like its action in appearance, and
  the snippets just before and after an instance look like the action in
  appearance but not in motion -- the outer area AutoLoc's OIC loss contrasts
  with (AutoLoc §3.1, RefineLoc §2 "highly similar context");
* **bursts**: short action-like motion bursts in the background, too short to
  be instances;
* several classes in some videos (THUMOS'14 has them).

Every knob of :class:`SyntheticProfile` names the real statistic it imitates;
those of THUMOS'14 were measured on RefineLoc's ground-truth CSVs
(``../shared/data``).  Generation is deterministic: video ``i`` of a subset is
drawn from ``default_rng([seed, subset_code, i])``, independent of the others.

The default is too easy to stand for other data, so the generator offers a
difficulty ladder (README "Difficulty ladder"): knobs (:data:`KNOBS`) and
named rungs (:data:`RUNGS`) over a profile, and real timelines
(:data:`TIMELINES`): the durations and annotated instances of THUMOS'14 or
ActivityNet 1.2 videos carry the synthetic features, so models meet real
video lengths, dense and overlapping instances and long instances.  A
timeline video is drawn from ``default_rng([seed, subset_code, hash(id)])``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from wtal_tf.data.video import (Segment, VideoAnnotation, num_snippets_for_duration,
                                segment_snippets)
from wtal_tf.errors import WtalError

#: Bump when the generator or the default changes: every README table is then
#: regenerated.
SYNTHETIC_VERSION = "1.1.0"


@dataclasses.dataclass(frozen=True)
class SyntheticProfile:
    """Knobs of the generator, each with the real statistic it imitates."""

    name: str
    #: THUMOS'14 localization has 20 classes; ActivityNet 1.2 has 100.
    num_classes: int
    #: Snippet stride: 15 frames at 30 fps = 0.5 s (AutoLoc §4.1, TSN snippets).
    seconds_per_snippet: float
    #: Video length in snippets (uniform).  THUMOS'14 videos: median 155 s
    #: (~310 snippets), so 80..600 covers the bulk while training in minutes.
    min_snippets: int
    max_snippets: int
    #: Fraction of a video covered by actions: 0.30 (val) / 0.32 (test) on
    #: THUMOS'14, 0.66 on ActivityNet 1.2 val.
    foreground_ratio: float
    #: Instance length, log-normal: THUMOS'14 median 2.9-3.2 s (6 snippets),
    #: mean 4.0-4.5 s -> sigma = sqrt(2 ln(mean/median)) ~ 0.85.
    instance_median_snippets: float
    instance_log_sigma: float
    #: At most this many instances (ActivityNet 1.2: 1-2 per video, mean 1.5).
    max_instances: int
    #: Videos with a second class: 27/200 THUMOS'14 val, 34/212 test (~15%).
    two_class_probability: float
    #: Appearance and motion dimensions: 1024 + 1024 for TSN/I3D; 128 + 128 here.
    appearance_dim: int = 128
    motion_dim: int = 128
    #: Probability that an instance has a dip, and the dip's length (snippets)
    #: and remaining evidence (fraction of the motion signal).
    dip_probability: float = 0.6
    dip_max_snippets: int = 3
    dip_strength: tuple[float, float] = (0.0, 0.3)
    #: Context around each instance: snippets that look like the action in
    #: appearance (approach, run-up) but not in motion.
    context_max_snippets: int = 4
    #: Short background bursts: rate per snippet, length 1-2, motion strength.
    burst_rate: float = 1 / 50
    burst_strength: tuple[float, float] = (0.5, 1.0)
    #: How much the scene (every snippet) looks like its video's class.
    scene_class_similarity: float = 0.6
    #: Amplitudes of the action's appearance and motion signals.
    action_appearance: float = 1.0
    action_motion: float = 1.0
    #: Class-agnostic "something moves" component of every action (what a
    #: background/foreground attention can learn across classes).
    generic_motion: float = 0.5
    #: Per-dimension noise sd and its temporal AR(1) correlation.
    noise_sd: float = 0.09
    noise_correlation: float = 0.5


PROFILES = {
    "thumos": SyntheticProfile(
        name="thumos", num_classes=20, seconds_per_snippet=0.5, min_snippets=80,
        max_snippets=600, foreground_ratio=0.31, instance_median_snippets=6.0,
        instance_log_sigma=0.85, max_instances=60, two_class_probability=0.15),
    "anet": SyntheticProfile(
        # ActivityNet 1.2 val: 1.5 instances per video, 50 s mean in 115 s videos.
        name="anet", num_classes=100, seconds_per_snippet=0.5, min_snippets=80,
        max_snippets=400, foreground_ratio=0.66, instance_median_snippets=60.0,
        instance_log_sigma=0.6, max_instances=2, two_class_probability=0.003,
        context_max_snippets=8, burst_rate=1 / 80),
}

_SUBSET_CODES = {"training": 1, "validation": 2, "testing": 3}


@dataclasses.dataclass
class SyntheticVideo:
    """One generated video with the latent variables tests look at."""

    annotation: VideoAnnotation
    features: np.ndarray          # [T, D] float32
    evidence: np.ndarray          # [T, K] clean class evidence (motion strength)
    foreground: np.ndarray        # [T] bool, inside an instance
    context: np.ndarray           # [T] bool, context snippets
    burst: np.ndarray             # [T] bool, background bursts


def _unit(rng, k, d):
    v = rng.standard_normal((k, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@dataclasses.dataclass
class _Prototypes:
    appearance: np.ndarray   # [K, Da]
    motion: np.ndarray       # [K, Dm]
    generic: np.ndarray      # [Dm]


def class_prototypes(profile: SyntheticProfile, seed: int) -> _Prototypes:
    """The dataset-wide class signals (shared by all videos of a seed)."""
    rng = np.random.default_rng([seed, 0])
    return _Prototypes(_unit(rng, profile.num_classes, profile.appearance_dim),
                       _unit(rng, profile.num_classes, profile.motion_dim),
                       _unit(rng, 1, profile.motion_dim)[0])


def _place_instances(rng, profile, t_len):
    """Non-overlapping instances with context gaps; returns [(x1, x2)] inclusive."""
    target = profile.foreground_ratio * t_len
    lengths = []
    while sum(lengths) < target and len(lengths) < profile.max_instances:
        length = int(np.clip(round(rng.lognormal(np.log(profile.instance_median_snippets),
                                                 profile.instance_log_sigma)), 1,
                             max(1, int(0.9 * t_len))))
        lengths.append(length)
    if not lengths:
        lengths = [1]
    free = t_len - sum(lengths)
    while free < len(lengths) + 1 and len(lengths) > 1:
        lengths.pop()
        free = t_len - sum(lengths)
    if free < 0:
        lengths = [t_len]
        free = 0
    gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * free
    gaps = np.floor(gaps).astype(int)
    gaps[1:-1] = np.maximum(gaps[1:-1], 1)  # instances never touch
    spans, x = [], int(gaps[0])
    for length, gap in zip(lengths, gaps[1:]):
        x2 = min(x + length - 1, t_len - 1)
        if x > t_len - 1:
            break
        spans.append((x, x2))
        x = x2 + 1 + int(gap)
    return spans


def _draw_layout(rng, p: SyntheticProfile):
    """A generated video's length, instances and their classes (profile statistics)."""
    t_len = int(rng.integers(p.min_snippets, p.max_snippets + 1))
    main_class = int(rng.integers(p.num_classes))
    classes = [main_class]
    if rng.random() < p.two_class_probability:
        classes.append(int((main_class + rng.integers(1, p.num_classes)) % p.num_classes))
    spans = _place_instances(rng, p, t_len)
    inst_class = [classes[0] if (len(classes) == 1 or rng.random() < 0.6) else classes[1]
                  for _ in spans]
    if len(classes) == 2 and classes[1] not in inst_class and len(spans) > 1:
        inst_class[-1] = classes[1]
    return t_len, spans, inst_class


def generate_video(profile: SyntheticProfile, protos: _Prototypes, seed: int,
                   subset: str, index: int) -> SyntheticVideo:
    """Generates one video deterministically from ``(seed, subset, index)``."""
    rng = np.random.default_rng([seed, _SUBSET_CODES[subset], index])
    t_len, spans, inst_class = _draw_layout(rng, profile)
    stride = profile.seconds_per_snippet
    names = class_names(profile)
    segments = [Segment(x1 * stride, (x2 + 1) * stride, names[k])
                for (x1, x2), k in zip(spans, inst_class)]
    ann = VideoAnnotation(video_id(subset, index), subset, t_len * stride, segments)
    return _render(rng, profile, protos, ann, t_len, spans, inst_class,
                   sorted(set(inst_class)))


def _render(rng, p: SyntheticProfile, protos: _Prototypes, ann: VideoAnnotation,
            t_len: int, spans, inst_class, classes) -> SyntheticVideo:
    """Features of a video whose instances are laid out: context, dips, bursts,
    scene appearance and noise.

    Args:
        spans: ``[(x1, x2)]`` inclusive snippet spans inside ``[0, t_len)``;
            they may overlap or touch (real timelines): the class evidence is
            then their union.
        inst_class: the class index of each span.
        classes: the video's class indices (its scene resembles them).
    """
    da, dm = p.appearance_dim, p.motion_dim
    evidence = np.zeros((t_len, p.num_classes))       # motion signal per class
    app_weight = np.zeros((t_len, p.num_classes))     # appearance signal per class
    foreground = np.zeros(t_len, bool)
    context = np.zeros(t_len, bool)
    burst = np.zeros(t_len, bool)
    # the scene resembles the video's class(es) in appearance everywhere
    for k in classes:
        app_weight[:, k] += p.scene_class_similarity / len(classes)
    for (x1, x2), k in zip(spans, inst_class):
        foreground[x1:x2 + 1] = True
        inst = np.full(x2 - x1 + 1, p.action_motion)
        app_weight[x1:x2 + 1, k] = p.action_appearance
        if rng.random() < p.dip_probability and x2 - x1 >= 3:
            n = int(rng.integers(1, p.dip_max_snippets + 1))
            n = min(n, x2 - x1 - 1)
            start = int(rng.integers(x1 + 1, x2 - n + 1))
            inst[start - x1:start - x1 + n] *= rng.uniform(*p.dip_strength)
        # union with overlapping instances of the same class (a dip in one
        # instance does not remove another's evidence)
        evidence[x1:x2 + 1, k] = np.maximum(evidence[x1:x2 + 1, k], inst)
        for lo, hi in ((x1 - int(rng.integers(1, p.context_max_snippets + 1)), x1 - 1),
                       (x2 + 1, x2 + int(rng.integers(1, p.context_max_snippets + 1)))):
            lo, hi = max(lo, 0), min(hi, t_len - 1)
            for t in range(lo, hi + 1):
                if not foreground[t]:
                    context[t] = True
                    app_weight[t, k] = p.action_appearance
    context &= ~foreground
    # short bursts of action-like motion in the background
    n_bursts = rng.poisson(p.burst_rate * t_len)
    for _ in range(n_bursts):
        t0 = int(rng.integers(t_len))
        length = int(rng.integers(1, 3))
        sl = slice(t0, min(t0 + length, t_len))
        if foreground[sl].any() or context[sl].any():
            continue
        k = classes[0] if rng.random() < 0.7 else int(rng.integers(p.num_classes))
        evidence[sl, k] = p.action_motion * rng.uniform(*p.burst_strength)
        burst[sl] = True

    noise = rng.standard_normal((t_len, da + dm))
    for t in range(1, t_len):  # AR(1): features change smoothly over time
        noise[t] = p.noise_correlation * noise[t - 1] + \
            np.sqrt(1 - p.noise_correlation ** 2) * noise[t]
    scene = rng.standard_normal(da) / np.sqrt(da)
    appearance = app_weight @ protos.appearance + 0.7 * scene
    motion_level = evidence.max(axis=1, keepdims=True)
    motion = evidence @ protos.motion + p.generic_motion * motion_level * protos.generic
    feats = np.concatenate([appearance, motion], axis=1) + p.noise_sd * noise
    return SyntheticVideo(ann, feats.astype(np.float32), evidence,
                          foreground, context, burst)


def video_id(subset: str, index: int) -> str:
    return f"synth_{subset}_{index:05d}"


def class_names(profile: SyntheticProfile) -> tuple[str, ...]:
    return tuple(f"class_{k:03d}" for k in range(profile.num_classes))


#: The knobs a rung or a ``wtal data synth`` flag may set: fields of
#: :class:`SyntheticProfile` (and of :class:`SyntheticSpec`, as overrides).
KNOBS = ("noise_sd", "scene_class_similarity", "action_motion", "generic_motion")

#: Difficulty rungs: knob values applied over a profile's own.  ``default``
#: is the profile as documented above.  ``hard`` is harder in two ways at
#: once:
#:   * the scene looks more like the video's class in appearance (0.9 of an
#:     action's appearance instead of 0.6), so appearance alone hardly tells
#:     an action from its background and context: localization must use
#:     motion;
#:   * feature noise 0.25 per dimension instead of 0.09.
#: Calibrated so that the *snippet* level stays learnable: a first
#: calibration on the CAS model's video-level top-1 alone (noise 0.6, class
#: motion 0.5: top-1 0.90) left the fully supervised snippet classifier at
#: 1.7 mAP@0.5 on THUMOS'14 timelines -- a rung no method can be compared on.
#: With noise 0.25 (THUMOS profile, seed 0, D = 256): the supervised
#: reference 33.4 mAP@0.5, the CAS model 27.4 (noise 0.2 / class motion 0.5:
#: 23.2 / 16.2; 0.3 / 0.6: 16.1 / 13.7; 0.45 / 1.0: 16.5 / 14.9); the CAS
#: model's test video top-1 stays 1.00 on this profile.
RUNGS: dict[str, dict[str, float]] = {
    "default": {},
    "hard": {"noise_sd": 0.25, "scene_class_similarity": 0.9, "action_motion": 1.0,
             "generic_motion": 0.5},
}


@dataclasses.dataclass(frozen=True)
class TimelineSource:
    """A real dataset whose videos' timelines (durations, annotated instances)
    carry synthetic features.

    Attributes:
        name: the ``--timeline`` name.
        profile: the profile whose generator knobs (context, dips, bursts)
            apply.
        files: ``(path under the timeline folder, subset)`` of each
            ground-truth CSV (RefineLoc's format).
        classlist: the class list file (labels in the CSVs are indices), or
            ``None``: the class order is the sorted class names.
        seconds_per_snippet: the default snippet stride.
    """

    name: str
    profile: str
    files: tuple[tuple[str, str], ...]
    classlist: str | None
    seconds_per_snippet: float


TIMELINES = {
    # THUMOS'14 trains on its validation videos and tests on its test videos
    # (AutoLoc §5.1, RefineLoc §4.1); stride 15 frames at 30 fps = 0.5 s
    # (AutoLoc §4.1).  T = 18..3347 snippets (durations 8.9-1673 s in the CSVs).
    "thumos14": TimelineSource(
        "thumos14", "thumos",
        (("thumos14/thumos14_valid_groundtruth.csv", "training"),
         ("thumos14/thumos14_test_groundtruth.csv", "testing")),
        "thumos14/classlist.txt", 0.5),
    # ActivityNet 1.2: trained on train, tested on val (RefineLoc §4.1).  Stride
    # 1.28 s (32 frames at 25 fps): T = 1..187 snippets (durations 1.1-239 s
    # in the CSVs), so the long instances stay affordable on CPUs.
    "activitynet12": TimelineSource(
        "activitynet12", "anet",
        (("activitynet12/activitynet_v1-2_train_groundtruth.csv", "training"),
         ("activitynet12/activitynet_v1-2_valid_groundtruth.csv", "validation")),
        None, 1.28),
}

#: Environment variable naming the folder that holds the timeline CSVs.
TIMELINE_DIR_ENV = "WTAL_TIMELINE_DIR"


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: a profile (or a real timeline), a rung, knobs, a seed,
    split sizes and the feature size.

    Attributes:
        profile: ``thumos`` or ``anet``; with a ``timeline`` the timeline's
            own profile is used instead.
        rung: a key of :data:`RUNGS`.
        noise_sd, scene_class_similarity, action_motion, generic_motion:
            override the rung's (or profile's) value when not ``None``.
        timeline: a key of :data:`TIMELINES`: real videos' timelines instead
            of generated ones; ``num_train``/``num_test`` are then ignored.
        timeline_dir: the folder of the timeline files (default
            ``$WTAL_TIMELINE_DIR``, else ``../shared/data``).
        classes: with a timeline, keep only the videos all of whose labels are
            among the first ``classes`` classes.
        seconds_per_snippet: with a timeline, the snippet stride (default the
            timeline's).
    """

    profile: str = "thumos"
    seed: int = 0
    num_train: int = 150
    num_test: int = 100
    feature_dim: int = 256
    min_snippets: int | None = None
    max_snippets: int | None = None
    rung: str = "default"
    noise_sd: float | None = None
    scene_class_similarity: float | None = None
    action_motion: float | None = None
    generic_motion: float | None = None
    timeline: str | None = None
    timeline_dir: str | None = None
    classes: int | None = None
    seconds_per_snippet: float | None = None

    def check(self) -> None:
        """Raises a one-line :class:`WtalError` for a bad value."""
        if self.timeline is not None and self.timeline not in TIMELINES:
            raise WtalError(f"unknown timeline {self.timeline!r}; expected one of "
                            f"{sorted(TIMELINES)}")
        if self.timeline is None and self.profile not in PROFILES:
            raise WtalError(f"unknown profile {self.profile!r}; expected one of "
                            f"{sorted(PROFILES)}")
        if self.rung not in RUNGS:
            raise WtalError(f"unknown rung {self.rung!r}; expected one of {sorted(RUNGS)}")
        for knob in KNOBS:
            value = getattr(self, knob)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise WtalError(f"{knob} must be a finite number >= 0, got {value}")
        if self.classes is not None and self.classes <= 0:
            raise WtalError(f"classes must be >= 1, got {self.classes}")
        if self.seconds_per_snippet is not None and not (
                np.isfinite(self.seconds_per_snippet) and self.seconds_per_snippet > 0):
            raise WtalError("seconds_per_snippet must be a number > 0, got "
                            f"{self.seconds_per_snippet}")
        if self.timeline is None and (self.classes is not None
                                      or self.seconds_per_snippet is not None):
            raise WtalError("classes and seconds_per_snippet apply to a timeline "
                            "(--timeline) only")

    @property
    def profile_name(self) -> str:
        return TIMELINES[self.timeline].profile if self.timeline else self.profile

    def knobs(self) -> dict[str, float]:
        """The knob values in effect: the profile's, then the rung's, then the spec's."""
        base = PROFILES[self.profile_name]
        values = {k: getattr(base, k) for k in KNOBS}
        values.update(RUNGS[self.rung])
        values.update({k: getattr(self, k) for k in KNOBS if getattr(self, k) is not None})
        return values

    def resolved_profile(self, num_classes: int | None = None) -> SyntheticProfile:
        """The profile with the spec's sizes, rung and knobs applied.

        Args:
            num_classes: the class count of a timeline (its class list).
        """
        self.check()
        base = PROFILES[self.profile_name]
        if self.feature_dim % 2:
            raise ValueError("feature_dim must be even (appearance + motion halves)")
        stride = base.seconds_per_snippet
        if self.timeline:
            stride = self.seconds_per_snippet or TIMELINES[self.timeline].seconds_per_snippet
        return dataclasses.replace(
            base, appearance_dim=self.feature_dim // 2, motion_dim=self.feature_dim // 2,
            min_snippets=self.min_snippets or base.min_snippets,
            max_snippets=self.max_snippets or base.max_snippets,
            num_classes=num_classes or base.num_classes, seconds_per_snippet=stride,
            **self.knobs())

    @property
    def test_subset(self) -> str:
        # THUMOS'14 converted: test videos are 'testing'; ActivityNet: 'validation'
        return "testing" if self.profile_name == "thumos" else "validation"

    def version(self) -> str:
        """How a root was made: generator version, data source, rung and knobs."""
        knobs = " ".join(f"{k}={v:g}" for k, v in self.knobs().items())
        if self.timeline:
            stride = self.resolved_profile().seconds_per_snippet
            source = (f"timeline={self.timeline} profile={self.profile_name} "
                      f"seed={self.seed} classes={self.classes or 'all'} "
                      f"seconds_per_snippet={stride:g}")
        else:
            source = (f"profile={self.profile} seed={self.seed} train={self.num_train} "
                      f"test={self.num_test}")
        return (f"wtal-synthetic-{SYNTHETIC_VERSION} {source} D={self.feature_dim} "
                f"rung={self.rung} {knobs}")


#: The project's default dataset (README tables are computed on it).
DEFAULT_SPEC = SyntheticSpec()


@dataclasses.dataclass
class Timeline:
    """Real videos' annotations, ready to carry synthetic features.

    Attributes:
        classes: the class list (the first ``--classes`` classes, if given).
        videos: the kept videos, each with its real segments (those with
            ``end <= start`` dropped) and ``seconds_per_snippet`` set.
        dropped_segments: segments dropped because ``end <= start``.
        excluded_videos: videos left out by ``classes`` (or with no segment left).
    """

    classes: tuple[str, ...]
    videos: list[VideoAnnotation]
    dropped_segments: int = 0
    excluded_videos: int = 0


def timeline_dir(path=None) -> Path:
    """The folder of the timeline files: ``path``, else ``$WTAL_TIMELINE_DIR``,
    else ``../shared/data`` relative to the current directory."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(TIMELINE_DIR_ENV) or Path("..") / "shared" / "data")


def _timeline_file(folder: Path, relative: str) -> Path:
    path = folder / relative
    if not path.is_file():
        raise WtalError(f"timeline file not found; pass --timeline-dir DIR (a folder "
                        f"holding {relative}) or set ${TIMELINE_DIR_ENV}", path=path)
    return path


def load_timeline(spec: SyntheticSpec) -> Timeline:
    """Reads a timeline's ground-truth CSVs and keeps the videos ``spec`` asks for."""
    from wtal_tf.data import readers

    spec.check()
    source = TIMELINES[spec.timeline]
    folder = timeline_dir(spec.timeline_dir)
    paths = [(_timeline_file(folder, rel), subset) for rel, subset in source.files]
    classes = (readers.read_classlist(_timeline_file(folder, source.classlist))
               if source.classlist else None)
    sets = [readers.read_refineloc_csv(path, subset=subset, classes=classes)
            for path, subset in paths]
    if classes is None:
        classes = tuple(sorted({c for s in sets for c in s.classes}))
    if spec.classes is not None:
        if spec.classes > len(classes):
            raise WtalError(f"--classes {spec.classes}: timeline {spec.timeline} has "
                            f"only {len(classes)} classes")
        classes = classes[:spec.classes]
    stride = spec.resolved_profile(len(classes)).seconds_per_snippet
    wanted = set(classes)
    kept, dropped, excluded = [], 0, 0
    for ann_set in sets:
        for v in ann_set.videos.values():
            if not set(v.labels) <= wanted:
                excluded += 1
                continue
            if v.duration is None:
                raise WtalError("needs a video-duration to lay out its snippets",
                                path=ann_set.source, video_id=v.video_id)
            segments = [s for s in v.segments if s.end > s.start]
            dropped += len(v.segments) - len(segments)
            if not segments:
                excluded += 1
                continue
            kept.append(VideoAnnotation(v.video_id, v.subset, v.duration, segments,
                                        seconds_per_snippet=stride))
    return Timeline(classes, kept, dropped, excluded)


def _id_key(video: str) -> int:
    """A stable integer from a video id (seeds its generator; ``hash`` is salted)."""
    return int(hashlib.sha256(video.encode()).hexdigest()[:15], 16)


def generate_timeline_video(profile: SyntheticProfile, protos: _Prototypes, seed: int,
                            ann: VideoAnnotation,
                            classes: tuple[str, ...]) -> SyntheticVideo:
    """Synthetic features on a real video's timeline, deterministic from
    ``(seed, subset, video id)``.

    Args:
        ann: the real annotation (kept as it is); ``seconds_per_snippet`` set.
        classes: the class list (index order of the prototypes).
    """
    rng = np.random.default_rng([seed, _SUBSET_CODES[ann.subset], _id_key(ann.video_id)])
    stride = ann.seconds_per_snippet
    t_len = num_snippets_for_duration(ann.duration, stride)
    index = {c: i for i, c in enumerate(classes)}
    spans, inst_class = [], []
    for s in ann.segments:
        span = segment_snippets(s.start, s.end, stride, t_len)
        if span is not None:
            spans.append(span)
            inst_class.append(index[s.label])
    return _render(rng, profile, protos, ann, t_len, spans, inst_class,
                   sorted(index[c] for c in ann.labels))


def num_videos(spec: SyntheticSpec, timeline: Timeline | None = None) -> int:
    if spec.timeline:
        return len((timeline or load_timeline(spec)).videos)
    return spec.num_train + spec.num_test


def iter_videos(spec: SyntheticSpec,
                timeline: Timeline | None = None) -> Iterator[SyntheticVideo]:
    """The spec's videos, one at a time (training first).

    Args:
        timeline: the spec's timeline if already loaded (saves reading the CSVs twice).
    """
    if spec.timeline:
        timeline = timeline or load_timeline(spec)
        profile = spec.resolved_profile(len(timeline.classes))
        protos = class_prototypes(profile, spec.seed)
        for ann in timeline.videos:
            yield generate_timeline_video(profile, protos, spec.seed, ann, timeline.classes)
        return
    profile = spec.resolved_profile()
    protos = class_prototypes(profile, spec.seed)
    for i in range(spec.num_train):
        yield generate_video(profile, protos, spec.seed, "training", i)
    for i in range(spec.num_test):
        yield generate_video(profile, protos, spec.seed, spec.test_subset, i)


def build(root, spec: SyntheticSpec = DEFAULT_SPEC, *, progress: bool = True,
          timeline: Timeline | None = None):
    """Writes the synthetic dataset as an interchange root (atomically), one video
    at a time: memory does not grow with the number of videos."""
    from wtal_tf.data import interchange

    if spec.timeline:
        timeline = timeline or load_timeline(spec)
        classes = timeline.classes
    else:
        classes = class_names(spec.resolved_profile())
    videos = iter_videos(spec, timeline)
    if progress:
        from tqdm.auto import tqdm
        videos = tqdm(videos, total=num_videos(spec, timeline), desc="generating",
                      unit="video")
    return interchange.write_root_streaming(
        root, classes, ((v.annotation, v.features) for v in videos),
        version=spec.version())
