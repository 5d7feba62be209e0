"""wtal-tf: weakly-supervised temporal action localization in TensorFlow/Keras.

The package is layered so that data flows one way (see ARCHITECTURE.md):
``data`` (readers, interchange format, tf.data) -> ``models`` (CAS model,
AutoLoc, RefineLoc) -> detections -> ``evaluation``.  Importing the package
does not import TensorFlow; the modules that need it import it themselves.
"""

__version__ = "0.1.0"

from wtal_tf.errors import WtalError  # noqa: F401
