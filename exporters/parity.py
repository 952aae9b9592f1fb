"""Parity between a Keras `tfvae.VAE` and an exported artifact.

One helper, used by the exporters (every export is verified before it is
published), by the tests and by the CLI: load the artifact the way a user would
(`tf.saved_model.load`, or `ai_edge_litert.interpreter.Interpreter`), feed it
the same seeded inputs as the Keras model at two batch sizes, and compare.

#### Tolerances
Errors are absolute differences over every output element. They are compared
with `bound × max(1, max |reference|)`: absolute for outputs within [−1, 1]
(Bernoulli means are probabilities), relative for larger ones (encoder locs,
Gaussian means). Default bounds per quantization mode (`TOLERANCES`):

| mode | max abs error | mean abs error | measured (mlp and conv, 3 epochs) |
|---|---|---|---|
| float32 | 1e-5 | – | ≤ 4e-7 |
| float16 | 5e-3 | – | ≤ 2.2e-4 |
| dynamic | 0.05 | 0.01 | max ≤ 0.012, mean ≤ 2.6e-3 |
| int8 | 0.15 | 0.03 | max ≤ 0.045, mean ≤ 0.013 |

Measured over decoders and encoders (mlp 64-32 and 512-256, conv 32-64,
trained 1-3 epochs on the embedded data). The quantized bounds are ~2-4× the
largest error seen, so a failure means a broken conversion rather than
ordinary quantization noise; the cost in nats is measured by
`benchmarks/export.py`.
"""

import numpy as np

from exporters import FORMATS, _common

TOLERANCES = {
    "float32": {"max": 1e-5},
    "float16": {"max": 5e-3},
    "dynamic": {"max": 0.05, "mean": 0.01},
    "int8": {"max": 0.15, "mean": 0.03},
}
BATCH_SIZES = (1, 8)


class ParityError(RuntimeError):
    """An exported artifact disagrees with the Keras model beyond the bound."""


def tolerance_for(quantization=None, tolerance=None):
    """The bounds {"max": float[, "mean": float]} for a mode, or `tolerance` itself.

    Args:
        quantization: one of `exporters.QUANTIZE_MODES` (None, "none" or
            "float32" for float32).
        tolerance: None (the mode's default), a float (bound on the max abs
            error), or a dict with "max" and optionally "mean".
    """
    if tolerance is None:
        mode = _common.check_quantize(quantization, name="quantization")
        return dict(TOLERANCES[mode or "float32"])
    if isinstance(tolerance, dict):
        return {k: float(v) for k, v in tolerance.items()}
    return {"max": float(tolerance)}


def load(path, format=None, signature=_common.SIGNATURE):
    """Loads an artifact; returns `run(**inputs) -> {name: np.ndarray}`.

    Args:
        path: str, a SavedModel directory or a `.tflite` file.
        format: "savedmodel", "tflite", or None to infer from `path`.
        signature: str, the signature key to run.
    """
    if format is None:
        format = "tflite" if str(path).endswith(".tflite") else "savedmodel"
    if format == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner(signature)
        return lambda **inputs: {k: np.asarray(v) for k, v in runner(**inputs).items()}
    if format == "savedmodel":
        import tensorflow as tf

        fn = tf.saved_model.load(str(path)).signatures[signature]
        return lambda **inputs: {k: v.numpy() for k, v in fn(
            **{name: tf.constant(value) for name, value in inputs.items()}).items()}
    raise ValueError(f"Unrecognized format={format!r}. Supported formats are: {list(FORMATS)}.")


def sample_inputs(model, part, batch_size, seed=0, in_graph_sampling=False, data=None):
    """Seeded inputs for the serving signature of `part`, as numpy arrays.

    Latents come from the model's prior (eps from N(0, I) for the generator);
    images are rows of `data` when given, else uniform noise in [0, 1]. A
    conditional model's labels are consecutive classes from a seeded start
    (a batch of 8 covers 8 classes), or condition vectors from N(0, I).
    """
    rng = np.random.default_rng(seed)
    labels = _common.seeded_labels(model, rng, batch_size)
    if part == "encoder":
        if data is not None:
            data = np.asarray(data, dtype="float32")
            return {"x": data[rng.integers(0, len(data), batch_size)], **labels}
        return {"x": rng.uniform(size=(batch_size,) + model.data_shape).astype("float32"),
                **labels}
    if part == "generator":
        if in_graph_sampling:
            return labels or {"num_samples": np.asarray(batch_size, dtype="int32")}
        return {"eps": rng.standard_normal((batch_size, model.latent_dim)).astype("float32"),
                **labels}
    from tfvae.layers import stateless_seed

    z = model.prior.distribution().sample(batch_size,
                                          seed=stateless_seed(int(rng.integers(2**31))))
    return {"z": np.asarray(z, dtype="float32"), **labels}


def keras_outputs(model, part, inputs, artifact_outputs=None):
    """What the Keras model computes for the same signature inputs.

    For the in-graph sampler the noise is drawn inside the artifact, so the
    reference decodes the latents the artifact returns.
    """
    from keras import ops

    labels = next((inputs[name] for name in _common.label_input(model)), None)
    if part == "encoder":
        loc, scale = model.posterior_params(inputs["x"], labels=labels)
        return {"loc": ops.convert_to_numpy(loc), "scale": ops.convert_to_numpy(scale)}
    if part == "generator" and "eps" not in inputs:   # sampled in the graph
        z = artifact_outputs["z"]
        return {"mean": ops.convert_to_numpy(model.decode_mean(z, labels=labels)), "z": z}
    z = inputs["eps"] if part == "generator" else inputs["z"]
    return {"mean": ops.convert_to_numpy(model.decode_mean(z, labels=labels))}


def compare(model, path, part="decoder", format=None, batch_sizes=BATCH_SIZES, seed=0,
            in_graph_sampling=False, data=None):
    """Runs the artifact and the Keras model on the same inputs.

    Args:
        model: the `tfvae.VAE` that was exported; a mixed-precision model is
            compared as its float32 twin, the model the exporters wrote
            (`exporters._common.float32_model`).
        path: str, the artifact.
        part: "decoder", "encoder" or "generator".
        format: "savedmodel", "tflite" or None (inferred).
        batch_sizes: tuple of ints, one comparison per batch size.
        seed: int, seeds the inputs.
        in_graph_sampling: bool, the generator samples its own noise.
        data: optional array of examples for the encoder's inputs.

    Returns:
        A dict: "max_abs_error", "mean_abs_error", "reference_scale" (max |reference|),
        "per_batch" {batch size: {"max_abs_error", "mean_abs_error"}}, "batch_sizes".

    Raises:
        ParityError: an output has the wrong shape.

    Example:
    ```python
    figures = exporters.parity.compare(model, "decoder.tflite")
    ```
    """
    model = _common.float32_model(model)
    run = load(path, format)
    results = []
    for i, batch_size in enumerate(batch_sizes):
        inputs = sample_inputs(model, part, batch_size, seed + i, in_graph_sampling, data)
        got = run(**inputs)
        results.append((batch_size, got, keras_outputs(model, part, inputs, got)))
    return measure(results)


def measure(results):
    """The error figures of [(batch size, artifact outputs, reference outputs), ...].

    Args:
        results: list of (int, {name: np.ndarray}, {name: np.ndarray}); the
            two dicts must have the same names and shapes.

    Returns:
        A dict: "max_abs_error", "mean_abs_error", "reference_scale" (max |reference|),
        "per_batch" {batch size: {"max_abs_error", "mean_abs_error"}}, "batch_sizes".

    Raises:
        ParityError: an output is missing or has the wrong shape.
    """
    per_batch, total, count, worst, scale = {}, 0.0, 0, 0.0, 0.0
    for batch_size, got, want in results:
        if set(got) != set(want):
            raise ParityError(f"The artifact returns outputs {sorted(got)}; expected "
                              f"{sorted(want)}.")
        batch_max, batch_sum, batch_count = 0.0, 0.0, 0
        for name, reference in want.items():
            if got[name].shape != reference.shape:
                raise ParityError(f"Output {name!r} has shape {got[name].shape} at batch "
                                  f"size {batch_size}; expected {reference.shape}.")
            error = np.abs(got[name].astype("float64") - reference.astype("float64"))
            batch_max = _worst(batch_max, float(np.max(error)))
            batch_sum += float(np.sum(error))
            batch_count += error.size
            scale = max(scale, float(np.max(np.abs(reference))))
        per_batch[batch_size] = {"max_abs_error": batch_max,
                                 "mean_abs_error": batch_sum / batch_count}
        worst = _worst(worst, batch_max)
        total, count = total + batch_sum, count + batch_count
    return {"max_abs_error": worst, "mean_abs_error": total / count,
            "reference_scale": scale, "batch_sizes": [b for b, _, _ in results],
            "per_batch": {str(b): v for b, v in per_batch.items()}}


def verify(model, path, part="decoder", format=None, quantization=None, tolerance=None,
           seed=0, in_graph_sampling=False, data=None):
    """`compare`, then checks the figures against the bounds.

    Args:
        quantization: the artifact's mode, which picks the default bounds.
        tolerance: None (see `TOLERANCES`), a float bound on the max abs error,
            or a dict {"max": ..., "mean": ...}.
        Others: as for `compare`.

    Returns:
        The `compare` figures plus "tolerance" and "passed" (True).

    Raises:
        ParityError: an error figure exceeds its bound; the message names it.

    Example:
    ```python
    exporters.parity.verify(model, "decoder_int8.tflite", quantization="int8")
    ```
    """
    figures = compare(model, path, part, format, seed=seed,
                      in_graph_sampling=in_graph_sampling, data=data)
    return check_bounds(figures, tolerance_for(quantization, tolerance),
                        f"The exported {part} ({path}, quantization={quantization or 'float32'})")


def check_bounds(figures, bounds, what):
    """Adds "tolerance" and "passed" to `measure`'s figures, or raises ParityError.

    Each error figure is compared with `bound × max(1, reference_scale)`.

    Args:
        figures: a dict from `measure`.
        bounds: {"max": float[, "mean": float]} from `tolerance_for`.
        what: str, names the artifact in the error message.
    """
    allowed = max(1.0, figures["reference_scale"])
    failures = [f"{kind} abs error {figures[f'{kind}_abs_error']:.3g} > {bound:g}"
                + (f" × {allowed:.3g}" if allowed > 1.0 else "")
                for kind, bound in bounds.items()
                if not figures[f"{kind}_abs_error"] <= bound * allowed]
    figures.update(tolerance=bounds, passed=not failures)
    if failures:
        raise ParityError(f"{what} disagrees with the Keras model: {'; '.join(failures)} "
                          f"(batch sizes {figures['batch_sizes']}).")
    return figures


def _worst(a, b):
    # A NaN output must fail the check, so NaN wins over any number.
    return float("nan") if np.isnan(a) or np.isnan(b) else max(a, b)
