"""``wtal train cas|autoloc``, ``wtal predict``, ``wtal refine``, ``wtal info``."""

from __future__ import annotations

import json
from pathlib import Path

from wtal_tf.cli import checks
from wtal_tf.errors import WtalError


def _add_resume_args(p):
    p.add_argument("--resume", action="store_true",
                   help="continue a killed run from its checkpoint (same seed and data)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in a run directory that already holds a run")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic TF ops (bit-exact resumes on CPU; slower)")


def _add_strategy_args(p):
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   default="default", help="tf.distribute strategy (README 'Scaling out')")
    p.add_argument("--replicas", type=checks.positive_int, default=2,
                   help="mirrored on a CPU-only machine: logical CPU replicas")


def _setup(args):
    """Deterministic ops and the distribution strategy, before any other TF work."""
    strategy = None
    if getattr(args, "strategy", "default") != "default":
        from wtal_tf.training.distribute import make_strategy

        strategy = make_strategy(args.strategy, args.replicas)
    if getattr(args, "deterministic", False):
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return strategy


def _add_data_args(p, required=True):
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--data", help="an interchange dataset root")
    g.add_argument("--tfds", help="a TFDS dataset, e.g. wtal_synthetic/thumos")
    p.add_argument("--tfds-data-dir", help="TFDS data_dir (default ~/tensorflow_datasets)")


def register(sub):
    """Adds the model commands: train, ablate, baseline, refine, info, predict."""
    _register_train(sub)
    _register_ablate(sub)
    _register_baseline(sub)
    _register_refine(sub)
    _register_info_and_predict(sub)


def _register_train(sub):
    train = sub.add_parser("train", help="train a model")
    tsub = train.add_subparsers(dest="model", metavar="MODEL")
    tsub.required = True

    p = tsub.add_parser("cas", help="RefineLoc's base CAS model (video labels only)")
    p.add_argument("--config", required=True, help="e.g. synthetic_thumos_cas, thumos14_cas")
    _add_data_args(p)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--epochs", type=checks.positive_int, help="override the config's epochs")
    p.add_argument("--seed", type=checks.nonnegative_int, help="override the config's seed")
    _add_resume_args(p)
    _add_strategy_args(p)
    p.set_defaults(handler=cmd_train_cas)

    p = tsub.add_parser("autoloc", help="AutoLoc's localization branch on a trained CAS run")
    p.add_argument("--config", default=None,
                   help="e.g. synthetic_thumos_autoloc (default: the CAS run's dataset "
                        "with _autoloc)")
    p.add_argument("--cas-run", required=True, help="run directory of 'wtal train cas'")
    _add_data_args(p)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--epochs", type=checks.positive_int)
    p.add_argument("--seed", type=checks.nonnegative_int)
    p.add_argument("--videos-per-step", type=checks.positive_int, default=1,
                   help="videos per step in one process (AutoLoc: 1; G matches G replicas)")
    p.add_argument("--bn-statistics", choices=("population", "video_average", "video", "keras"),
                   help="test-time BatchNorm statistics (config default: population; README "
                        "\"AutoLoc's test-time BatchNorm\")")
    _add_resume_args(p)
    _add_strategy_args(p)
    p.set_defaults(handler=cmd_train_autoloc)


def _register_ablate(sub):
    p = sub.add_parser("ablate", help="ablation studies (AutoLoc §5.4, Table 3)")
    asub = p.add_subparsers(dest="study", metavar="STUDY")
    asub.required = True
    p = asub.add_parser("autoloc", help="CAS thresholding, OIC Selection, Inner-only loss, "
                        "Direct Optimization, AutoLoc; mean ± sd over seeds")
    p.add_argument("--config", required=True, help="e.g. synthetic_thumos_autoloc")
    _add_data_args(p)
    p.add_argument("--out", required=True, help="output folder (runs, table .md/.json/.png)")
    p.add_argument("--seeds", type=checks.positive_int, default=3,
                   help="number of seeds (0..N-1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.set_defaults(handler=cmd_ablate_autoloc)

    p = asub.add_parser("refineloc", help="RefineLoc: mAP per iteration (Table 2), "
                        "generator x beta grid (Table 1), RefineLoc ∘ AutoLoc")
    p.add_argument("--config", required=True, help="e.g. synthetic_thumos_refineloc")
    _add_data_args(p)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=checks.positive_int, default=3)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--iterations", type=checks.positive_int,
                   help="refinement iterations (config default)")
    p.add_argument("--generators", nargs="*", default=[],
                   help="grid rows, e.g. uniform_random distribution_aware class_activation "
                        "attention segment_prediction")
    p.add_argument("--betas", nargs="*", type=checks.nonnegative_float,
                   default=[1, 2, 4, 8, 16], help="grid columns (RefineLoc Table 1)")
    p.add_argument("--grid-iterations", type=checks.positive_int, default=1,
                   help="refinement iterations per grid cell (cost control)")
    p.add_argument("--with-autoloc", action="store_true",
                   help="also refine AutoLoc's detections (RefineLoc §4.4)")
    p.set_defaults(handler=cmd_ablate_refineloc)

    p = asub.add_parser("ladder", help="one rung of the difficulty ladder: the supervised "
                        "reference, the CAS model, CAS thresholding, AutoLoc (paper and "
                        "release presets, each BatchNorm statistics), RefineLoc (both "
                        "presets); mean ± sd over seeds")
    p.add_argument("--dataset", required=True,
                   help="config prefix, e.g. synthetic_thumos (uses <prefix>_cas, "
                        "_supervised, _autoloc[_release], _refineloc[_release])")
    _add_data_args(p)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=checks.positive_int, default=3)
    p.add_argument("--resume", action="store_true",
                   help="keep the seeds an earlier call finished in --out, run the others")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.set_defaults(handler=cmd_ablate_ladder)


def _register_baseline(sub):
    p = sub.add_parser("baseline", help="reference models")
    bsub = p.add_subparsers(dest="baseline", metavar="BASELINE")
    bsub.required = True
    p = bsub.add_parser("supervised", help="the fully supervised reference: a snippet "
                        "classifier trained with the temporal labels (an upper bound)")
    p.add_argument("--config", required=True, help="e.g. synthetic_thumos_supervised")
    _add_data_args(p)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--epochs", type=checks.positive_int, help="override the config's epochs")
    p.add_argument("--seed", type=checks.nonnegative_int, help="override the config's seed")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run")
    p.set_defaults(handler=cmd_baseline_supervised)


def _register_refine(sub):
    p = sub.add_parser("refine", help="RefineLoc's iterative refinement (one run)")
    p.add_argument("--config", required=True, help="e.g. synthetic_thumos_refineloc")
    _add_data_args(p)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--iterations", type=checks.positive_int)
    p.add_argument("--from-detections", help="start from another detector's detections on "
                   "the training videos (e.g. 'wtal predict AUTOLOC_RUN --split trainval')")
    p.add_argument("--generator", help="pseudo-label generator (config default: "
                   "segment_prediction)")
    p.add_argument("--beta", type=checks.nonnegative_float, help="pseudo-label loss weight")
    p.add_argument("--foreground-ratio", type=checks.positive_float,
                   help="true foreground ratio (distribution_aware only; not weakly "
                        "supervised)")
    p.add_argument("--seed", type=checks.nonnegative_int)
    p.add_argument("--epochs", type=checks.positive_int,
                   help="epochs per iteration (config default)")
    _add_resume_args(p)
    p.set_defaults(handler=cmd_refine)


def _register_info_and_predict(sub):
    p = sub.add_parser("info", help="summarise a run directory: config, data, metrics, "
                       "artifacts")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("predict", help="detections of a trained run (or an export) on the "
                       "test videos")
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?",
                   help="a run directory (or give --saved-model)")
    p.add_argument("--saved-model", help="an export BASE/NAME/VERSION instead of a run")
    _add_data_args(p)
    p.add_argument("--out", required=True, help="detections JSON (ActivityNet results format)")
    p.add_argument("--split", default="test", choices=("train", "holdout", "trainval", "test"),
                   help="trainval = train + holdout (detections to refine with 'wtal "
                        "refine --from-detections')")
    p.add_argument("--save-cas", help="also write CAS, p_fg per video to this .npz "
                   "(for 'wtal plot --cas')")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing --out / --save-cas files")
    p.set_defaults(handler=cmd_predict)


def open_data(args, *, needs_training: bool = False):
    from wtal_tf.data.source import open_source

    source = open_source(args.data, args.tfds, getattr(args, "tfds_data_dir", None))
    where = args.data or f"tfds:{args.tfds}"
    if not source.classes:
        raise WtalError("the data has no classes; a weakly supervised model needs video "
                        "labels (check the annotations' labels and --classlist)", path=where)
    if needs_training and not source.video_ids("train"):
        raise WtalError("no 'training' videos to train on (only test videos); convert with "
                        "one --subset per annotation file, or --preset thumos14", path=where)
    return source


def _config(name, *, allowed, command):
    from wtal_tf.configs import get_config

    cfg = get_config(name)
    if cfg.method not in allowed:
        hint = {"autoloc": "wtal train autoloc", "cas": "wtal train cas",
                "refineloc": "wtal refine", "supervised": "wtal baseline supervised"}[cfg.method]
        raise WtalError(f"config {name!r} is for method {cfg.method!r}, which '{command}' "
                        f"does not train; use it with '{hint}', or pick a "
                        + " / ".join(f"*_{m}" for m in allowed) + " config")
    return cfg


def _check_resume(args, run_dir, *, seed, source, cfg_name):
    """``--resume`` must continue the same training (seed, data, config)."""
    if args.resume:
        checks.resume_matches(run_dir, seed=seed, fingerprint=source.fingerprint(),
                              config_name=cfg_name)


def _start(args):
    """The last step before the work: ``--overwrite`` clears the old run."""
    if getattr(args, "overwrite", False):
        checks.clear_run(args.run_dir)


def cmd_train_cas(args):
    cfg = _config(args.config, allowed=("cas", "refineloc"), command="wtal train cas")
    checks.run_directory(args.run_dir, resume=args.resume, overwrite=args.overwrite)
    strategy = _setup(args)
    from wtal_tf.training.cas_task import train_cas

    source = open_data(args, needs_training=True)
    _check_resume(args, args.run_dir, seed=cfg.train.seed if args.seed is None else args.seed,
                  source=source, cfg_name=cfg.name)
    _start(args)
    train_cas(cfg, source, args.run_dir, seed=args.seed, epochs=args.epochs, resume=args.resume,
              strategy=strategy)
    print(f"trained {cfg.name} into {args.run_dir}")
    return 0


def _cas_run(path):
    """``--cas-run``: a finished CAS (or RefineLoc) run."""
    from wtal_tf import runs

    cfg, data, info = runs.read_run(path)
    if cfg.method == "autoloc":
        raise WtalError("is an AutoLoc run; --cas-run needs the run directory of 'wtal train "
                        "cas' (an AutoLoc run keeps its CAS run in RUN/cas)", path=path)
    if not (Path(path) / "model.weights.h5").exists():
        raise WtalError("has no trained weights (model.weights.h5): finish it with 'wtal "
                        "train cas --resume' first", path=path)
    return cfg, data


def _autoloc_config(name, cas_run):
    if name is None:
        cas_cfg, _ = _cas_run(cas_run)
        name = cas_cfg.name.rsplit("_", 1)[0] + "_autoloc"
    return _config(name, allowed=("autoloc",), command="wtal train autoloc")


def cmd_train_autoloc(args):
    import dataclasses

    cfg = _autoloc_config(args.config, args.cas_run)
    if args.bn_statistics:
        cfg = cfg.replace(autoloc=dataclasses.replace(cfg.autoloc,
                                                      bn_statistics=args.bn_statistics))
    _, data = _cas_run(args.cas_run)
    checks.run_directory(args.run_dir, resume=args.resume, overwrite=args.overwrite)
    strategy = _setup(args)

    from wtal_tf.inference.predict import check_compatible
    from wtal_tf.training.autoloc_task import train_autoloc

    source = open_data(args, needs_training=True)
    check_compatible(data, source, args.cas_run)
    _check_resume(args, args.run_dir,
                  seed=cfg.autoloc.seed if args.seed is None else args.seed,
                  source=source, cfg_name=cfg.name)
    _start(args)
    train_autoloc(cfg, source, args.cas_run, args.run_dir, seed=args.seed, epochs=args.epochs,
                  resume=args.resume, strategy=strategy, videos_per_step=args.videos_per_step)
    print(f"trained {cfg.name} into {args.run_dir}")
    from wtal_tf.cli import hints
    for line in hints.autoloc_training(args.run_dir):
        _warn(args, line)
    return 0


def _warn(args, message):
    from wtal_tf.cli.main import warn

    warn(args, message)


def _out_folder(args):
    checks.run_directory(args.out, overwrite=args.overwrite, resumable=False, flag="--out")


def cmd_ablate_autoloc(args):
    cfg = _config(args.config, allowed=("autoloc",), command="wtal ablate autoloc")
    _out_folder(args)
    from wtal_tf.pipelines.ablation import run_autoloc_ablation

    source = open_data(args, needs_training=True)
    if args.overwrite:
        checks.clear_run(args.out)
    table = run_autoloc_ablation(cfg, source, args.out, seeds=range(args.seeds))
    print(table.text())
    print(f"wrote {args.out}/autoloc_ablation.md, .json, .png")
    return 0


def cmd_ablate_ladder(args):
    from wtal_tf.configs import list_datasets

    if args.dataset not in list_datasets():  # before any work
        raise WtalError(f"unknown --dataset {args.dataset!r}; known: "
                        f"{', '.join(list_datasets())}")
    checks.run_directory(args.out, resume=args.resume, overwrite=args.overwrite, flag="--out")
    from wtal_tf.pipelines.ladder import run_ladder

    source = open_data(args, needs_training=True)
    if args.overwrite:
        checks.clear_run(args.out)
    data = f"--data {args.data}" if args.data else f"--tfds {args.tfds}"
    command = (f"wtal ablate ladder --dataset {args.dataset} {data} --out {args.out} "
               f"--seeds {args.seeds}")
    table, _ = run_ladder(args.dataset, source, args.out, seeds=range(args.seeds),
                          command=command)
    print(table.text())
    print(f"wrote {args.out}/ladder.md, .json, .png")
    return 0


def cmd_baseline_supervised(args):
    cfg = _config(args.config, allowed=("supervised",), command="wtal baseline supervised")
    checks.run_directory(args.run_dir, overwrite=args.overwrite, resumable=False)
    from wtal_tf.training.cas_task import train_cas

    source = open_data(args, needs_training=True)
    _start(args)
    train_cas(cfg, source, args.run_dir, seed=args.seed, epochs=args.epochs)
    print(f"trained {cfg.name} into {args.run_dir}")
    return 0


def cmd_info(args):
    from wtal_tf import runs

    cfg, data, info = runs.read_run(args.run_dir)
    run = Path(args.run_dir)
    print(f"run: {run}  method: {info['method']}  config: {cfg.name}  seed: {info.get('seed')}")
    print(f"wtal-tf {info.get('wtal_tf_version')}  TensorFlow {info.get('tensorflow')}  "
          f"format {info.get('format')}")
    print(f"data: {data['description']}  fingerprint {data['fingerprint']}  "
          f"D={data['feature_dim']}  K={len(data['classes'])}  splits {data.get('split_sizes')}")
    if info["method"] in ("cas", "refineloc", "supervised"):
        seg = cfg.test_segments  # the run keeps the semantics it was trained with
        print(f"test segments: {seg.method}, alpha_a {seg.alpha_a:g}, alpha_c {seg.alpha_c:g}, "
              f"top-{seg.top_k}, inflate {seg.inflate}, max_gap {seg.max_gap}, "
              f"dilation {seg.dilation}, score margin {seg.score_margin}")
    if info.get("train_seconds") is not None:
        print(f"training: {info['train_seconds']:.1f} s, {info.get('epochs')} epochs, best epoch "
              f"{info.get('best_epoch')} by {info.get('selected_by')}"
              + (f", resumed from epoch {info['resumed_from_epoch']}"
                 if info.get("resumed_from_epoch") is not None else ""))
    hist = run / "history.json"
    if hist.exists():
        h = json.loads(hist.read_text())
        last = {k: round(v[-1], 4) for k, v in h.items() if v}
        print(f"last epoch: {last}")
    if (run / "refine.json").exists():
        r = json.loads((run / "refine.json").read_text())
        print(f"refinement: selected iteration {r['selected_iteration']} ({r['selection']}); "
              "test average mAP per iteration (reporting only): " + ", ".join(
                  f"{it['iteration']}: {100 * it['test_average_mAP']:.1f}"
                  for it in r["iterations"] if it.get("test_average_mAP") is not None))
    artifacts = sorted(str(p.relative_to(run)) for p in run.rglob("*")
                       if p.is_file() and "tensorboard" not in p.parts
                       and "checkpoint" not in p.parts)
    print("artifacts: " + ", ".join(artifacts[:30]) + (" ..." if len(artifacts) > 30 else ""))
    return 0


def _refine_config(args):
    import dataclasses

    cfg = _config(args.config, allowed=("refineloc", "cas"), command=args.prog)
    changes = {k: v for k, v in (("generator", args.generator), ("beta", args.beta),
                                 ("foreground_ratio", args.foreground_ratio))
               if v is not None}
    if changes:
        cfg = cfg.replace(refine=dataclasses.replace(cfg.refine, **changes))
    return cfg.replace(method="refineloc")


def cmd_refine(args):
    from wtal_tf.data.detections import read_detections

    if args.foreground_ratio is not None and not args.foreground_ratio < 1:
        raise WtalError(f"--foreground-ratio must be in (0, 1), got {args.foreground_ratio}")
    cfg = _refine_config(args)
    checks.run_directory(args.run_dir, resume=args.resume, overwrite=args.overwrite)
    dets = read_detections(args.from_detections) if args.from_detections else None
    _setup(args)
    from wtal_tf.training.refineloc import read_refine, refine

    source = open_data(args, needs_training=True)
    if args.resume:
        first = sorted(Path(args.run_dir).glob("iter_[0-9]*"), key=lambda p: int(p.name[5:]))
        _check_resume(args, first[0] if first else args.run_dir,
                      seed=cfg.train.seed if args.seed is None else args.seed,
                      source=source, cfg_name=cfg.name)
    _start(args)
    results = refine(cfg, source, args.run_dir, seed=args.seed,
                     iterations=args.iterations, from_detections=dets, progress=True,
                     epochs=args.epochs, resume=args.resume)
    info = read_refine(args.run_dir)
    print(f"\nRefineLoc ({cfg.refine.generator}, beta={cfg.refine.beta:g}, "
          f"S={cfg.refine.sample_fraction:g}); test mAP (%) for reporting only")
    print("iteration  holdout-video-loss  pseudo-fg  " +
          " ".join(f"{t:>5.2f}" for t in cfg.tious) + "    avg")
    for r in results:
        fg = "" if r.pseudo_foreground_ratio is None else f"{r.pseudo_foreground_ratio:.3f}"
        print(f"{r.iteration:>9}  {r.holdout_video_loss:>18.4f}  {fg:>9}  " +
              " ".join(f"{100 * m:5.1f}" for m in r.test_mAP) +
              f" {100 * r.test_average_mAP:6.2f}")
    print(f"selected iteration ({info['selection']}): {info['selected_iteration']}")
    from wtal_tf.cli import hints
    for line in hints.refinement(args.run_dir, cfg):
        _warn(args, line)
    return 0


def cmd_ablate_refineloc(args):
    from wtal_tf.configs import get_config

    cfg = get_config(args.config)
    if cfg.method == "autoloc":
        _config(args.config, allowed=("refineloc", "cas"), command="wtal ablate refineloc")
    cfg = cfg.replace(method="refineloc")
    _out_folder(args)
    from wtal_tf.pipelines.refine_study import grid_markdown, run_refine_study

    source = open_data(args, needs_training=True)
    if args.overwrite:
        checks.clear_run(args.out)
    report = run_refine_study(cfg, source, args.out, seeds=range(args.seeds),
                              iterations=args.iterations, generators=args.generators,
                              betas=args.betas if args.generators else (),
                              grid_iterations=args.grid_iterations,
                              with_autoloc=args.with_autoloc)
    per_iter, grid, gen_autoloc = report["tables"]
    print(per_iter.text())
    if grid:
        print(grid_markdown(grid, args.generators, args.betas, args.grid_iterations))
    if args.with_autoloc:
        print(gen_autoloc.text())
    print(f"wrote {args.out}/refine_*.md, .json, .png")
    return 0


def _check_strides(source, split, where):
    """Every video's stride, before inference: a stride <= 0 or NaN gave negative or
    NaN seconds (or, where nothing was detected, nothing to notice)."""
    from wtal_tf.data.video import seconds_per_snippet

    splits = ("train", "holdout") if split == "trainval" else (split,)
    for s in splits:
        for vid in source.video_ids(s):
            try:
                seconds_per_snippet(source.annotation(vid), source.num_snippets(vid))
            except WtalError as e:
                raise WtalError(e.reason, path=where, video_id=vid) from None


def cmd_predict(args):
    if (args.run_dir is None) == (args.saved_model is None):
        raise WtalError("give a RUN_DIR or --saved-model (one of them)")
    checks.output_file(args.out, args.overwrite)
    if args.save_cas:
        checks.output_file(args.save_cas, args.overwrite, flag="--save-cas")
    if args.run_dir is not None:
        from wtal_tf import runs

        runs.read_run(args.run_dir)  # a clear error before TF is imported
    from wtal_tf.inference import predict as predict_lib

    source = open_data(args)
    _check_strides(source, args.split, args.data or f"tfds:{args.tfds}")
    hints = []
    if args.saved_model:
        dets = predict_lib.predict_saved_model(args.saved_model, source, args.split,
                                               out=args.out)
    else:
        dets = predict_lib.predict_run(args.run_dir, source, args.split, out=args.out,
                                       save_cas=args.save_cas, progress=True, hints=hints)
    n_videos = len(set(dets.video_ids.tolist()))
    print(f"wrote {args.out}: {len(dets)} detections in {n_videos} videos")
    for line in hints:
        _warn(args, line)
    return 0
