"""Issue 15, items 4 and 5: nothing existing is replaced without ``--overwrite``
(a resumable run: without ``--resume`` or ``--overwrite``), and what is written
atomically gets the modes the umask gives (mkstemp/mkdtemp made them 0600/0700)."""

import json
import os
import shutil
import stat

import pytest

from tests.conftest import make_root
from tests.reliability.cli_helpers import assert_one_line_error, run_cli
from wtal_tf import io_utils
from wtal_tf.cli.main import main


@pytest.fixture(scope="module")
def export_base(cas_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("serving") / "models"
    assert main(["export", str(cas_run), "--out", str(base), "--name", "a", "--version", "1",
                 "--no-warmup"]) == 0
    return base


@pytest.mark.slow
def test_export_over_an_existing_version(cas_run, export_base, capsys):
    before = (export_base / "a" / "1" / "saved_model.pb").stat().st_mtime_ns
    code, err = run_cli(capsys, "export", cas_run, "--out", export_base, "--name", "a",
                        "--version", "1")
    assert_one_line_error(code, err, str(export_base / "a" / "1"),
                          "this version already exists; pass --overwrite", command="export")
    assert (export_base / "a" / "1" / "saved_model.pb").stat().st_mtime_ns == before


@pytest.mark.slow
def test_export_of_a_second_name_keeps_the_first_in_models_config(cas_run, export_base):
    assert main(["export", str(cas_run), "--out", str(export_base), "--name", "b",
                 "--no-warmup"]) == 0
    text = (export_base / "models.config").read_text()
    assert text.count("config {") == 2
    assert 'name: "a"' in text and 'base_path: "/models/a"' in text
    assert 'name: "b"' in text and 'base_path: "/models/b"' in text
    assert text.startswith("model_config_list {") and text.rstrip().endswith("}")


@pytest.mark.parametrize("version", ["-1", "0"])
def test_export_version_below_one(version, tmp_path, capsys):
    code, err = run_cli(capsys, "export", tmp_path / "run", "--out", tmp_path / "m",
                        "--version", version)
    assert_one_line_error(code, err, "argument --version", f"must be an integer >= 1, got "
                          f"{version}", command="export")
    assert not (tmp_path / "m").exists()


def test_synth_onto_an_existing_root(tiny_root, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    before = (root / "annotations.json").read_bytes()
    code, err = run_cli(capsys, "data", "synth", root, "--train-videos", 2, "--test-videos", 1)
    assert_one_line_error(code, err, str(root), "a dataset root already exists here; pass "
                          "--overwrite", command="data synth")
    assert (root / "annotations.json").read_bytes() == before
    assert main(["data", "synth", str(root), "--train-videos", "2", "--test-videos", "1",
                 "--dim", "8", "--overwrite"]) == 0
    assert len(json.loads((root / "annotations.json").read_text())["database"]) == 3


def test_synth_onto_a_regular_file(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, err = run_cli(capsys, "data", "synth", target, "--overwrite")
    assert_one_line_error(code, err, str(target), "exists and is not a directory",
                          command="data synth")
    assert target.read_text() == "mine"


def test_convert_onto_an_existing_root(tiny_root, tmp_path, capsys):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"v": {"subset": "testing", "duration": 5.0,
                                                 "annotations": []}}}))
    code, err = run_cli(capsys, "data", "convert", "--annotations", gt, "--out", tiny_root)
    assert_one_line_error(code, err, str(tiny_root), "pass --overwrite",
                          command="data convert")
    assert (tiny_root / "features").is_dir()


def test_training_into_a_killed_run_without_resume(tiny_root, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "state.json").write_text(json.dumps({"next_epoch": 4}))
    (run / "checkpoint" / "state.npz").write_bytes(b"kept")
    code, err = run_cli(capsys, "train", "cas", "--config", "synthetic_thumos_cas", "--data",
                        tiny_root, "--run-dir", run, "--epochs", 1)
    assert_one_line_error(code, err, str(run), "already holds an unfinished run (stopped "
                          "after epoch 4); pass --resume to continue it or --overwrite to "
                          "start over", command="train cas")
    assert (run / "checkpoint" / "state.npz").read_bytes() == b"kept"


def test_training_into_a_folder_that_is_no_run(tiny_root, tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("x")
    code, err = run_cli(capsys, "train", "cas", "--config", "synthetic_thumos_cas", "--data",
                        tiny_root, "--run-dir", tmp_path, "--overwrite")
    assert_one_line_error(code, err, "non-empty directory that is not a run directory",
                          command="train cas")
    assert (tmp_path / "mine.txt").exists()


def test_predict_onto_an_existing_file(cas_run, tiny_root, tmp_path, capsys):
    out = tmp_path / "det.json"
    out.write_text("{}")
    code, err = run_cli(capsys, "predict", cas_run, "--data", tiny_root, "--out", out)
    assert_one_line_error(code, err, str(out), "already exists; pass --overwrite",
                          command="predict")
    assert out.read_text() == "{}"


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_honour_the_umask(umask, tmp_path):
    old = os.umask(umask)
    try:
        f = io_utils.write_json(tmp_path / "a.json", {"x": 1})
        n = io_utils.save_npy(tmp_path / "b.npy", [1, 2])
        with io_utils.atomic_directory(tmp_path / "dir") as d:
            (d / "inside.txt").write_text("y")
    finally:
        os.umask(old)
    assert _mode(f) == 0o666 & ~umask and _mode(n) == 0o666 & ~umask
    assert _mode(tmp_path / "dir") == 0o777 & ~umask


def test_cli_outputs_are_readable_by_others(tmp_path):
    """A dataset root and its files, as another user or a TF Serving container sees them."""
    old = os.umask(0o022)
    try:
        make_root(tmp_path / "r", num_train=2, num_test=1, dim=4, min_snippets=2,
                  max_snippets=3)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "r") == 0o755
    assert _mode(tmp_path / "r" / "annotations.json") == 0o644
    assert all(_mode(p) == 0o644 for p in (tmp_path / "r" / "features").iterdir())
