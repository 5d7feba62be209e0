"""TFDS builders for WTAL datasets, installed as ``wtal_datasets``.

Importing this package registers ``thumos14``, ``activitynet12`` and
``wtal_synthetic`` with TFDS, so that ``tfds.load("wtal_synthetic/thumos")``
works.
"""

from wtal_datasets import activitynet12, thumos14, wtal_synthetic  # noqa: F401
