"""TFDS builder for the synthetic WTAL dataset (``wtal_tf.data.synthetic``)."""

from __future__ import annotations

import dataclasses
import functools

import tensorflow_datasets as tfds

from wtal_datasets import common
from wtal_tf.data import splits, synthetic


@dataclasses.dataclass
class SyntheticConfig(common.WtalConfig):
    """A synthetic profile and its split sizes."""

    spec: synthetic.SyntheticSpec = synthetic.DEFAULT_SPEC


def _config(name, spec, description):
    profile = spec.resolved_profile()
    return SyntheticConfig(name=name, description=description, spec=spec,
                           feature_dim=spec.feature_dim, num_classes=profile.num_classes)


def _example(spec: synthetic.SyntheticSpec, item):
    """One ``(key, example)``; a module-level function so Beam can pickle it."""
    subset, i = item
    profile = spec.resolved_profile()
    protos = synthetic.class_prototypes(profile, spec.seed)
    v = synthetic.generate_video(profile, protos, spec.seed, subset, i)
    return v.annotation.video_id, common.make_example(v.annotation, v.features,
                                                      synthetic.class_names(profile))


class Builder(tfds.core.GeneratorBasedBuilder):
    """Synthetic video features with the difficulties of THUMOS'14 / ActivityNet.

    ``use_beam=True`` (``tfds.builder(..., use_beam=True)`` or
    ``builder_kwargs``) generates the splits with an Apache Beam pipeline (the
    ``beam`` extra): pass ``DownloadConfig(beam_runner=...)`` or
    ``beam_options`` to ``download_and_prepare``.
    """

    def __init__(self, *, use_beam: bool = False, **kwargs):
        self._use_beam = use_beam
        super().__init__(**kwargs)

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Generator version 1.0.0.",
        "1.1.0": "Generator version 1.1.0: config thumos_hard (the 'hard' rung of the "
                 "difficulty ladder); the other configs' features are unchanged.",
    }
    BUILDER_CONFIGS = [
        _config("thumos", synthetic.DEFAULT_SPEC,
                "The default: THUMOS'14-like, D=256, 150 training / 100 test videos."),
        _config("thumos_hard", synthetic.SyntheticSpec(rung="hard"),
                "The default's videos one rung harder (more noise, class-telling "
                "scenes, weaker class motion): wtal data synth --rung hard."),
        _config("anet", synthetic.SyntheticSpec(profile="anet"),
                "ActivityNet-1.2-like: 1-2 long instances, 100 classes, D=256."),
        _config("thumos_tiny", synthetic.SyntheticSpec(num_train=10, num_test=4,
                                                       feature_dim=16, min_snippets=20,
                                                       max_snippets=60),
                "A few short videos, for tests and quick demos."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        profile = self.builder_config.spec.resolved_profile()
        return self.dataset_info_from_configs(
            features=common.features_dict(self.builder_config),
            homepage="https://github.com/wtal-tf/wtal-tf",
            metadata=tfds.core.MetadataDict(classes=list(synthetic.class_names(profile)),
                                            version=self.builder_config.spec.version()),
        )

    def _split_generators(self, dl_manager):
        spec = self.builder_config.spec
        train = [("training", i) for i in range(spec.num_train)]
        return {
            "train": self._generate_examples(
                [x for x in train if not splits.is_holdout(synthetic.video_id(*x))]),
            "holdout": self._generate_examples(
                [x for x in train if splits.is_holdout(synthetic.video_id(*x))]),
            "test": self._generate_examples(
                [(spec.test_subset, i) for i in range(spec.num_test)]),
        }

    def _generate_examples(self, items):
        make = functools.partial(_example, self.builder_config.spec)
        if self._use_beam:
            beam = tfds.core.lazy_imports.apache_beam
            return beam.Create(list(items)) | beam.Map(make)
        return (make(item) for item in items)
