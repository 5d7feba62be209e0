"""Typed experiment configs, one per (dataset, method), with their sources.

    from wtal_tf.configs import get_config
    cfg = get_config("synthetic_thumos_cas")      # or thumos14_autoloc, anet12_refineloc

A config name is ``<dataset>_<method>``; datasets: ``thumos14``, ``anet12``,
``synthetic_thumos``, ``synthetic_anet``; methods: ``cas``, ``autoloc``,
``refineloc``.  The number of classes and the feature size D always come from
the data, never from a config.
"""

from wtal_tf.configs.experiments import (  # noqa: F401
    AutoLocConfig, CasModelConfig, CasTrainConfig, ExperimentConfig, RefineConfig,
    SegmentPredictionConfig, config_from_dict, get_config, list_configs, list_datasets)
