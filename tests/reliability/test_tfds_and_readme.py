"""Issue 15, item 3: ``--tfds`` through every trainer, end to end in the CLI, and
every ``wtal`` command line in the README parses as written."""

import re
import shlex
from pathlib import Path

import pytest

from tests.reliability.cli_helpers import assert_one_line_error, run_cli
from wtal_tf.cli.main import build_parser, main

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow
def test_tfds_for_every_trainer(tmp_path, capsys):
    """``train cas``, ``train autoloc`` and ``refine`` crashed on ``--tfds``
    (OperatorNotAllowedInGraphError: an epoch seed computed from a tensor)."""
    tfds = ["--tfds", "wtal_synthetic/thumos_tiny", "--tfds-data-dir", tmp_path / "tfds"]
    assert main([str(a) for a in ["train", "cas", "--config", "synthetic_thumos_cas", *tfds,
                                  "--run-dir", tmp_path / "cas", "--epochs", 2]]) == 0
    assert main([str(a) for a in ["train", "autoloc", "--cas-run", tmp_path / "cas", *tfds,
                                  "--run-dir", tmp_path / "al", "--epochs", 1]]) == 0
    assert main([str(a) for a in ["refine", "--config", "synthetic_thumos_refineloc", *tfds,
                                  "--run-dir", tmp_path / "ref", "--epochs", 1,
                                  "--iterations", 1]]) == 0
    for run in ("cas", "al", "ref"):
        assert (tmp_path / run / "model.weights.h5").exists()
    assert "tfds:wtal_synthetic/thumos_tiny" in (tmp_path / "cas" / "data.json").read_text()
    out = capsys.readouterr().out
    assert "trained synthetic_thumos_cas" in out and "trained synthetic_thumos_autoloc" in out
    assert "selected iteration (fixed): 1" in out


@pytest.mark.parametrize("name", ["no_such_dataset", "wtal_synthetic/no_such_config"])
def test_unknown_tfds_name_or_config(name, tmp_path, capsys):
    code, err = run_cli(capsys, "train", "cas", "--config", "synthetic_thumos_cas", "--tfds",
                        name, "--tfds-data-dir", tmp_path, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, f"tfds:{name}", "not a TFDS dataset or config",
                          "wtal_synthetic/thumos|anet|thumos_tiny", command="train cas")


def _readme_commands():
    text = README.read_text().replace("\\\n", " ")
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("wtal "):
                yield line
    for inline in re.findall(r"`(wtal [^`]+)`", text):
        # full command lines only (not a mention such as `wtal diagnose`)
        if " --" in inline and not any(x in inline for x in ("...", "|", "RUN_DIR")):
            yield inline


def test_every_readme_command_parses(monkeypatch):
    """``wtal ablate ...`` as the README wrote it lacked the required ``--out``."""
    commands = list(_readme_commands())
    assert any(c.startswith("wtal ablate autoloc") for c in commands)
    assert any(c.startswith("wtal ablate refineloc") for c in commands)
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command)[1:]
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README command does not parse: {command}")
        assert callable(args.handler), command
