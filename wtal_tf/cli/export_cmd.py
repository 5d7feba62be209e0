"""``wtal export``: a run directory -> SavedModel for TF Serving."""

from __future__ import annotations


def register(sub):
    p = sub.add_parser("export", help="SavedModel for TF Serving (BASE/NAME/VERSION)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="BASE", help="model base path")
    p.add_argument("--name", default="wtal", help="model name (default wtal)")
    p.add_argument("--version", type=int, help="version number (default: next free)")
    p.add_argument("--seconds-per-snippet", type=float,
                   help="stride baked into serving_default (default: the training data's)")
    p.add_argument("--max-detections", type=int, help="padded output size N (default 100)")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip assets.extra/tf_serving_warmup_requests")
    p.set_defaults(handler=cmd_export)


def cmd_export(args):
    from wtal_export.saved_model import export_run

    path = export_run(args.run_dir, args.out, name=args.name, version=args.version,
                      seconds_per_snippet=args.seconds_per_snippet,
                      max_detections=args.max_detections,
                      warmup=False if args.no_warmup else "auto")
    print(f"exported {args.run_dir} to {path}")
    return 0
