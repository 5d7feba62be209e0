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
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from wtal_tf.data.video import Segment, VideoAnnotation

#: Bump when the generator or the default changes: every README table is then
#: regenerated.
SYNTHETIC_VERSION = "1.0.0"


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


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: a profile, a seed, split sizes and the feature size."""

    profile: str = "thumos"
    seed: int = 0
    num_train: int = 150
    num_test: int = 100
    feature_dim: int = 256
    min_snippets: int | None = None
    max_snippets: int | None = None

    def resolved_profile(self) -> SyntheticProfile:
        base = PROFILES[self.profile]
        if self.feature_dim % 2:
            raise ValueError("feature_dim must be even (appearance + motion halves)")
        return dataclasses.replace(
            base, appearance_dim=self.feature_dim // 2, motion_dim=self.feature_dim // 2,
            min_snippets=self.min_snippets or base.min_snippets,
            max_snippets=self.max_snippets or base.max_snippets)

    @property
    def test_subset(self) -> str:
        # THUMOS'14 converted: test videos are 'testing'; ActivityNet: 'validation'
        return "testing" if self.profile == "thumos" else "validation"

    def version(self) -> str:
        return (f"wtal-synthetic-{SYNTHETIC_VERSION} profile={self.profile} "
                f"seed={self.seed} train={self.num_train} test={self.num_test} "
                f"D={self.feature_dim}")


#: The project's default dataset (README tables are computed on it).
DEFAULT_SPEC = SyntheticSpec()


def iter_videos(spec: SyntheticSpec) -> Iterator[SyntheticVideo]:
    profile = spec.resolved_profile()
    protos = class_prototypes(profile, spec.seed)
    for i in range(spec.num_train):
        yield generate_video(profile, protos, spec.seed, "training", i)
    for i in range(spec.num_test):
        yield generate_video(profile, protos, spec.seed, spec.test_subset, i)


def build(root, spec: SyntheticSpec = DEFAULT_SPEC, *, progress: bool = True):
    """Writes the synthetic dataset as an interchange root (atomically), one video
    at a time: memory does not grow with the number of videos."""
    from wtal_tf.data import interchange

    profile = spec.resolved_profile()
    videos = iter_videos(spec)
    if progress:
        from tqdm.auto import tqdm
        videos = tqdm(videos, total=spec.num_train + spec.num_test, desc="generating",
                      unit="video")
    return interchange.write_root_streaming(
        root, class_names(profile), ((v.annotation, v.features) for v in videos),
        version=spec.version())
