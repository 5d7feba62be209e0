"""``wtal train cas|autoloc``, ``predict``, ``evaluate`` end to end on tiny data."""

import json

import pytest

from wtal_tf.cli.main import main
from tests.conftest import make_root


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "data"
    make_root(root, num_train=16, num_test=4, dim=16, min_snippets=10, max_snippets=60)
    return root


@pytest.mark.slow
def test_train_predict_evaluate(tiny_root, tmp_path, capsys):
    cas = tmp_path / "cas"
    assert main(["train", "cas", "--config", "synthetic_thumos_cas", "--data", str(tiny_root),
                 "--run-dir", str(cas), "--epochs", "3"]) == 0
    al = tmp_path / "al"
    assert main(["train", "autoloc", "--cas-run", str(cas), "--data", str(tiny_root),
                 "--run-dir", str(al), "--epochs", "1"]) == 0
    for run in (cas, al):
        out = run / "det.json"
        assert main(["predict", str(run), "--data", str(tiny_root), "--out", str(out)]) == 0
        results = json.loads(out.read_text())["results"]
        assert set(results) <= {f"synth_testing_{i:05d}" for i in range(4)}
        assert main(["evaluate", str(tiny_root), str(out), "--preset", "thumos"]) == 0
    assert "mAP (%)" in capsys.readouterr().out
    run = json.loads((al / "run.json").read_text())
    assert run["method"] == "autoloc" and (al / "cas" / "model.weights.h5").exists()


def test_predict_refuses_wrong_feature_size(tiny_root, tmp_path, capsys):
    other = tmp_path / "other"
    make_root(other, num_train=4, num_test=2, dim=8, min_snippets=5, max_snippets=10)
    run = tmp_path / "run"
    assert main(["train", "cas", "--config", "synthetic_thumos_cas", "--data", str(other),
                 "--run-dir", str(run), "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "--data", str(tiny_root), "--out",
                 str(tmp_path / "d.json")]) == 2
    err = capsys.readouterr().err
    assert "expects D = 8" in err and "D = 16" in err and "Traceback" not in err
