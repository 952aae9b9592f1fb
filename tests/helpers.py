"""Shared test helpers."""

import keras
import numpy as np


def assert_config_round_trip(layer):
    """get_config -> from_config rebuilds an object with the same config."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(layer)
    return clone


def small_vae(**kwargs):
    import tfvae

    kwargs.setdefault("input_shape", (28, 28))
    kwargs.setdefault("latent_dim", 2)
    kwargs.setdefault("hidden_units", (64, 32))
    return tfvae.VAE(**kwargs)


def to_numpy(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def run_cli(argv, capsys):
    """Calls `tfvae.cli.main(argv)` in this process; returns (exit code, stdout, stderr)."""
    from tfvae import cli

    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
