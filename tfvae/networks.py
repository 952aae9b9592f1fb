"""Built-in encoders (x -> features) and decoders (z -> likelihood params).

Both are plain `keras.Sequential` models with an `Input`, so they are built at
construction and serialise with Keras' own machinery.
"""

import math

import keras

ARCHITECTURES = ("mlp", "conv")


def params_shape(input_shape, num_params):
    """Shape of the decoder output for one example."""
    return tuple(input_shape) if num_params == 1 else tuple(input_shape) + (num_params,)


def _image_shape(input_shape, num_downsamples):
    if len(input_shape) not in (2, 3):
        raise ValueError(
            "architecture='conv' needs images of shape (height, width) or "
            f"(height, width, channels). Received: input_shape={tuple(input_shape)}. "
            "Use architecture='mlp' for vectors."
        )
    h, w = input_shape[:2]
    c = input_shape[2] if len(input_shape) == 3 else 1
    factor = 2 ** num_downsamples
    if h % factor or w % factor:
        raise ValueError(
            f"architecture='conv' halves the image {num_downsamples} times, so "
            f"height and width must be multiples of {factor}. "
            f"Received: input_shape={tuple(input_shape)}."
        )
    return h, w, c


def build_encoder(architecture, input_shape, hidden_units=(512, 256), filters=(32, 64),
                  dtype=None):
    """Returns the built-in encoder x -> features.

    Args:
        architecture: "mlp" or "conv".
        input_shape: tuple, shape of one example.
        hidden_units: tuple of ints, MLP widths (conv uses the last as its dense width).
        filters: tuple of ints, conv channels per stride-2 layer.
        dtype: None (the global policy) or a Keras dtype policy for every layer.

    Returns:
        A `keras.Sequential`.
    """
    layers = [keras.Input(tuple(input_shape))]
    if architecture == "mlp":
        layers.append(keras.layers.Flatten(dtype=dtype))
        layers += [keras.layers.Dense(u, activation="relu", dtype=dtype) for u in hidden_units]
    elif architecture == "conv":
        h, w, c = _image_shape(input_shape, len(filters))
        if len(input_shape) == 2:
            layers.append(keras.layers.Reshape((h, w, c), dtype=dtype))
        layers += [keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu",
                                       dtype=dtype)
                   for f in filters]
        layers += [keras.layers.Flatten(dtype=dtype),
                   keras.layers.Dense(hidden_units[-1], activation="relu", dtype=dtype)]
    else:
        raise ValueError(
            f"Unrecognized architecture={architecture!r}. Supported "
            f"architectures are: {list(ARCHITECTURES)}."
        )
    return keras.Sequential(layers, name="encoder")


def build_decoder(architecture, latent_dim, output_shape, num_params=1,
                  hidden_units=(512, 256), filters=(32, 64), dtype=None):
    """Returns the built-in decoder z -> likelihood params.

    Args:
        architecture: "mlp" or "conv".
        latent_dim: int.
        output_shape: tuple, shape of one example x.
        num_params: int, likelihood parameters per data dimension.
        hidden_units, filters: as for `build_encoder`, mirrored.
        dtype: None (the global policy) or a Keras dtype policy for the
            hidden layers.

    Returns:
        A `keras.Sequential` whose output is `params_shape(output_shape, num_params)`,
        always float32: under a mixed-precision policy the hidden layers compute
        in bfloat16/float16 but the output layer computes in float32, so the
        likelihood parameters (e.g. logits) are not rounded to 8 or 11 bits.
        The Reshape after it is float32 too, or it would cast them back down.
    """
    out_shape = params_shape(output_shape, num_params)
    layers = [keras.Input((latent_dim,))]
    if architecture == "mlp":
        layers += [keras.layers.Dense(u, activation="relu", dtype=dtype)
                   for u in reversed(hidden_units)]
        layers += [keras.layers.Dense(math.prod(out_shape), dtype="float32"),
                   keras.layers.Reshape(out_shape, dtype="float32")]
    elif architecture == "conv":
        h, w, c = _image_shape(output_shape, len(filters))
        factor = 2 ** len(filters)
        layers += [keras.layers.Dense(hidden_units[-1], activation="relu", dtype=dtype),
                   keras.layers.Dense((h // factor) * (w // factor) * filters[-1],
                                      activation="relu", dtype=dtype),
                   keras.layers.Reshape((h // factor, w // factor, filters[-1]), dtype=dtype)]
        layers += [keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same",
                                                activation="relu", dtype=dtype)
                   for f in reversed(filters)]
        layers += [keras.layers.Conv2DTranspose(c * num_params, 3, padding="same",
                                                dtype="float32"),
                   keras.layers.Reshape(out_shape, dtype="float32")]
    else:
        raise ValueError(
            f"Unrecognized architecture={architecture!r}. Supported "
            f"architectures are: {list(ARCHITECTURES)}."
        )
    return keras.Sequential(layers, name="decoder")
