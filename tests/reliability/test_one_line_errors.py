"""Issue 15, items 6 and 7: what gave a traceback, a hang or a late failure is now
one line naming the file (and video) before any work."""

import json
import os
import shutil
import signal

import numpy as np
import pytest

from tests.reliability.cli_helpers import assert_one_line_error, run_cli
from wtal_tf.cli.main import main


@pytest.fixture
def no_hang():
    """A FIFO used to block ``open`` for ever: fail instead of hanging the suite."""
    def timeout(*_):
        raise TimeoutError("hung on a FIFO")
    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def copied_run(cas_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cas_run, run)
    return run


def _train_cas(root, run, *extra):
    return ("train", "cas", "--config", "synthetic_thumos_cas", "--data", root, "--run-dir",
            run, "--epochs", 1, *extra)


# -- item 6 --------------------------------------------------------------------------
def test_corrupted_checkpoint_data(tiny_root, copied_run, capsys):
    # the TF checkpoint that state.json names (issue 16: tf.train.CheckpointManager
    # replaced state.npz)
    epochs = json.loads((copied_run / "checkpoint" / "state.json").read_text())["next_epoch"]
    data = copied_run / "checkpoint" / f"ckpt-{epochs}.data-00000-of-00001"
    assert data.exists()
    data.write_bytes(b"PK\x03\x04 truncated")
    code, err = run_cli(capsys, *_train_cas(tiny_root, copied_run, "--resume"))
    assert_one_line_error(code, err, str(data),
                          "unreadable checkpoint", "pass --overwrite to start the run over",
                          command="train cas")


def test_corrupted_checkpoint_state_json(tiny_root, copied_run, capsys):
    (copied_run / "checkpoint" / "state.json").write_text('{"next_epoch": ')
    code, err = run_cli(capsys, *_train_cas(tiny_root, copied_run, "--resume"))
    assert_one_line_error(code, err, str(copied_run / "checkpoint" / "state.json"),
                          "unreadable checkpoint", command="train cas")


def test_corrupted_weights_file(tiny_root, copied_run, tmp_path, capsys):
    w = copied_run / "model.weights.h5"
    w.write_bytes(w.read_bytes()[:300])
    code, err = run_cli(capsys, "predict", copied_run, "--data", tiny_root, "--out",
                        tmp_path / "d.json")
    assert_one_line_error(code, err, str(w), "unreadable or foreign weights file",
                          command="predict")
    assert not (tmp_path / "d.json").exists()


def test_resume_with_other_data(tiny_root, copied_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(tiny_root, other)
    f = other / "features" / "synth_training_00000.npy"
    np.save(f, np.zeros((30, 8), np.float32))
    code, err = run_cli(capsys, *_train_cas(other, copied_run, "--resume"))
    assert_one_line_error(code, err, str(copied_run), "--resume: the run was started on "
                          "other data", "resume with the same data or pass --overwrite",
                          command="train cas")


def test_resume_with_another_seed(tiny_root, copied_run, capsys):
    code, err = run_cli(capsys, *_train_cas(tiny_root, copied_run, "--resume", "--seed", 7))
    assert_one_line_error(code, err, "the run was started with seed 0, this command has "
                          "seed 7; resume with --seed 0", command="train cas")


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_epochs_below_one(tiny_root, epochs, tmp_path, capsys):
    code, err = run_cli(capsys, "train", "cas", "--config", "synthetic_thumos_cas", "--data",
                        tiny_root, "--run-dir", tmp_path / "run", "--epochs", epochs)
    assert_one_line_error(code, err, "argument --epochs", f"must be an integer >= 1, got "
                          f"{epochs}", command="train cas")
    assert not (tmp_path / "run").exists()


def test_train_cas_with_an_autoloc_config(tiny_root, tmp_path, capsys):
    code, err = run_cli(capsys, "train", "cas", "--config", "synthetic_thumos_autoloc",
                        "--data", tiny_root, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, "config 'synthetic_thumos_autoloc' is for method 'autoloc'",
                          "use it with 'wtal train autoloc'", command="train cas")
    assert not (tmp_path / "run").exists()


def test_cas_run_that_is_an_autoloc_run(tiny_root, autoloc_run, tmp_path, capsys):
    code, err = run_cli(capsys, "train", "autoloc", "--cas-run", autoloc_run, "--data",
                        tiny_root, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, str(autoloc_run), "is an AutoLoc run; --cas-run needs "
                          "the run directory of 'wtal train cas'", command="train autoloc")


def test_read_only_out_fails_before_inference(cas_run, tiny_root, capsys):
    """Checked with a probe file, so root (who passes permission checks) is refused too:
    /proc takes no new files."""
    code, err = run_cli(capsys, "predict", cas_run, "--data", tiny_root, "--out",
                        "/proc/wtal-test/det.json")
    line = assert_one_line_error(code, err, "/proc", "cannot write here", command="predict")
    assert "CAS model on test" not in err and "CAS model" not in line


def test_synth_min_snippets_above_max(tmp_path, capsys):
    code, err = run_cli(capsys, "data", "synth", tmp_path / "s", "--min-snippets", 100,
                        "--max-snippets", 10)
    assert_one_line_error(code, err, "--min-snippets 100 > --max-snippets 10",
                          "give min <= max", command="data synth")
    assert not (tmp_path / "s").exists()


# -- item 7 --------------------------------------------------------------------------
def _fifo_root(tiny_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    f = root / "features" / "synth_training_00003.npy"
    f.unlink()
    os.mkfifo(f)
    return root, f


def test_fifo_feature_file_in_validate(tiny_root, tmp_path, capsys, no_hang):
    root, fifo = _fifo_root(tiny_root, tmp_path)
    assert main(["data", "validate", str(root)]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines()
              if line.startswith("error:")]
    assert errors == [f"error: {fifo}: video 'synth_training_00003': not a regular file (a "
                      "FIFO, device or directory); expected a .npy file"]


def test_fifo_feature_file_in_train(tiny_root, tmp_path, capsys, no_hang):
    root, fifo = _fifo_root(tiny_root, tmp_path)
    code, err = run_cli(capsys, *_train_cas(root, tmp_path / "run"))
    assert_one_line_error(code, err, str(fifo), "'synth_training_00003'", "not a regular file",
                          command="train cas")


def test_integer_features_fail_validate_like_train(tiny_root, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    f = root / "features" / "synth_training_00002.npy"
    np.save(f, np.ones((12, 8), np.int32))
    assert main(["data", "validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"error: {f}: video 'synth_training_00002': features are int32; expected " \
           "floating point" in out
    code, err = run_cli(capsys, *_train_cas(root, tmp_path / "run"))
    assert_one_line_error(code, err, str(f), "features must be floating point, got int32",
                          command="train cas")


def test_two_csvs_with_one_subset(shared_data, tmp_path, capsys):
    t = shared_data / "thumos14"
    code, err = run_cli(capsys, "data", "convert", "--annotations",
                        t / "thumos14_valid_groundtruth.csv", t / "thumos14_test_groundtruth.csv",
                        "--subset", "validation", "--classlist", t / "classlist.txt", "--out",
                        tmp_path / "out")
    assert_one_line_error(code, err, "2 --annotations files and 1 --subset",
                          "would label every video 'validation'",
                          "give one --subset per file", command="data convert")
    assert not (tmp_path / "out").exists()


def test_basnet_convert_without_a_stride(shared_data, tmp_path, capsys):
    """BaS-Net's gt.json has no duration: a root without duration or stride passed
    ``validate`` and failed in ``export``."""
    feats = tmp_path / "features"
    feats.mkdir()
    np.save(feats / "video_test_0000896.npy", np.zeros((10, 4), np.float32))
    code, err = run_cli(capsys, "data", "convert", "--annotations",
                        shared_data / "thumos14" / "thumos14_gt_basnet.json", "--features", feats,
                        "--skip-missing-features", "--out", tmp_path / "out")
    assert_one_line_error(code, err, "thumos14_gt_basnet.json", "410 videos have no duration",
                          "pass --seconds-per-snippet", command="data convert")
    assert main(["data", "convert", "--annotations",
                 str(shared_data / "thumos14" / "thumos14_gt_basnet.json"), "--features",
                 str(feats), "--skip-missing-features", "--seconds-per-snippet", "0.64",
                 "--out", str(tmp_path / "out")]) == 0
    assert main(["data", "validate", str(tmp_path / "out")]) == 0


def test_validate_root_without_duration_or_stride(tiny_root, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    data = json.loads((root / "annotations.json").read_text())
    entry = data["database"]["synth_testing_00001"]
    entry.pop("duration")
    entry.pop("seconds_per_snippet", None)
    (root / "annotations.json").write_text(json.dumps(data))
    assert main(["data", "validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "video 'synth_testing_00001': neither 'duration' nor 'seconds_per_snippet'" in out


def test_negative_stride_in_the_annotations(cas_run, tiny_root, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    data = json.loads((root / "annotations.json").read_text())
    data["database"]["synth_testing_00000"]["seconds_per_snippet"] = -0.5
    (root / "annotations.json").write_text(json.dumps(data))
    assert main(["data", "validate", str(root)]) == 1
    assert "seconds_per_snippet -0.5 is not a positive number" in capsys.readouterr().out
    code, err = run_cli(capsys, "predict", cas_run, "--data", root, "--out", tmp_path / "d.json")
    assert_one_line_error(code, err, str(root), "'synth_testing_00000'",
                          "seconds_per_snippet -0.5 is not a finite number > 0",
                          command="predict")
