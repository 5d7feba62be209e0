"""The main job: synthetic default -> CAS model -> AutoLoc -> RefineLoc -> export.

    python train.py                      # everything, on the embedded synthetic default
    python train.py --data ROOT          # on your own interchange root
    python train.py --out runs/main --seed 0

Prints the time of each stage and the mAP tables (THUMOS'14 thresholds).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="interchange root (default: build the synthetic "
                        "default under OUT/data)")
    parser.add_argument("--out", default="runs/main", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config-prefix", default="synthetic_thumos",
                        help="experiment configs <prefix>_cas, _autoloc, _refineloc")
    args = parser.parse_args(argv)

    from wtal_tf.pipelines import main_job

    try:
        main_job.run(out=Path(args.out), data=args.data, seed=args.seed,
                     config_prefix=args.config_prefix)
    except Exception as e:  # noqa: BLE001
        from wtal_tf.errors import WtalError
        if isinstance(e, WtalError):
            print(f"train.py: error: {e}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
