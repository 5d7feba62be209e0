"""Trained runs shared by the catalogue (read-only: copy before changing one)."""

import pytest

from tests.conftest import make_root
from wtal_tf.cli.main import main


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """8 training, 2 test videos, D = 8."""
    path = tmp_path_factory.mktemp("tiny") / "root"
    make_root(path, num_train=8, num_test=2, dim=8, min_snippets=10, max_snippets=24)
    return path


@pytest.fixture(scope="session")
def cas_run(tiny_root, tmp_path_factory):
    """One epoch of the CAS model: too short for any snippet to reach alpha_c."""
    run = tmp_path_factory.mktemp("runs") / "cas"
    assert main(["train", "cas", "--config", "synthetic_thumos_cas", "--data", str(tiny_root),
                 "--run-dir", str(run), "--epochs", "1"]) == 0
    return run


@pytest.fixture(scope="session")
def autoloc_run(tiny_root, cas_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "autoloc"
    assert main(["train", "autoloc", "--cas-run", str(cas_run), "--data", str(tiny_root),
                 "--run-dir", str(run), "--epochs", "1"]) == 0
    return run
