"""tfvae: variational auto-encoders for TensorFlow / Keras 3."""

import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "tfvae" / "__init__.py").read_text()
).group(1)

setup(
    name="tfvae",
    version=VERSION,
    description="Variational auto-encoders for Keras 3 and TensorFlow Probability",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # `exporters` is a top-level package of its own (the design asks for it).
    # It is listed explicitly because another installed distribution could
    # also own that name; see README "Known limits".
    packages=["tfvae", "tfvae.cli", "exporters"],
    package_data={"tfvae": ["data/*.npz", "data/*.txt"]},
    install_requires=[
        "tensorflow==2.21.0",
        "keras==3.15.1",
        # tfp 0.25 imports tf_keras at import time: the [tf] extra pulls it in.
        "tensorflow-probability[tf]==0.25.0",
        "tf-keras==2.21.0",
        "numpy>=2,<3",
        # TensorFlow 2.21 no longer installs it; run folders keep TensorBoard logs.
        "tensorboard==2.21.0",
        "matplotlib>=3.8",
        "pyyaml>=6",
    ],
    extras_require={
        "litert": ["ai-edge-litert==2.3.0"],
        "test": ["pytest>=8", "ai-edge-litert==2.3.0"],
    },
    entry_points={"console_scripts": ["tfvae = tfvae.cli:main"]},
)
