"""Issue 15, item 1: ``evaluate`` / ``diagnose`` never score a silently wrong selection."""

import json

import pytest

from tests.reliability.cli_helpers import assert_one_line_error, run_cli, run_cli_out


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture
def gt(tmp_path):
    """Two test videos (3 segments), one training video."""
    return _write(tmp_path / "gt.json", {"database": {
        "t1": {"subset": "test", "annotations": [{"segment": ["1.0", "3.0"], "label": "A"},
                                                 {"segment": ["5.0", "7.0"], "label": "B"}]},
        "t2": {"subset": "test", "annotations": [{"segment": ["2.0", "4.0"], "label": "A"}]},
        "v1": {"subset": "train", "annotations": [{"segment": ["0.0", "1.0"], "label": "A"}]}}})


@pytest.fixture
def pred(tmp_path):
    """Exactly the test videos' ground truth: AP 1 for every class."""
    return _write(tmp_path / "pred.json", {"results": {
        "t1": [{"label": "A", "score": 0.9, "segment": [1.0, 3.0]},
               {"label": "B", "score": 0.8, "segment": [5.0, 7.0]}],
        "t2": [{"label": "A", "score": 0.7, "segment": [2.0, 4.0]}]}})


def test_subset_test_means_testing_like_the_files_own(gt, pred, tmp_path, capsys):
    """BaS-Net's gt.json says 'test'; ``--subset test`` scored 0 ground truth."""
    code, out, err = run_cli_out(capsys, "evaluate", gt, pred, "--subset", "test", "--json",
                                 tmp_path / "r.json")
    assert code == 0 and err == ""
    assert "ground truth: subset testing: 2 videos, 3 segments; predictions: 3 (3 on these " \
           "videos)" in out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["num_ground_truth"] == 3 and r["average_mAP"] == 1.0


def test_subset_absent_from_the_ground_truth_lists_those_present(shared_data, tmp_path,
                                                                 capsys):
    """``--subset testing`` on ActivityNet's validation CSV."""
    csv = shared_data / "activitynet12" / "activitynet_v1-2_valid_groundtruth.csv"
    pred = _write(tmp_path / "p.json", {"results": {}})
    code, err = run_cli(capsys, "evaluate", csv, pred, "--subset", "testing")
    assert_one_line_error(code, err, "activitynet_v1-2_valid_groundtruth.csv",
                          "no ground-truth video in subset testing",
                          "the subsets present are: validation (2303 videos)",
                          command="evaluate")


def test_subset_that_is_no_subset_name(gt, pred, capsys):
    code, err = run_cli(capsys, "evaluate", gt, pred, "--subset", "bogus")
    assert_one_line_error(code, err, "gt.json", "--subset 'bogus' is not a subset name",
                          "testing (2 videos), training (1 videos)", command="evaluate")


def test_empty_predictions_warn(gt, tmp_path, capsys):
    """Valid input, mAP 0 is the right result: but say why."""
    empty = _write(tmp_path / "empty.json", {"results": {}})
    code, out, err = run_cli_out(capsys, "evaluate", gt, empty)
    assert code == 0
    assert "predictions: 0 (0 on these videos)" in out
    assert err.strip() == (f"wtal evaluate: warning: {empty}: the file has no predictions, "
                           "so every AP is 0")


@pytest.mark.parametrize("tiou", ["1.5", "-0.2", "0"])
def test_tiou_outside_0_1(gt, pred, tiou, capsys):
    code, err = run_cli(capsys, "evaluate", gt, pred, "--tiou", "0.5", tiou)
    assert_one_line_error(code, err, "argument --tiou",
                          f"a tIoU threshold must be in (0, 1], got {tiou}",
                          command="evaluate")
    assert code == 2


def test_ground_truth_segment_with_start_after_end(gt, pred, capsys):
    data = json.loads(gt.read_text())
    data["database"]["t2"]["annotations"][0]["segment"] = ["4.0", "2.0"]
    _write(gt, data)
    code, err = run_cli(capsys, "evaluate", gt, pred)
    assert_one_line_error(code, err, "gt.json", "video 't2'", "[4.0, 2.0] (A)",
                          "start > end or a negative time", command="evaluate")


@pytest.mark.parametrize("segment", [[3.0, 1.0], [-2.0, 1.0]])
def test_prediction_with_start_after_end_or_negative(gt, pred, segment, capsys):
    data = json.loads(pred.read_text())
    data["results"]["t2"][0]["segment"] = segment
    _write(pred, data)
    code, err = run_cli(capsys, "evaluate", gt, pred)
    assert_one_line_error(code, err, "pred.json", "video 't2'",
                          "1 predictions have start > end or a negative time",
                          f"[{segment[0]}, {segment[1]}] A", command="evaluate")


def test_diagnose_prints_its_selection_and_refuses_an_empty_one(gt, pred, tmp_path, capsys):
    code, err = run_cli(capsys, "diagnose", gt, pred, "--subset", "validation", "--out",
                        tmp_path / "d")
    assert_one_line_error(code, err, "no ground-truth video in subset validation",
                          command="diagnose")
    code, out, err = run_cli_out(capsys, "diagnose", gt, pred, "--subset", "test", "--out",
                                 tmp_path / "d")
    assert code == 0 and "ground truth: subset testing: 2 videos, 3 segments" in out


def test_json_output_that_is_a_directory(gt, pred, tmp_path, capsys):
    code, err = run_cli(capsys, "evaluate", gt, pred, "--json", tmp_path)
    assert_one_line_error(code, err, str(tmp_path), "is a directory; --json needs a file name",
                          command="evaluate")
