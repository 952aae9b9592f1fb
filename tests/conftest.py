import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fashion_small():
    """The embedded default data, scaled to [0, 1]."""
    from pathlib import Path

    import tfvae

    data = np.load(Path(tfvae.__file__).parent / "data" / "fashion_mnist_small.npz")
    return {k: (data[k].astype("float32") / 255.0 if k.startswith("x_") else data[k])
            for k in ("x_train", "y_train", "x_test", "y_test")}


@pytest.fixture(scope="session")
def trained_weights(fashion_small):
    """`small_vae(seed=0).get_weights()` after 2 epochs of Adam(1e-3) on 1,024 images.

    Untrained, the decoder's logits and the KL are near 0, which hides errors
    that grow with them. Training once for the session saves a traced `fit`
    per test; tests copy the weights into a model of their own, so nothing
    they do reaches another test.
    """
    import keras

    from tests.helpers import small_vae

    keras.utils.set_random_seed(1234)  # as `_seed` does, whichever test comes first
    vae = small_vae(seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(fashion_small["x_train"][:1024], batch_size=64, epochs=2, verbose=0)
    return [np.array(w) for w in vae.get_weights()]


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
