"""The catalogue of bad inputs: every entry names file, video and what was expected,
and the CLI exits non-zero with one line, no traceback."""

import json
import shutil

import numpy as np
import pytest

from wtal_tf.cli.main import main
from tests.conftest import make_root
from tests.reliability.cli_helpers import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "root"
    make_root(path, num_train=6, num_test=2, dim=8, min_snippets=10, max_snippets=20)
    return path


@pytest.fixture
def copy(root, tmp_path):
    dst = tmp_path / "root"
    shutil.copytree(root, dst)
    return dst


def _train(copy):
    return ("train", "cas", "--config", "synthetic_thumos_cas", "--data", copy, "--run-dir",
            copy.parent / "run", "--epochs", "1")


def test_malformed_json(copy, capsys):
    (copy / "annotations.json").write_text('{"database": {"a": ')
    code, err = run_cli(capsys, "data", "info", copy)
    assert_one_line_error(code, err, "annotations.json", "malformed JSON")


def test_malformed_csv(tmp_path, capsys):
    (tmp_path / "gt.csv").write_text("video,start\nv1,3\n")
    code, err = run_cli(capsys, "data", "convert", "--annotations", tmp_path / "gt.csv",
                        "--out", tmp_path / "out")
    assert_one_line_error(code, err, "gt.csv", "lacks columns", "t-start")


def test_missing_npy(copy, capsys):
    (copy / "features" / "synth_training_00002.npy").unlink()
    code, err = run_cli(capsys, *_train(copy))
    assert_one_line_error(code, err, "synth_training_00002.npy", "'synth_training_00002'",
                          "not found")


def test_unreadable_npy(copy, capsys):
    (copy / "features" / "synth_training_00001.npy").write_bytes(b"not a numpy file at all")
    code, err = run_cli(capsys, *_train(copy))
    assert_one_line_error(code, err, "synth_training_00001.npy", "'synth_training_00001'",
                          "unreadable or truncated")


def test_truncated_npy(copy, capsys):
    path = copy / "features" / "synth_training_00003.npy"
    path.write_bytes(path.read_bytes()[:-40])
    code, err = run_cli(capsys, *_train(copy))
    assert_one_line_error(code, err, "synth_training_00003.npy", "'synth_training_00003'",
                          "truncated")


def test_nan_features(copy, capsys):
    path = copy / "features" / "synth_training_00000.npy"
    f = np.load(path)
    f[2, 3] = np.inf
    np.save(path, f)
    code, err = run_cli(capsys, *_train(copy))
    assert_one_line_error(code, err, "synth_training_00000.npy", "'synth_training_00000'",
                          "NaN/inf", "expected finite")


def test_wrong_feature_size_for_a_trained_model(copy, tmp_path, capsys):
    assert main([str(a) for a in _train(copy)]) == 0
    other = tmp_path / "d16"
    make_root(other, num_train=3, num_test=2, dim=16, min_snippets=5, max_snippets=8)
    capsys.readouterr()
    code, err = run_cli(capsys, "predict", copy.parent / "run", "--data", other, "--out",
                        tmp_path / "d.json")
    assert_one_line_error(code, err, "run", "expects D = 8", "D = 16")


def test_zero_snippets(copy, capsys):
    np.save(copy / "features" / "synth_training_00004.npy", np.zeros((0, 8), np.float32))
    code, err = run_cli(capsys, *_train(copy))
    assert_one_line_error(code, err, "synth_training_00004.npy", "'synth_training_00004'",
                          "T = 0", "T >= 1")


def test_end_before_start(copy, capsys):
    data = json.loads((copy / "annotations.json").read_text())
    data["database"]["synth_training_00000"]["annotations"][0]["segment"] = [5.0, 2.0]
    (copy / "annotations.json").write_text(json.dumps(data))
    code = main(["data", "validate", str(copy)])
    out = capsys.readouterr().out
    assert code == 1 and "Traceback" not in out
    line = next(line for line in out.splitlines() if line.startswith("error:"))
    assert "annotations.json" in line and "'synth_training_00000'" in line
    assert "end 2.0 <= start 5.0; expected end > start" in line


def test_label_missing_from_class_list(copy, capsys):
    data = json.loads((copy / "annotations.json").read_text())
    data["database"]["synth_training_00001"]["annotations"][0]["label"] = "Juggling"
    (copy / "annotations.json").write_text(json.dumps(data))
    code, err = run_cli(capsys, *_train(copy))
    assert_one_line_error(code, err, "annotations.json", "'synth_training_00001'",
                          "'Juggling' is not in the class list")


def test_duplicate_video_ids(copy, capsys):
    text = (copy / "annotations.json").read_text()
    data = json.loads(text)
    entry = json.dumps(data["database"]["synth_training_00001"])
    text = text.replace('"database": {', '"database": {"synth_training_00001": ' + entry + ", ",
                        1)
    (copy / "annotations.json").write_text(text)
    code = main(["data", "validate", str(copy)])
    out = capsys.readouterr().out
    assert code == 1
    assert any("'synth_training_00001'" in line and "duplicate video id" in line
               for line in out.splitlines() if line.startswith("error:"))


def test_pickled_array_without_opt_in(shared_data, tmp_path, capsys):
    code, err = run_cli(capsys, "data", "convert", "--annotations",
                        shared_data / "thumos14" / "wtalc", "--out", tmp_path / "o")
    assert_one_line_error(code, err, "segments.npy", "pickled object array",
                          "--allow-pickle")


def test_run_directory_from_an_incompatible_version(copy, tmp_path, capsys):
    assert main([str(a) for a in _train(copy)]) == 0
    run = copy.parent / "run"
    info = json.loads((run / "run.json").read_text())
    info["format"] = 0
    info["wtal_tf_version"] = "0.0.1"
    (run / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    code, err = run_cli(capsys, "predict", run, "--data", copy, "--out", tmp_path / "d.json")
    assert_one_line_error(code, err, "run", "format 0", "0.0.1", "incompatible", "retrain")


def test_prediction_file_of_the_wrong_kind(copy, tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps([["v", 1, 2]]))
    code, err = run_cli(capsys, "evaluate", copy, tmp_path / "p.json")
    assert_one_line_error(code, err, "p.json", "expected {'results'", "bare")


def test_any_length_is_valid_input(tmp_path):
    """Not an error: T = 1 (and any T >= 1) trains and predicts."""
    make_root(tmp_path / "r", num_train=5, num_test=2, dim=8, min_snippets=1, max_snippets=2)
    assert main(["train", "cas", "--config", "synthetic_thumos_cas", "--data",
                 str(tmp_path / "r"), "--run-dir", str(tmp_path / "run"), "--epochs", "1"]) == 0
    assert main(["predict", str(tmp_path / "run"), "--data", str(tmp_path / "r"), "--out",
                 str(tmp_path / "d.json")]) == 0


def test_real_console_script(tmp_path):
    """A few tests run the installed console script itself."""
    import subprocess

    exe = shutil.which("wtal")
    if exe is None:
        pytest.skip("the wtal console script is not on PATH (package not installed)")
    res = subprocess.run([exe, "data", "info", str(tmp_path / "missing")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "dataset root not found" in res.stderr
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "evaluate" in res.stdout and "export" in res.stdout
