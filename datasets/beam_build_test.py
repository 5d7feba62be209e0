"""The TFDS builders also build through Apache Beam (DirectRunner), to the same examples."""

import numpy as np
import pytest


def test_synthetic_builds_through_beam_direct_runner(tmp_path):
    beam = pytest.importorskip("apache_beam", reason="the 'beam' extra is not installed "
                               "(pip install -e '.[beam]')")
    import tensorflow_datasets as tfds

    from wtal_datasets.wtal_synthetic.wtal_synthetic_dataset_builder import Builder

    with_beam = Builder(config="thumos_tiny", data_dir=str(tmp_path / "beam"), use_beam=True)
    with_beam.download_and_prepare(download_config=tfds.download.DownloadConfig(
        beam_runner=beam.runners.DirectRunner()))
    plain = Builder(config="thumos_tiny", data_dir=str(tmp_path / "plain"))
    plain.download_and_prepare()
    for split in ("train", "holdout", "test"):
        assert (with_beam.info.splits[split].num_examples
                == plain.info.splits[split].num_examples > 0)
        a = {e["video_id"]: e for e in tfds.as_numpy(with_beam.as_dataset(split=split))}
        b = {e["video_id"]: e for e in tfds.as_numpy(plain.as_dataset(split=split))}
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k]["features"], b[k]["features"])
            np.testing.assert_array_equal(a[k]["segments"]["segment"],
                                          b[k]["segments"]["segment"])
