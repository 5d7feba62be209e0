"""Issue 15, item 2: every malformed input to an exported detector is a readable
``InvalidArgumentError`` raised before any kernel runs -- in a fresh process,
because a rank-1 ``features`` used to abort the whole process (a oneDNN
``Check failed``, exit status 134)."""

import json
import os
import subprocess
import sys

import pytest

#: (signature, inputs as Python literals, the message the error must contain)
CASES = {
    "rank-1 features": ("serving_default", "features=z((64,))",
                        "features must have D = 8 columns ([T, D])"),
    "rank-3 features": ("serving_default", "features=z((2, 3, 8))",
                        "features must be [T, D] with D = 8 (got another rank)"),
    "wrong D": ("serving_default", "features=z((5, 11))", "features must have D = 8 columns"),
    "T = 0": ("serving_default", "features=z((0, 8))", "features must have T >= 1 snippets"),
    "NaN": ("serving_default", "features=tf.fill((5, 8), float('nan'))",
            "features contain NaN or inf"),
    "cas, rank-1": ("cas", "features=z((64,))", "features must have D = 8 columns"),
    "negative stride": ("detect_with_rate", "features=z((5, 8)), seconds_per_snippet=c(-1.0)",
                        "seconds_per_snippet must be a finite number > 0"),
    "NaN stride": ("detect_with_rate",
                   "features=z((5, 8)), seconds_per_snippet=c(float('nan'))",
                   "seconds_per_snippet must be a finite number > 0"),
    "batch of one video": ("detect_batch", "features=z((5, 8)), lengths=c([5])",
                           "detect_batch features must be [B, T_max, D] with D = 8"),
    "batch, wrong D": ("detect_batch", "features=z((2, 5, 9)), lengths=c([5, 5])",
                       "features must have D = 8 columns ([B, T_max, D])"),
    "batch, lengths count": ("detect_batch", "features=z((2, 5, 8)), lengths=c([5])",
                             "lengths must be [B], one length per video"),
    "batch, negative length": ("detect_batch", "features=z((2, 5, 8)), lengths=c([5, -1])",
                               "lengths must be >= 1"),
    "batch, zero length": ("detect_batch", "features=z((2, 5, 8)), lengths=c([5, 0])",
                           "lengths must be >= 1"),
    "batch, length > T_max": ("detect_batch", "features=z((2, 5, 8)), lengths=c([5, 6])",
                              "lengths must be <= T_max"),
}

SCRIPT = """
import json, sys
import tensorflow as tf
z, c = tf.zeros, tf.constant
m = tf.saved_model.load(sys.argv[1])
cases = json.loads(sys.argv[2])
out = {}
for name, (sig, inputs, _) in cases.items():
    try:
        eval(f"m.signatures[{sig!r}]({inputs})")
        out[name] = "no error"
    except tf.errors.InvalidArgumentError as e:
        out[name] = "InvalidArgumentError: " + e.message
    except Exception as e:
        out[name] = type(e).__name__ + ": " + str(e)
ok = m.signatures["detect_batch"](features=z((2, 5, 8)), lengths=c([5, 3]))
out["valid batch"] = ok["segments"].shape.as_list()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_malformed_inputs_in_a_fresh_process(autoloc_run, tmp_path):
    from wtal_export.saved_model import export_run

    path = export_run(autoloc_run, tmp_path / "models", name="m", warmup=False)
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(path), json.dumps(CASES)],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert res.returncode == 0, res.stderr[-3000:]   # 134 was the oneDNN abort
    got = json.loads(res.stdout.strip().splitlines()[-1])
    for name, (_, _, message) in CASES.items():
        assert got[name].startswith("InvalidArgumentError: "), (name, got[name][:300])
        assert message in got[name], (name, got[name][:300])
    assert got["valid batch"] == [2, 100, 2]
