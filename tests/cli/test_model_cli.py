"""``wtal train cas|autoloc``, ``predict``, ``evaluate`` end to end on tiny data."""

import json

import pytest

from wtal_tf.cli.main import main
from wtal_tf.errors import WtalError
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
    assert main(["info", str(cas)]) == 0   # the run's own test semantics (issue 18)
    assert "max_gap 1, dilation 0, score margin 1" in capsys.readouterr().out
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


@pytest.mark.slow
def test_supervised_baseline_trains_predicts_and_exports(tiny_root, tmp_path):
    import numpy as np
    import tensorflow as tf

    from wtal_tf.data.source import RootSource
    from wtal_tf.inference.cas import cas_outputs
    from wtal_tf.inference.loading import load_cas_model

    run = tmp_path / "sup"
    assert main(["baseline", "supervised", "--config", "synthetic_thumos_supervised",
                 "--data", str(tiny_root), "--run-dir", str(run), "--epochs", "2"]) == 0
    assert json.loads((run / "run.json").read_text())["method"] == "supervised"
    out = run / "det.json"
    assert main(["predict", str(run), "--data", str(tiny_root), "--out", str(out)]) == 0
    assert "results" in json.loads(out.read_text())
    # the export's CAS signature equals the in-process model (the same graph serves it)
    assert main(["export", str(run), "--out", str(tmp_path / "models"), "--name", "sup"]) == 0
    served = tf.saved_model.load(str(tmp_path / "models" / "sup" / "1"))
    model, _, _ = load_cas_model(run)
    source = RootSource(tiny_root)
    vid = source.video_ids("test")[0]
    want = cas_outputs(model, source, "test")[vid]
    got = served.signatures["cas"](features=tf.constant(source.features(vid)))
    np.testing.assert_allclose(got["foreground"].numpy(), want.p_fg, rtol=1e-4, atol=1e-5)
    # a config of another method is refused in one line
    assert main(["baseline", "supervised", "--config", "synthetic_thumos_cas",
                 "--data", str(tiny_root), "--run-dir", str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_ladder_runs_every_row_and_reuses_finished_seeds(tiny_root, tmp_path):
    from wtal_tf.data.source import RootSource
    from wtal_tf.pipelines.ladder import run_ladder

    source = RootSource(tiny_root)
    table, summary = run_ladder("synthetic_thumos", source, tmp_path / "lad", seeds=[0],
                                epochs=2, iterations=1)
    rows = set(table.rows)
    for row in ("Supervised reference (segment prediction)", "CAS model (multi-threshold)",
                "CAS model (segment prediction, paper semantics)",
                "Supervised reference (segment prediction, paper semantics)",
                "RefineLoc paper preset, final iteration (paper semantics)",
                "CAS thresholding", "AutoLoc paper preset (BN: population = default)",
                "AutoLoc paper preset (BN: keras)",
                "AutoLoc release preset", "RefineLoc paper preset, iteration 1",
                "RefineLoc paper preset, final iteration",
                "RefineLoc release preset, selected iteration (multi-threshold)"):
        assert row in rows
    assert 0.0 <= summary["video_top1"]["CAS model"][0] <= 1.0
    assert (tmp_path / "lad" / "ladder.png").exists()
    # a second call finds seed 0 finished and gives the same table without training
    again, _ = run_ladder("synthetic_thumos", source, tmp_path / "lad", seeds=[0])
    assert again.to_dict() == table.to_dict()
    # a seed finished by the ladder before issue 18's test semantics does not mix in
    done = tmp_path / "lad" / "seed_0" / "ladder_rows.json"
    saved = json.loads(done.read_text())
    del saved["rows_version"]
    done.write_text(json.dumps(saved))
    with pytest.raises(WtalError, match="older ladder"):
        run_ladder("synthetic_thumos", source, tmp_path / "lad", seeds=[0])


def test_ladder_and_baseline_arguments_fail_in_one_line(tiny_root, tmp_path, capsys):
    assert main(["ablate", "ladder", "--dataset", "nope", "--data", str(tiny_root),
                 "--out", str(tmp_path / "l")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wtal ablate ladder: error: unknown --dataset 'nope'") and \
        "synthetic_thumos" in err and "\n" not in err
    assert main(["baseline", "supervised", "--config", "synthetic_thumos_autoloc",
                 "--data", str(tiny_root), "--run-dir", str(tmp_path / "s")]) == 2
    assert "*_supervised" in capsys.readouterr().err


def test_cas_outputs_do_not_depend_on_the_inference_batch_budget(tiny_root):
    import numpy as np

    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource
    from wtal_tf.inference.cas import cas_outputs
    from wtal_tf.models.cas_model import build_cas_model

    source = RootSource(tiny_root)
    model = build_cas_model(get_config("synthetic_thumos_cas"), len(source.classes),
                            source.feature_dim)
    whole = cas_outputs(model, source, "test", batch_size=16, max_snippets=1 << 30)
    alone = cas_outputs(model, source, "test", batch_size=16, max_snippets=1)
    assert sorted(whole) == sorted(alone) == sorted(source.video_ids("test"))
    for vid, want in whole.items():
        got = alone[vid]
        assert got.class_scores.shape == want.class_scores.shape
        assert got.class_scores.base is None  # its own array, not a view of a padded batch
        np.testing.assert_allclose(got.class_scores, want.class_scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.p_fg, want.p_fg, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.video_scores, want.video_scores, rtol=1e-5, atol=1e-6)
