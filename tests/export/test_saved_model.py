"""Export -> reload in a fresh process -> the same detections; CLI compliance checks."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_root

LENGTHS = (1, 3, 17, 64, 200)   # T = 1, below the largest anchor (32), longer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny AutoLoc run and a tiny CAS run (the CAS run doubles as a RefineLoc run)."""
    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource
    from wtal_tf.training.autoloc_task import train_autoloc
    from wtal_tf.training.cas_task import train_cas

    tmp = tmp_path_factory.mktemp("export")
    make_root(tmp / "data", num_train=12, num_test=3, dim=16, min_snippets=20, max_snippets=80)
    source = RootSource(tmp / "data")
    cfg = get_config("synthetic_thumos_cas")
    train_cas(cfg, source, tmp / "cas", epochs=8, progress=False)
    train_autoloc(get_config("synthetic_thumos_autoloc"), source, tmp / "cas", tmp / "autoloc",
                  progress=False)
    return tmp


def _inprocess(run_dir, feats, n=20):
    from wtal_export.saved_model import Detector

    det = Detector(run_dir, max_detections=n)
    fn = tf.function(lambda f: det.detect(f, 0.5))
    return [{k: v.numpy() for k, v in fn(tf.constant(f)).items()} for f in feats]


@pytest.mark.slow
@pytest.mark.parametrize("run", ["autoloc", "cas"])
def test_reload_in_fresh_process_gives_identical_detections(trained, tmp_path, run):
    from wtal_export.saved_model import export_run

    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((t, 16)).astype(np.float32) * 2 for t in LENGTHS]
    np.savez(tmp_path / "inputs.npz", *feats)
    path = export_run(trained / run, tmp_path / "models", name="m", version=1,
                      seconds_per_snippet=0.5, max_detections=20)
    expected = _inprocess(trained / run, feats)
    assert any(int(e["num_detections"]) > 0 for e in expected) or run == "cas"
    script = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1]); z = np.load(sys.argv[2])\n"
        "out = []\n"
        "for k in sorted(z.files, key=lambda s: int(s.split('_')[1])):\n"
        "    o = m.signatures['serving_default'](features=tf.constant(z[k]))\n"
        "    out.append({n: v.numpy().tolist() if v.dtype != tf.string else "
        "[x.decode() for x in v.numpy()] for n, v in o.items()})\n"
        "print(json.dumps(out))\n")
    res = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "inputs.npz")],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    for e, g in zip(expected, got):
        n = int(e["num_detections"])
        assert g["num_detections"] == n
        np.testing.assert_array_equal(np.asarray(g["classes"])[:n], e["classes"][:n])
        np.testing.assert_allclose(np.asarray(g["segments"])[:n], e["segments"][:n], atol=1e-5)
        np.testing.assert_allclose(np.asarray(g["scores"])[:n], e["scores"][:n], atol=1e-5)
        assert g["classes"][n:] == [-1] * (20 - n) and g["labels"][n:] == [""] * (20 - n)


@pytest.mark.slow
def test_signatures_warmup_and_bad_input(trained, tmp_path):
    from wtal_export.saved_model import WARMUP_FILE, export_run, read_warmup

    path = export_run(trained / "autoloc", tmp_path / "models", name="m")
    assert path == tmp_path / "models" / "m" / "1"
    assert "model_config_list" in (tmp_path / "models" / "models.config").read_text()
    cli = shutil.which("saved_model_cli") or str(Path(sys.executable).parent / "saved_model_cli")
    show = subprocess.run([cli, "show", "--dir", str(path), "--all"], capture_output=True,
                          text=True, timeout=300)
    assert show.returncode == 0, show.stderr[-2000:]
    text = show.stdout
    for sig in ("serving_default", "detect_with_rate", "cas", "detect_batch"):
        assert f"signature_def['{sig}']" in text
    assert "shape: (-1, 16)" in text            # dynamic T
    m = tf.saved_model.load(str(path))
    replayed = 0
    for sig, inputs in read_warmup(path / "assets.extra" / WARMUP_FILE):
        out = m.signatures[sig](**{k: tf.constant(v) for k, v in inputs.items()})
        assert out["segments"].shape == (100, 2)
        replayed += 1
    assert replayed == 3
    # cas and batched signatures
    f = tf.random.normal((9, 16))
    c = m.signatures["cas"](features=f)
    assert c["cas"].shape == (9, 20) and c["foreground"].shape == (9,)
    batch = tf.stack([f, tf.concat([f[:5], tf.zeros((4, 16))], 0)])
    b = m.signatures["detect_batch"](features=batch, lengths=tf.constant([9, 5]))
    single = m.signatures["serving_default"](features=f[:5])
    np.testing.assert_allclose(b["scores"][1], single["scores"], atol=1e-6)
    # bad input: the documented messages, not a deep shape error
    with pytest.raises(tf.errors.InvalidArgumentError, match="must have D = 16"):
        m.signatures["serving_default"](features=tf.zeros((5, 8)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        m.signatures["serving_default"](features=tf.fill((5, 16), np.nan))
    with pytest.raises(tf.errors.InvalidArgumentError, match="T >= 1"):
        m.signatures["serving_default"](features=tf.zeros((0, 16)))
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        m.signatures["serving_default"](features=tf.zeros((2, 3, 16)))


@pytest.mark.slow
def test_predict_from_saved_model_matches_run(trained, tmp_path):
    from wtal_export.saved_model import export_run
    from wtal_tf.data.source import RootSource
    from wtal_tf.inference.predict import predict_run, predict_saved_model

    source = RootSource(trained / "data")
    path = export_run(trained / "autoloc", tmp_path / "m", name="x", version=3,
                      max_detections=100)
    a = predict_run(trained / "autoloc", source, "test")
    b = predict_saved_model(path, source, "test")
    key = lambda d: sorted(zip(d.video_ids, d.labels, np.round(d.starts, 4)))  # noqa: E731
    assert key(a) == key(b)
