"""Shared fixtures: where the real annotation files live, small synthetic roots."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WTAL_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real THUMOS'14 / ActivityNet 1.2 annotation files."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not present "
                    "(set WTAL_SHARED_DATA)")
    return SHARED_DATA


def write_features_for(root: Path, annotations, dim=8, seed=0, stride=0.5):
    """Small random features matching each video's duration at ``stride`` s."""
    rng = np.random.default_rng(seed)
    feat = root / "features"
    feat.mkdir(parents=True, exist_ok=True)
    for vid, v in annotations.videos.items():
        t = max(1, int(round((v.duration or 10.0) / stride)))
        np.save(feat / f"{vid}.npy", rng.standard_normal((t, dim)).astype(np.float32))


def make_root(path, *, num_train, num_test, dim, min_snippets, max_snippets, seed=0):
    """A small synthetic interchange root (the generator's THUMOS profile)."""
    from wtal_tf.data import synthetic

    synthetic.build(path, synthetic.SyntheticSpec(num_train=num_train, num_test=num_test,
                                                  feature_dim=dim, min_snippets=min_snippets,
                                                  max_snippets=max_snippets, seed=seed),
                    progress=False)
    return path
