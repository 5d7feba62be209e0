"""``wtal``: the console script.

Each command group lives in its own module and registers its sub-parsers;
modules that need TensorFlow import it inside their handlers so that
``wtal --help`` and the data commands stay fast.  A :class:`WtalError` is a
user mistake: it is printed as one line on stderr and the exit status is 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from wtal_tf.errors import WtalError

EXIT_USER_ERROR = 2

_GROUPS = (
    "wtal_tf.cli.data_cmd",
    "wtal_tf.cli.eval_cmd",
    "wtal_tf.cli.model_cmd",
    "wtal_tf.cli.export_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from wtal_tf import __version__

    parser = argparse.ArgumentParser(
        prog="wtal",
        description="Weakly-supervised temporal action localization (AutoLoc, "
                    "RefineLoc) in TensorFlow/Keras.")
    parser.add_argument("--version", action="version", version=f"wtal-tf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except WtalError as e:
        print(f"wtal: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:  # noqa: BLE001
        # A WtalError raised inside a tf.data reader reaches us wrapped in a
        # TensorFlow error: report its message, not the graph's traceback.
        message = _wrapped_user_error(e)
        if message is None:
            raise
        print(f"wtal: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("wtal: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def _wrapped_user_error(e: BaseException):
    text = str(e)
    marker = "WtalError: "
    if type(e).__module__.startswith("tensorflow") and marker in text:
        return text.split(marker, 1)[1].splitlines()[0].strip()
    return None


if __name__ == "__main__":
    sys.exit(main())
