"""``wtal data convert | validate | info | synth``."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from wtal_tf.cli import checks
from wtal_tf.errors import WtalError


def register(sub):
    data = sub.add_parser("data", help="dataset conversion, validation, synthesis")
    dsub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    dsub.required = True

    p = dsub.add_parser("convert", help="write the interchange format from the "
                        "field's annotation and feature formats")
    p.add_argument("--annotations", required=True, nargs="+",
                   help="ground truth: ActivityNet-style JSON, RefineLoc CSV, or a "
                        "W-TALC annotation folder (several files are merged)")
    p.add_argument("--format", choices=("activitynet-json", "refineloc-csv", "wtalc"),
                   help="annotation format (default: from the file name)")
    p.add_argument("--classlist", help="class list (.txt one per line, or "
                   "classlist.npy); needed when CSV labels are indices")
    p.add_argument("--subset", nargs="+", default=None,
                   help="subset of each CSV file's videos (CSV has no subset "
                        "column), one per --annotations file")
    p.add_argument("--preset", choices=("thumos14", "activitynet12"),
                   help="thumos14: its validation videos become 'training', its "
                        "test videos 'testing' (the papers' protocol)")
    p.add_argument("--features", help="a folder of <vid>.npy, a folder with rgb/ "
                   "and flow/, or a W-TALC packed features .npy")
    p.add_argument("--seconds-per-snippet", type=checks.positive_float,
                   help="snippet stride in seconds stored for every video "
                        "(default: duration / T; needed when the annotations have no "
                        "duration, e.g. BaS-Net's gt.json)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow reading pickled object arrays (W-TALC); pickles "
                        "can run code, so only for files you trust")
    p.add_argument("--skip-missing-features", action="store_true",
                   help="drop videos that have no feature file instead of failing")
    p.add_argument("--out", required=True, help="the dataset root to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing dataset root at --out")
    p.set_defaults(handler=cmd_convert)

    p = dsub.add_parser("validate", help="report every problem of a dataset root")
    p.add_argument("root")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(handler=cmd_validate)

    p = dsub.add_parser("synth", help="generate the synthetic dataset (interchange root)")
    p.add_argument("root")
    p.add_argument("--profile", choices=("thumos", "anet"),
                   help="generated videos' statistics (default thumos; with "
                        "--timeline, the timeline's own)")
    p.add_argument("--seed", type=checks.nonnegative_int, default=0)
    p.add_argument("--train-videos", type=checks.positive_int,
                   help="generated training videos (default 150; ignored with --timeline)")
    p.add_argument("--test-videos", type=checks.positive_int,
                   help="generated test videos (default 100; ignored with --timeline)")
    p.add_argument("--dim", type=int, default=256,
                   help="feature size D (half appearance, half motion); 2048 = the "
                        "papers' two-stream size")
    p.add_argument("--min-snippets", type=checks.positive_int,
                   help="shortest video (profile default; ignored with --timeline)")
    p.add_argument("--max-snippets", type=checks.positive_int,
                   help="longest video (profile default; ignored with --timeline)")
    g = p.add_argument_group("difficulty (README 'Difficulty ladder')")
    g.add_argument("--rung", default="default",
                   help="named knob combination: default or hard")
    g.add_argument("--noise", type=float, dest="noise_sd", metavar="SD",
                   help="per-dimension feature noise sd (rung's value by default)")
    g.add_argument("--scene-similarity", type=float, dest="scene_class_similarity",
                   metavar="X", help="how strongly every snippet's appearance tells "
                   "the video's class (rung's value by default)")
    g.add_argument("--motion", type=float, dest="action_motion", metavar="X",
                   help="class-specific motion amplitude; lower = harder")
    g.add_argument("--generic-motion", type=float, metavar="X",
                   help="class-agnostic motion of every action, relative to its "
                   "class motion (rung's value by default)")
    g = p.add_argument_group("real timelines")
    g.add_argument("--timeline", help="thumos14 or activitynet12: synthetic "
                   "instances laid on the real videos' annotated timelines")
    g.add_argument("--timeline-dir", help="folder holding thumos14/ and "
                   "activitynet12/ CSVs (default $WTAL_TIMELINE_DIR, else "
                   "../shared/data)")
    g.add_argument("--classes", type=int, metavar="N", help="keep only the videos "
                   "all of whose labels are among the first N classes")
    g.add_argument("--seconds-per-snippet", type=float, metavar="S",
                   help="snippet stride (default: thumos14 0.5, activitynet12 1.28)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing dataset root")
    p.set_defaults(handler=cmd_synth)

    p = dsub.add_parser("info", help="summarise a dataset root")
    p.add_argument("root")
    p.set_defaults(handler=cmd_info)


def _read_all(args):
    from wtal_tf.data import readers
    from wtal_tf.data.video import AnnotationSet

    classes = readers.read_classlist(args.classlist) if args.classlist else None
    subset_map = readers.THUMOS14_SUBSET_MAP if args.preset == "thumos14" else None
    subsets = args.subset or []
    if subsets and len(subsets) != len(args.annotations) and not (
            len(subsets) == 1 and len(args.annotations) == 1):
        raise WtalError(f"{len(args.annotations)} --annotations files and {len(subsets)} "
                        f"--subset: one --subset would label every video "
                        f"{subsets[0]!r}; give one --subset per file, in the same order "
                        "(e.g. --subset validation testing)" if len(subsets) == 1 else
                        f"{len(args.annotations)} --annotations files and {len(subsets)} "
                        "--subset; give one --subset per file, in the same order")
    merged = {}
    merged_classes = None
    for i, path in enumerate(args.annotations):
        subset = subsets[i] if len(subsets) > 1 else (subsets[0] if subsets else
                                                      _subset_from_name(path))
        ann = readers.read_annotations(path, format=args.format, classes=classes,
                                       subset=subset, subset_map=subset_map,
                                       allow_pickle=args.allow_pickle)
        for vid in ann.videos:
            if vid in merged:
                raise WtalError("video appears in two annotation files",
                                path=path, video_id=vid)
        merged.update(ann.videos)
        merged_classes = merged_classes or ann.classes
    if classes is None:
        from wtal_tf.data.video import classes_from_labels
        if len(args.annotations) > 1:
            merged_classes = classes_from_labels(merged)
    return AnnotationSet(classes or merged_classes, merged)


def _subset_from_name(path) -> str:
    name = Path(path).name.lower()
    for key in ("train", "test", "valid"):
        if key in name:
            return {"train": "training", "test": "testing", "valid": "validation"}[key]
    return "validation"


def cmd_convert(args):
    from wtal_tf.data import interchange, readers

    checks.output_root(args.out, args.overwrite)
    annotations = _read_all(args)
    if args.seconds_per_snippet is not None:
        for v in annotations.videos.values():
            v.seconds_per_snippet = args.seconds_per_snippet
    no_time = [vid for vid, v in annotations.videos.items()
               if v.duration is None and v.seconds_per_snippet is None]
    if no_time and args.features:
        raise WtalError(f"{len(no_time)} videos have no duration (first: {no_time[0]!r}), so "
                        "snippets cannot be converted to seconds; pass --seconds-per-snippet "
                        "(the features' stride, e.g. 16 frames at 25 fps = 0.64)",
                        path=args.annotations[0])
    load = None
    if args.features:
        ids = list(annotations.videos)
        video_names = None
        fpath = Path(args.features)
        if fpath.is_file():
            ann_dir = Path(args.annotations[0])
            names = readers._load_npy(ann_dir / "videoname.npy", allow_pickle=False,
                                      what="videoname") if ann_dir.is_dir() else None
            if names is None:
                raise WtalError("a packed features file needs --annotations to be "
                                "the W-TALC folder (for videoname.npy)", path=fpath)
            video_names = [readers._to_str(x) for x in names.reshape(-1)]
        store = readers.open_features(fpath, video_ids=video_names,
                                      allow_pickle=args.allow_pickle)
        missing = [vid for vid in ids if vid not in store]
        if missing and not args.skip_missing_features:
            raise WtalError(f"{len(missing)} annotated videos have no features "
                            f"(first: {missing[0]!r}); pass --skip-missing-features "
                            "to drop them", path=fpath)
        for vid in missing:
            del annotations.videos[vid]
        load = store.load
    interchange.write_root(args.out, annotations, load, progress=load is not None)
    print(f"wrote {args.out}: {len(annotations)} videos, "
          f"{annotations.num_segments} segments, {len(annotations.classes)} classes"
          + ("" if load else " (annotations only: add features/<vid>.npy)"))
    return 0


def cmd_synth(args):
    import sys
    import time

    from wtal_tf.data import synthetic

    if args.dim < 2 or args.dim % 2:
        raise WtalError(f"--dim must be an even number >= 2, got {args.dim}")
    profile = args.profile or "thumos"
    if args.timeline in synthetic.TIMELINES:
        timeline_profile = synthetic.TIMELINES[args.timeline].profile
        if args.profile not in (None, timeline_profile):
            raise WtalError(f"--profile {args.profile} conflicts with --timeline "
                            f"{args.timeline} (its profile is {timeline_profile})")
        profile = timeline_profile
        if args.train_videos is not None or args.test_videos is not None:
            print("note: --train-videos/--test-videos are ignored with --timeline "
                  "(every real video is kept; use --classes for fewer)", file=sys.stderr)
    for name in ("train_videos", "test_videos"):
        if (getattr(args, name) or 0) < 0:
            raise WtalError(f"--{name.replace('_', '-')} must be >= 0")
    spec = synthetic.SyntheticSpec(
        profile=profile, seed=args.seed,
        num_train=150 if args.train_videos is None else args.train_videos,
        num_test=100 if args.test_videos is None else args.test_videos,
        feature_dim=args.dim, min_snippets=args.min_snippets,
        max_snippets=args.max_snippets, rung=args.rung, noise_sd=args.noise_sd,
        scene_class_similarity=args.scene_class_similarity,
        action_motion=args.action_motion, generic_motion=args.generic_motion,
        timeline=args.timeline, timeline_dir=args.timeline_dir, classes=args.classes,
        seconds_per_snippet=args.seconds_per_snippet)
    spec.check()
    resolved = spec.resolved_profile()  # the profile's lengths where one is not given
    if not spec.timeline and resolved.min_snippets > resolved.max_snippets:
        raise WtalError(f"--min-snippets {resolved.min_snippets} > --max-snippets "
                        f"{resolved.max_snippets} (profile {profile!r} defaults: "
                        f"{synthetic.PROFILES[profile].min_snippets}-"
                        f"{synthetic.PROFILES[profile].max_snippets}); give min <= max")
    checks.output_root(args.root, args.overwrite)
    timeline = None
    if spec.timeline:
        timeline = synthetic.load_timeline(spec)
        print(f"timeline {spec.timeline}: {len(timeline.videos)} videos, "
              f"{len(timeline.classes)} classes; {timeline.excluded_videos} videos left "
              f"out (labels beyond the first {len(timeline.classes)} classes); "
              f"{timeline.dropped_segments} segments with end <= start dropped")
        if not timeline.videos:
            raise WtalError(f"timeline {spec.timeline}: no video left to write")
    start = time.perf_counter()
    synthetic.build(args.root, spec, timeline=timeline)
    print(f"wrote {args.root}: {spec.version()} in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_validate(args):
    from wtal_tf.data.validate import validate_root

    report = validate_root(args.root)
    text = report.summary()
    print(text.splitlines()[-1] if args.quiet else text)
    return 0 if report.ok else 1


def cmd_info(args):
    from wtal_tf.data.interchange import open_root
    from wtal_tf.data.readers import load_feature_file

    root = open_root(args.root)
    ann = root.annotations
    by_subset = collections.Counter(v.subset for v in ann.videos.values())
    segs = collections.Counter(v.subset for v in ann.videos.values() for _ in v.segments)
    print(f"root: {root.path}  version: {root.version}")
    print(f"classes: {len(ann.classes)}")
    for subset in sorted(by_subset):
        print(f"  {subset:<11} {by_subset[subset]:>6} videos {segs[subset]:>7} segments")
    lengths = []
    for vid in list(ann.videos)[:100000]:
        if vid in root.features:
            lengths.append(load_feature_file(root.features.path(vid), video_id=vid,
                                             mmap=True).shape[0])
    if lengths:
        print(f"features: D={root.feature_dim()}  T min/median/max = "
              f"{min(lengths)}/{int(np.median(lengths))}/{max(lengths)}")
    return 0
