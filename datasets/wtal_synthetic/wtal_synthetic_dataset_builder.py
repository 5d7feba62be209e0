"""TFDS builder for the synthetic WTAL dataset (``wtal_tf.data.synthetic``)."""

from __future__ import annotations

import dataclasses

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


class Builder(tfds.core.GeneratorBasedBuilder):
    """Synthetic video features with the difficulties of THUMOS'14 / ActivityNet."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": f"Generator version {synthetic.SYNTHETIC_VERSION}."}
    BUILDER_CONFIGS = [
        _config("thumos", synthetic.DEFAULT_SPEC,
                "The default: THUMOS'14-like, D=256, 150 training / 100 test videos."),
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
        spec = self.builder_config.spec
        profile = spec.resolved_profile()
        protos = synthetic.class_prototypes(profile, spec.seed)
        classes = synthetic.class_names(profile)
        for subset, i in items:
            v = synthetic.generate_video(profile, protos, spec.seed, subset, i)
            yield v.annotation.video_id, common.make_example(v.annotation, v.features,
                                                             classes)
