"""Built-in encoders (x -> features) and decoders (z -> likelihood params).

Both are plain `keras.Sequential` models with an `Input`, so they are built at
construction and serialise with Keras' own machinery. Given `condition_dim`
(a conditional VAE), they are functional `keras.Model`s with a second input,
the float condition y (one-hot for classes): `encoder([x, y])`,
`decoder([z, y])`.

Where y enters: the encoder concatenates it with the features after they are
flattened, just before its dense layer; the decoder concatenates it with z
and again before each of its later dense layers. For the conv networks this is
chosen over broadcasting y over the image as extra channels: y is a property
of the whole image, not of a pixel, so repeating it at every position adds
nothing a dense layer cannot see at once, while k extra input channels would
multiply the first convolution's cost by k + 1 (11× for 10 classes) and give
the label to the encoder only through 3×3 windows. Concatenated, it costs
k × width weights per dense layer. The decoder takes y at every dense layer
because z can carry the class too (the encoder sees x), and samples z ~ p(z)
then fight the label: given y at its first layer only, a conv decoder drew the
class asked for in 43% of its samples after 2 minutes of training, against 48%
with y at every dense layer (benchmarks/RESULTS.md, Conditional VAE).
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
                  dtype=None, condition_dim=None):
    """Returns the built-in encoder x -> features.

    Args:
        architecture: "mlp" or "conv".
        input_shape: tuple, shape of one example.
        hidden_units: tuple of ints, MLP widths (conv uses the last as its dense width).
        filters: tuple of ints, conv channels per stride-2 layer.
        dtype: None (the global policy) or a Keras dtype policy for every layer.
        condition_dim: None, or the width k of a condition y: the encoder then
            takes [x, y] and concatenates y with the flattened features.

    Returns:
        A `keras.Sequential`, or a two-input functional `keras.Model`.
    """
    trunk, head = _encoder_layers(architecture, input_shape, hidden_units, filters, dtype)
    if condition_dim is None:
        return keras.Sequential([keras.Input(tuple(input_shape))] + trunk + head,
                                name="encoder")
    return _conditional(trunk, head, keras.Input(tuple(input_shape), name="x"),
                        condition_dim, dtype, name="encoder")


def _encoder_layers(architecture, input_shape, hidden_units, filters, dtype):
    """(layers up to the flattened features, the dense layers after them)."""
    if architecture == "mlp":
        return ([keras.layers.Flatten(dtype=dtype)],
                [keras.layers.Dense(u, activation="relu", dtype=dtype) for u in hidden_units])
    if architecture == "conv":
        h, w, c = _image_shape(input_shape, len(filters))
        trunk = [keras.layers.Reshape((h, w, c), dtype=dtype)] if len(input_shape) == 2 else []
        trunk += [keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu",
                                      dtype=dtype)
                  for f in filters]
        trunk.append(keras.layers.Flatten(dtype=dtype))
        return trunk, [keras.layers.Dense(hidden_units[-1], activation="relu", dtype=dtype)]
    raise ValueError(
        f"Unrecognized architecture={architecture!r}. Supported "
        f"architectures are: {list(ARCHITECTURES)}."
    )


def _conditional(trunk, head, data_input, condition_dim, dtype, name, every_dense=False):
    """A functional model [data, y] -> head(concat(trunk(data), y)).

    With `every_dense`, y is concatenated again before each later Dense of the head.
    """
    condition = keras.Input((condition_dim,), name="y")
    hidden = data_input
    for layer in trunk:
        hidden = layer(hidden)
    hidden = keras.layers.Concatenate(dtype=dtype)([hidden, condition])
    for i, layer in enumerate(head):
        if every_dense and i and isinstance(layer, keras.layers.Dense):
            hidden = keras.layers.Concatenate(dtype=dtype)([hidden, condition])
        hidden = layer(hidden)
    return keras.Model([data_input, condition], hidden, name=name)


def build_decoder(architecture, latent_dim, output_shape, num_params=1,
                  hidden_units=(512, 256), filters=(32, 64), dtype=None, condition_dim=None):
    """Returns the built-in decoder z -> likelihood params.

    Args:
        architecture: "mlp" or "conv".
        latent_dim: int.
        output_shape: tuple, shape of one example x.
        num_params: int, likelihood parameters per data dimension.
        hidden_units, filters: as for `build_encoder`, mirrored.
        dtype: None (the global policy) or a Keras dtype policy for the
            hidden layers.
        condition_dim: None, or the width k of a condition y: the decoder then
            takes [z, y], y concatenated before each of its dense layers.

    Returns:
        A `keras.Sequential` (two-input functional `keras.Model` with
        `condition_dim`) whose output is `params_shape(output_shape, num_params)`,
        always float32: under a mixed-precision policy the hidden layers compute
        in bfloat16/float16 but the output layer computes in float32, so the
        likelihood parameters (e.g. logits) are not rounded to 8 or 11 bits.
        The Reshape after it is float32 too, or it would cast them back down.
    """
    out_shape = params_shape(output_shape, num_params)
    layers = []
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
    if condition_dim is None:
        return keras.Sequential([keras.Input((latent_dim,))] + layers, name="decoder")
    return _conditional([], layers, keras.Input((latent_dim,), name="z"), condition_dim,
                        dtype, name="decoder", every_dense=True)
