"""Thin Keras layers over ``wtal_tf.ops``; each returns its init args from get_config."""

from wtal_tf.layers.localization import LocalizationNetwork  # noqa: F401
from wtal_tf.layers.mlp import SnippetMLP  # noqa: F401
from wtal_tf.layers.oic import OICLayer  # noqa: F401
