"""What the three builders share: the feature spec and example generation.

Every builder yields the same example structure::

    video_id: Text, features: [T, D] float32 (BYTES encoding),
    labels: [K] float32 multi-hot, duration: float32,
    seconds_per_snippet: float32,
    segments: Sequence({"segment": [2] float32 seconds, "label": ClassLabel})

Splits: ``train`` (training videos minus the holdout), ``holdout`` (20% of
the training videos by the hash rule of ``wtal_tf.data.splits``), ``test``.
The ordered class names are stored in the dataset's metadata
(``builder.info.metadata["classes"]``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from wtal_tf.data import splits
from wtal_tf.data.video import TEST_SUBSETS, TRAIN_SUBSETS, seconds_per_snippet


@dataclasses.dataclass
class WtalConfig(tfds.core.BuilderConfig):
    """A feature type: its dimension and where its files are."""

    feature_dim: int = 2048
    num_classes: int = 20
    feature_subdir: str | None = None


def features_dict(config: WtalConfig) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "video_id": tfds.features.Text(),
        # BYTES encoding: ~10x faster builds for [T, D] arrays than per-float
        "features": tfds.features.Tensor(shape=(None, config.feature_dim),
                                         dtype=np.float32,
                                         encoding=tfds.features.Encoding.BYTES),
        "labels": tfds.features.Tensor(shape=(config.num_classes,), dtype=np.float32),
        "duration": np.float32,
        "seconds_per_snippet": np.float32,
        "segments": tfds.features.Sequence({
            "segment": tfds.features.Tensor(shape=(2,), dtype=np.float32),
            "label": tfds.features.ClassLabel(num_classes=config.num_classes),
        }),
    })


def make_example(annotation, features: np.ndarray, classes) -> dict:
    index = {c: i for i, c in enumerate(classes)}
    t = int(features.shape[0])
    return {
        "video_id": annotation.video_id,
        "features": np.asarray(features, np.float32),
        "labels": annotation.multi_hot(classes),
        "duration": np.float32(annotation.duration if annotation.duration is not None
                               else seconds_per_snippet(annotation, t) * t),
        "seconds_per_snippet": np.float32(seconds_per_snippet(annotation, t)),
        "segments": [{"segment": np.array([s.start, s.end], np.float32),
                      "label": index[s.label]} for s in annotation.segments],
    }


def split_annotations(annotations):
    """train / holdout / test lists of annotations, by subset and hash rule."""
    train = annotations.subset(TRAIN_SUBSETS)
    return {
        "train": [a for a in train if not splits.is_holdout(a.video_id)],
        "holdout": [a for a in train if splits.is_holdout(a.video_id)],
        "test": annotations.subset(TEST_SUBSETS),
    }


def read_manual(manual_dir: Path, config: WtalConfig, *, csv_files=None,
                classlist=None, subset_map=None):
    """Annotations and features from a manual directory.

    Accepted layouts (first found wins):
      1. an interchange root: ``annotations.json`` (+ ``features/``);
      2. the RefineLoc CSVs named in ``csv_files`` ({file: subset}) with an
         optional ``classlist.txt``.
    Features: ``features/<config.name>/`` if present, else ``features/``; in it
    ``<vid>.npy``, or ``rgb/`` + ``flow/``.
    """
    from wtal_tf.data import readers
    from wtal_tf.data.video import AnnotationSet
    from wtal_tf.errors import WtalError

    manual_dir = Path(manual_dir)
    if (manual_dir / "annotations.json").exists():
        ann = readers.read_activitynet_json(manual_dir / "annotations.json",
                                            subset_map=subset_map)
    elif csv_files and all((manual_dir / f).exists() for f in csv_files):
        classes = (readers.read_classlist(manual_dir / classlist)
                   if classlist and (manual_dir / classlist).exists() else None)
        videos = {}
        for name, subset in csv_files.items():
            part = readers.read_refineloc_csv(manual_dir / name, subset=subset,
                                              classes=classes, subset_map=subset_map)
            videos.update(part.videos)
            classes = classes or part.classes
        from wtal_tf.data.video import classes_from_labels
        ann = AnnotationSet(classes or classes_from_labels(videos), videos)
    else:
        raise WtalError("manual directory holds neither annotations.json nor the "
                        f"expected CSVs {sorted(csv_files or [])}", path=manual_dir)
    if len(ann.classes) != config.num_classes:
        raise WtalError(f"{len(ann.classes)} classes in the annotations, expected "
                        f"{config.num_classes} (give the full ordered 'classes' list)",
                        path=manual_dir)
    feat_root = manual_dir / "features" / (config.feature_subdir or config.name)
    if not feat_root.is_dir():
        feat_root = manual_dir / "features"
    store = readers.open_features(feat_root)
    return ann, store


def _example_from_store(store, classes, annotation):
    return annotation.video_id, make_example(annotation, store.load(annotation.video_id),
                                             classes)


def generate(items, store, classes, *, use_beam: bool = False):
    """Examples of a split: a generator, or a Beam ``PTransform`` (one video per element,
    read by the workers) for feature dumps that do not fit one machine."""
    import functools

    make = functools.partial(_example_from_store, store, tuple(classes))
    if use_beam:
        beam = tfds.core.lazy_imports.apache_beam
        return beam.Create(list(items)) | beam.Map(make)
    return (make(a) for a in items)


class ManualBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """What ``thumos14`` and ``activitynet12`` share: manual data, the same
    features, splits and (optionally) an Apache Beam build.

    Subclasses set ``MANUAL_DOWNLOAD_INSTRUCTIONS``, ``BUILDER_CONFIGS``,
    ``HOMEPAGE``, ``CSV_FILES`` ({file: subset}), and optionally ``CLASSLIST``
    and ``SUBSET_MAP``.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    HOMEPAGE = ""
    CSV_FILES: dict = {}
    CLASSLIST: str | None = None
    SUBSET_MAP: dict | None = None

    def __init__(self, *, use_beam: bool = False, **kwargs):
        self._use_beam = use_beam  # large feature dumps: build with Apache Beam
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=features_dict(self.builder_config), homepage=self.HOMEPAGE,
            metadata=tfds.core.MetadataDict())

    def _split_generators(self, dl_manager):
        ann, store = read_manual(dl_manager.manual_dir, self.builder_config,
                                 csv_files=self.CSV_FILES, classlist=self.CLASSLIST,
                                 subset_map=self.SUBSET_MAP)
        self.info.metadata["classes"] = list(ann.classes)
        return {name: self._generate_examples(items, store, ann.classes)
                for name, items in split_annotations(ann).items()}

    def _generate_examples(self, items, store, classes):
        return generate(items, store, classes, use_beam=self._use_beam)
