"""``wtal data convert | validate | info`` on real ground truth."""

import json
import shutil

import numpy as np
import pytest

from tests.conftest import write_features_for
from wtal_tf.cli.main import main
from wtal_tf.data import interchange


@pytest.fixture(scope="module")
def thumos_root(shared_data, tmp_path_factory):
    """Real THUMOS'14 ground truth (both CSVs) converted, small features added."""
    out = tmp_path_factory.mktemp("thumos") / "root"
    t = shared_data / "thumos14"
    rc = main(["data", "convert", "--annotations",
               str(t / "thumos14_valid_groundtruth.csv"),
               str(t / "thumos14_test_groundtruth.csv"),
               "--subset", "validation", "testing", "--preset", "thumos14",
               "--classlist", str(t / "classlist.txt"), "--out", str(out)])
    assert rc == 0
    ann = interchange.open_root(out).annotations
    write_features_for(out, ann, dim=4, stride=2.0)
    return out


def test_convert_merges_and_maps_subsets(thumos_root):
    ann = interchange.open_root(thumos_root).annotations
    subsets = [v.subset for v in ann.videos.values()]
    assert subsets.count("training") == 200 and subsets.count("testing") == 212
    assert ann.num_segments == 3003 + 3358


def test_validate_real_dirt_is_warnings(thumos_root, capsys):
    assert main(["data", "validate", str(thumos_root)]) == 0
    out = capsys.readouterr().out
    assert "0 errors, 26 warnings" in out
    assert "video 'video_test_0000" in out and "past the duration" in out


def test_validate_names_every_error(thumos_root, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(thumos_root, bad)
    # a NaN in one video, a missing feature file for another, end <= start in a third
    f = np.load(bad / "features" / "video_test_0000324.npy")
    f[3, 1] = np.nan
    np.save(bad / "features" / "video_test_0000324.npy", f)
    (bad / "features" / "video_test_0000664.npy").unlink()
    data = json.loads((bad / "annotations.json").read_text())
    data["database"]["video_validation_0000266"]["annotations"][0]["segment"] = [76.4, 72.8]
    (bad / "annotations.json").write_text(json.dumps(data))
    assert main(["data", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("video_test_0000324.npy" in e and "NaN" in e for e in errors)
    assert any("video_test_0000664.npy" in e and "missing" in e for e in errors)
    assert any("'video_validation_0000266'" in e and "end 72.8 <= start 76.4" in e
               for e in errors)


def test_validate_anet_reports_its_one_inverted_segment(shared_data, tmp_path, capsys):
    out = tmp_path / "anet"
    assert main(["data", "convert", "--annotations",
                 str(shared_data / "activitynet12" / "activitynet_v1-2_valid_groundtruth.csv"),
                 "--subset", "validation", "--out", str(out)]) == 0
    write_features_for(out, interchange.open_root(out).annotations, dim=4, stride=4.0)
    assert main(["data", "validate", "--quiet", str(out)]) == 1
    assert "1 errors, 187 warnings" in capsys.readouterr().out


def test_info(thumos_root, capsys):
    assert main(["data", "info", str(thumos_root)]) == 0
    out = capsys.readouterr().out
    assert "classes: 20" in out and "D=4" in out


def test_user_mistake_is_one_line_no_traceback(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wtal data info: error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
