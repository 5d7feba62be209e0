"""Datasets: a 200-video thumos-profile set at D = 2048 built through TFDS, read back."""

from __future__ import annotations

import tempfile
import time

from benchmarks.common import Row


def run(quick: bool = False) -> list[Row]:
    import tensorflow_datasets as tfds

    from wtal_datasets.wtal_synthetic import wtal_synthetic_dataset_builder as wsb
    from wtal_tf.data import synthetic

    n = 40 if quick else 200
    spec = synthetic.SyntheticSpec(num_train=n * 3 // 4, num_test=n // 4, feature_dim=2048)
    config = wsb._config(f"bench_{n}", spec, "benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        builder = wsb.Builder(config=config, data_dir=tmp)
        start = time.perf_counter()
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            verify_ssl=False))
        build = time.perf_counter() - start
        ds = builder.as_dataset(split="train+holdout+test")
        start = time.perf_counter()
        videos = snippets = 0
        for ex in ds.prefetch(8):
            videos += 1
            snippets += int(ex["features"].shape[0])
        read = time.perf_counter() - start
    return [
        Row("data", f"TFDS build, {n} videos, D=2048", build, "s"),
        Row("data", "TFDS read throughput", videos / read, "videos/s"),
        Row("data", "TFDS read throughput (snippets)", snippets / read, "snippets/s"),
    ]
