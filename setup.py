"""wtal-tf: weakly-supervised temporal action localization in TensorFlow/Keras.

The TFDS builders in ``datasets/`` install as the package ``wtal_datasets``
(a top-level ``datasets`` would shadow Hugging Face's package of that name),
and the export tooling in ``export/`` as ``wtal_export``.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "wtal_tf" / "__init__.py").read_text()).group(1)

TF_VERSION = "2.21.*"

packages = find_packages(include=["wtal_tf", "wtal_tf.*"])
packages += ["wtal_datasets"] + [
    "wtal_datasets." + p for p in find_packages(where="datasets")]
packages += ["wtal_export"] + ["wtal_export." + p for p in find_packages(where="export")]

setup(
    name="wtal-tf",
    version=VERSION,
    description="Weakly-supervised temporal action localization (AutoLoc, "
                "RefineLoc) with TensorFlow, Keras and TFDS",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=packages,
    package_dir={"wtal_datasets": "datasets", "wtal_export": "export"},
    package_data={
        "wtal_datasets": ["*/dummy_data/*", "*/dummy_data/**/*", "*/CITATIONS.bib",
                          "*/README.md", "*/checksums.tsv"],
    },
    include_package_data=True,
    install_requires=[
        f"tensorflow-cpu=={TF_VERSION}",
        "keras>=3.0",
        "tensorflow-datasets>=4.9.7",
        # TFDS imports importlib_resources without declaring it.
        "importlib_resources",
        "tensorboard",
        "numpy",
        "matplotlib",
        "tqdm",
    ],
    extras_require={
        # GPU users: install with --no-deps and add this extra's package instead
        # of tensorflow-cpu (README, "GPU").
        "gpu": [f"tensorflow[and-cuda]=={TF_VERSION}"],
        "beam": ["apache-beam>=2.60"],
        "test": ["pytest>=7", "hypothesis>=6", "dill"],
    },
    entry_points={"console_scripts": ["wtal=wtal_tf.cli.main:main"]},
)
