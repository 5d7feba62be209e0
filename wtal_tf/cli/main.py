"""``wtal``: the console script.

Each command group lives in its own module and registers its sub-parsers;
modules that need TensorFlow import it inside their handlers so that
``wtal --help`` and the data commands stay fast.  A :class:`WtalError` is a
user mistake: it is printed as one line on stderr,
``wtal <command>: error: FILE[: video]: what is wrong; what to do``, and the
exit status is 2.  Argument errors (argparse) take the same one-line form.
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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other error."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR,
                  f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def _set_prog(parser: argparse.ArgumentParser):
    """Each leaf command knows its own name (``wtal train cas``) for its messages."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        parser.set_defaults(prog=parser.prog)
    for action in subs:
        for child in action.choices.values():
            _set_prog(child)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from wtal_tf import __version__

    parser = _Parser(
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
    _set_prog(parser)
    return parser


def warn(args, message: str) -> None:
    """A one-line warning on stderr, ``wtal <command>: warning: ...``."""
    print(f"{getattr(args, 'prog', 'wtal')}: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, argument errors
        return e.code if isinstance(e.code, int) else EXIT_USER_ERROR
    prog = getattr(args, "prog", "wtal")
    try:
        result = args.handler(args)
    except WtalError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:
        # the filesystem refused (read-only, full, a directory in the way): the
        # user's environment, not a bug; name the file
        if e.filename is None:
            raise
        print(f"{prog}: error: {e.filename}: {e.strerror}; check the path and its "
              "permissions", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:  # noqa: BLE001
        # A WtalError raised inside a tf.data reader reaches us wrapped in a
        # TensorFlow error: report its message, not the graph's traceback.
        message = _wrapped_user_error(e)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
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
