"""``wtal evaluate | diagnose | plot``."""

from __future__ import annotations

import collections
from pathlib import Path

from wtal_tf.cli import checks
from wtal_tf.errors import WtalError


def _add_gt_args(p):
    p.add_argument("ground_truth", metavar="GT",
                   help="ground truth: a dataset root, ActivityNet-style JSON, "
                        "RefineLoc CSV, or a W-TALC annotation folder")
    p.add_argument("predictions", metavar="PRED",
                   help="detections: {'results': {...}} or a bare {vid: [...]}")
    p.add_argument("--subset", nargs="+",
                   help="ground-truth subsets to evaluate on (default: 'validation' "
                        "and 'testing' when the ground truth has them, else all)")
    p.add_argument("--classlist", help="class list for CSVs with index labels")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow reading W-TALC's pickled arrays")
    p.add_argument("--skip-unknown-labels", action="store_true",
                   help="drop predictions whose label the ground truth does not know "
                        "(default: error)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def register(sub):
    p = sub.add_parser("evaluate", help="detection mAP (ActivityNet or THUMOS'14 protocol)")
    _add_gt_args(p)
    p.add_argument("--protocol", choices=("activitynet", "thumos14"), default="activitynet")
    p.add_argument("--tiou", nargs="+", type=checks.tiou,
                   help="tIoU thresholds (default: 0.5:0.05:0.95 for activitynet, "
                        "0.1:0.1:0.7 for thumos14)")
    p.add_argument("--preset", choices=("thumos", "activitynet"),
                   help="threshold preset, overriding the protocol's default")
    p.add_argument("--ambiguous", help="THUMOS'14 Ambiguous_test.txt (thumos14 protocol)")
    p.add_argument("--per-class", action="store_true", help="print AP per class")
    p.add_argument("--json", dest="json_out", help="write the result as JSON here")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("diagnose", help="DETAD-style false-positive profile: table + PNG")
    _add_gt_args(p)
    p.add_argument("--alpha", type=checks.tiou, default=0.5,
                   help="tIoU of a match (default 0.5)")
    p.add_argument("--out", default="diagnosis",
                   help="output prefix: writes PREFIX.txt, PREFIX.json and PREFIX.png")
    p.set_defaults(handler=cmd_diagnose)

    p = sub.add_parser("plot", help="one video's timeline: ground truth, detections, CAS")
    p.add_argument("ground_truth", metavar="GT")
    p.add_argument("predictions", metavar="PRED")
    p.add_argument("--video", required=True, help="video id")
    p.add_argument("--cas", help=".npz from 'wtal predict --save-cas' (cas, p_fg, classes)")
    p.add_argument("--classlist")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(handler=cmd_plot)


def load_ground_truth(path, *, classlist=None, allow_pickle=False):
    from wtal_tf.data import readers

    classes = readers.read_classlist(classlist) if classlist else None
    return readers.read_annotations(path, classes=classes, allow_pickle=allow_pickle)


def default_subset(ground_truth, requested):
    """The subsets to evaluate on: ``--subset`` (aliases such as ``test`` mapped to
    ``testing``, like the files' own), else the test subsets present, else all."""
    from wtal_tf.data.readers import normalise_subset
    from wtal_tf.data.video import TEST_SUBSETS

    if requested:
        return list(dict.fromkeys(normalise_subset(s) for s in requested))
    present = {v.subset for v in ground_truth.videos.values()}
    test = [s for s in TEST_SUBSETS if s in present]
    return test or None


def select_ground_truth(args, ground_truth):
    """Subsets to use; fails when they hold no video, and on impossible segments
    (start > end, negative times) that would otherwise be scored as given."""
    from wtal_tf.data.readers import SUBSET_ALIASES

    counts = collections.Counter(v.subset for v in ground_truth.videos.values())
    have = ", ".join(f"{s} ({n} videos)" for s, n in sorted(counts.items())) or "none"
    for name in args.subset or ():
        if str(name).strip().lower() not in SUBSET_ALIASES:
            raise WtalError(f"--subset {name!r} is not a subset name; the subsets present "
                            f"are: {have}", path=args.ground_truth)
    subsets = default_subset(ground_truth, args.subset)
    videos = [v for v in ground_truth.videos.values() if subsets is None or v.subset in subsets]
    if not videos:
        raise WtalError(f"no ground-truth video in subset {', '.join(subsets)}; the subsets "
                        f"present are: {have}; pass one of them to --subset",
                        path=args.ground_truth)
    for v in videos:
        for s in v.segments:
            if s.end < s.start or s.start < 0:
                raise WtalError(f"ground-truth segment [{s.start}, {s.end}] ({s.label}) "
                                "has start > end or a negative time; fix the file",
                                path=args.ground_truth, video_id=v.video_id)
    return subsets, videos


def check_predictions(args, dets, videos, subsets):
    import numpy as np

    from wtal_tf.cli.main import warn

    bad = np.flatnonzero((dets.ends < dets.starts) | (dets.starts < 0))
    if len(bad):
        i = int(bad[0])
        raise WtalError(f"{len(bad)} predictions have start > end or a negative time "
                        f"(first: [{dets.starts[i]}, {dets.ends[i]}] {dets.labels[i]}); "
                        "fix the detector's output", path=args.predictions,
                        video_id=str(dets.video_ids[i]))
    ids = {v.video_id for v in videos}
    n_on = int(np.count_nonzero(np.isin(dets.video_ids, list(ids)))) if len(dets) else 0
    name = "all subsets" if subsets is None else "subset " + ", ".join(subsets)
    print(f"ground truth: {name}: {len(videos)} videos, "
          f"{sum(len(v.segments) for v in videos)} segments; predictions: {len(dets)} "
          f"({n_on} on these videos)")
    if len(dets) == 0:
        warn(args, f"{args.predictions}: the file has no predictions, so every AP is 0")
    elif n_on == 0:
        warn(args, f"{args.predictions}: no prediction is for a video of {name}, so every "
                   "AP is 0; check --subset")


def cmd_evaluate(args):
    from wtal_tf import io_utils
    from wtal_tf.data import readers
    from wtal_tf.data.detections import read_detections
    from wtal_tf.evaluation import ACTIVITYNET_TIOUS, THUMOS_TIOUS, evaluate_detections

    if args.ambiguous and args.protocol != "thumos14":
        raise WtalError("--ambiguous applies to --protocol thumos14 only")
    if args.json_out:
        checks.output_file(args.json_out, args.overwrite, flag="--json")
    gt = load_ground_truth(args.ground_truth, classlist=args.classlist,
                           allow_pickle=args.allow_pickle)
    subsets, videos = select_ground_truth(args, gt)
    dets = read_detections(args.predictions)
    check_predictions(args, dets, videos, subsets)
    tious = args.tiou
    if args.preset:
        tious = THUMOS_TIOUS if args.preset == "thumos" else ACTIVITYNET_TIOUS
    ambiguous = readers.read_ambiguous(args.ambiguous) if args.ambiguous else None
    result = evaluate_detections(gt, dets, tious=tious, protocol=args.protocol,
                                 subset=subsets,
                                 ambiguous=ambiguous,
                                 skip_unknown_labels=args.skip_unknown_labels)
    print(result.table(per_class=args.per_class))
    if args.json_out:
        io_utils.write_json(args.json_out, result.to_dict(), indent=1)
    return 0


def cmd_diagnose(args):
    from wtal_tf import io_utils
    from wtal_tf.data.detections import read_detections
    from wtal_tf.evaluation.diagnosis import diagnose
    from wtal_tf.viz.plots import plot_fp_profile

    prefix = Path(args.out)
    for suffix in (".txt", ".json", ".png"):
        checks.output_file(prefix.with_suffix(suffix), args.overwrite)
    gt = load_ground_truth(args.ground_truth, classlist=args.classlist,
                           allow_pickle=args.allow_pickle)
    subsets, videos = select_ground_truth(args, gt)
    dets = read_detections(args.predictions)
    check_predictions(args, dets, videos, subsets)
    d = diagnose(gt, dets, alpha=args.alpha, subset=subsets)
    io_utils.write_text(prefix.with_suffix(".txt"), d.table() + "\n")
    io_utils.write_json(prefix.with_suffix(".json"), d.to_dict(), indent=1)
    plot_fp_profile(d, prefix.with_suffix(".png"))
    print(d.table())
    print(f"wrote {prefix.with_suffix('.txt')}, .json and .png")
    return 0


def cmd_plot(args):
    import numpy as np

    from wtal_tf.data.detections import read_detections
    from wtal_tf.viz.plots import plot_timeline

    checks.output_file(args.out, args.overwrite)
    gt = load_ground_truth(args.ground_truth, classlist=args.classlist)
    if args.video not in gt.videos:
        raise WtalError("video not in the ground truth", path=args.ground_truth,
                        video_id=args.video)
    ann = gt.videos[args.video]
    dets = read_detections(args.predictions).for_video(args.video)
    cas = fg = None
    cas_labels = ()
    duration = ann.duration
    if args.cas:
        with np.load(args.cas) as z:
            key = f"{args.video}/cas"
            if key not in z:
                raise WtalError("no CAS for this video", path=args.cas, video_id=args.video)
            full = z[key]
            fg = z[f"{args.video}/p_fg"]
            classes = [str(c) for c in z["classes"]]
        top = np.argsort(-full.max(axis=0))[:3]
        cas, cas_labels = full[:, top], [classes[k] for k in top]
    if duration is None:
        ends = [s.end for s in ann.segments] + list(dets.ends)
        duration = max(ends) if ends else 1.0
    plot_timeline(args.out, video_id=args.video, duration=duration,
                  ground_truth=[(s.start, s.end, s.label) for s in ann.segments],
                  detections=list(zip(dets.starts, dets.ends, dets.scores, dets.labels)),
                  cas=cas, cas_labels=cas_labels, foreground=fg)
    print(f"wrote {args.out}")
    return 0
