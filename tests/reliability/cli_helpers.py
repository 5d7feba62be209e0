"""What every catalogue entry asserts: one line ``wtal <command>: error: ...``, an
exit status != 0, no traceback."""

import re

from wtal_tf.cli.main import main


def run_cli(capsys, *argv):
    """``(exit status, stderr)`` of the console script's entry point, in-process."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def run_cli_out(capsys, *argv):
    """``(exit status, stdout, stderr)``."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *needles, command=None):
    """``wtal <command>: error: ...`` on one line, exit status != 0, no traceback."""
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and re.match(r"^wtal( [a-z]+)*: error: ", lines[0]), err
    if command is not None:
        assert lines[0].startswith(f"wtal {command}: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]
