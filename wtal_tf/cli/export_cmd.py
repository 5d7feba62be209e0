"""``wtal export``: a run directory -> SavedModel for TF Serving."""

from __future__ import annotations

from pathlib import Path

from wtal_tf.cli import checks
from wtal_tf.errors import WtalError


def register(sub):
    p = sub.add_parser("export", help="SavedModel for TF Serving (BASE/NAME/VERSION)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="BASE", help="model base path")
    p.add_argument("--name", default="wtal", help="model name (default wtal)")
    p.add_argument("--version", type=checks.positive_int,
                   help="version number >= 1 (default: next free)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing BASE/NAME/VERSION")
    p.add_argument("--seconds-per-snippet", type=checks.positive_float,
                   help="stride baked into serving_default (default: the training data's)")
    p.add_argument("--max-detections", type=checks.positive_int,
                   help="padded output size N (default 100)")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip assets.extra/tf_serving_warmup_requests")
    p.set_defaults(handler=cmd_export)


def cmd_export(args):
    from wtal_export.serving_config import model_names
    from wtal_tf import runs

    if not args.name or "/" in args.name or args.name in (".", ".."):
        raise WtalError(f"--name {args.name!r} must be a plain folder name")
    _, data, _ = runs.read_run(args.run_dir)
    if not (Path(args.run_dir) / "model.weights.h5").exists():
        raise WtalError("no trained weights (model.weights.h5): did training finish?",
                        path=args.run_dir)
    if not (args.seconds_per_snippet or data.get("seconds_per_snippet")):
        raise WtalError("no seconds per snippet known for this run (the data has neither "
                        "durations nor strides); pass --seconds-per-snippet",
                        path=args.run_dir)
    base = Path(args.out)
    if base.exists() and not base.is_dir():
        raise WtalError("exists and is not a directory; --out is the model base folder",
                        path=base)
    model_names(base / "models.config")  # one we can extend, not replace
    if args.version is not None:
        target = base / args.name / str(args.version)
        if target.exists() and not args.overwrite:
            raise WtalError("this version already exists; pass --overwrite to replace it, "
                            "or leave out --version for the next free one", path=target)
    checks.writable_directory(base / args.name)

    from wtal_export.saved_model import export_run

    path = export_run(args.run_dir, args.out, name=args.name, version=args.version,
                      seconds_per_snippet=args.seconds_per_snippet,
                      max_detections=args.max_detections,
                      warmup=False if args.no_warmup else "auto")
    print(f"exported {args.run_dir} to {path}")
    return 0
