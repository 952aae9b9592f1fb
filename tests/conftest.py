import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~20 s; still run in CI")


@pytest.fixture(scope="session")
def fashion_small():
    """The embedded default data, scaled to [0, 1]."""
    from pathlib import Path

    import tfvae

    data = np.load(Path(tfvae.__file__).parent / "data" / "fashion_mnist_small.npz")
    return {k: (data[k].astype("float32") / 255.0 if k.startswith("x_") else data[k])
            for k in ("x_train", "y_train", "x_test", "y_test")}


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
