"""``wtal evaluate | diagnose | plot``."""

from __future__ import annotations

from pathlib import Path

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


def register(sub):
    p = sub.add_parser("evaluate", help="detection mAP (ActivityNet or THUMOS'14 protocol)")
    _add_gt_args(p)
    p.add_argument("--protocol", choices=("activitynet", "thumos14"), default="activitynet")
    p.add_argument("--tiou", nargs="+", type=float,
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
    p.add_argument("--alpha", type=float, default=0.5, help="tIoU of a match (default 0.5)")
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
    p.set_defaults(handler=cmd_plot)


def load_ground_truth(path, *, classlist=None, allow_pickle=False):
    from wtal_tf.data import readers

    classes = readers.read_classlist(classlist) if classlist else None
    return readers.read_annotations(path, classes=classes, allow_pickle=allow_pickle)


def default_subset(ground_truth, requested):
    from wtal_tf.data.video import TEST_SUBSETS

    if requested:
        return list(requested)
    present = {v.subset for v in ground_truth.videos.values()}
    test = [s for s in TEST_SUBSETS if s in present]
    return test or None


def cmd_evaluate(args):
    from wtal_tf import io_utils
    from wtal_tf.data import readers
    from wtal_tf.data.detections import read_detections
    from wtal_tf.evaluation import ACTIVITYNET_TIOUS, THUMOS_TIOUS, evaluate_detections

    gt = load_ground_truth(args.ground_truth, classlist=args.classlist,
                           allow_pickle=args.allow_pickle)
    dets = read_detections(args.predictions)
    tious = args.tiou
    if args.preset:
        tious = THUMOS_TIOUS if args.preset == "thumos" else ACTIVITYNET_TIOUS
    ambiguous = readers.read_ambiguous(args.ambiguous) if args.ambiguous else None
    if ambiguous and args.protocol != "thumos14":
        raise WtalError("--ambiguous applies to --protocol thumos14 only")
    result = evaluate_detections(gt, dets, tious=tious, protocol=args.protocol,
                                 subset=default_subset(gt, args.subset),
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

    gt = load_ground_truth(args.ground_truth, classlist=args.classlist,
                           allow_pickle=args.allow_pickle)
    dets = read_detections(args.predictions)
    d = diagnose(gt, dets, alpha=args.alpha, subset=default_subset(gt, args.subset))
    prefix = Path(args.out)
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
