"""One `.tflite` file with encode / decode / generate / score signatures (exporters.bundle).

The references are numpy computations from the Keras networks' raw outputs
and the noise passed in: sigmoid means, the Bernoulli log-probability
x·l − log(1 + e^l), the closed-form Gaussian KL, log q and log p(z) from the
normal log-density, and IWAE_k as a numpy log-mean-exp. TFLite conversions
take seconds, so those tests are `slow` and share one conversion per file.
"""

import json
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import exporters
import tfvae
from exporters import delegation, densities, signatures
from tests.helpers import run_cli, small_vae, to_numpy

HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


## numpy references


def np_bernoulli_log_prob(x, logits, data_rank=1):
    """Σ over the last `data_rank` axes of x·l − log(1 + e^l)."""
    return np.sum(x * logits - np.logaddexp(0.0, logits), axis=tuple(range(-data_rank, 0)))


def np_continuous_bernoulli_log_prob(x, logits, data_rank=1):
    """The Bernoulli term + log C(λ), C(λ) = 2 atanh(1 − 2λ) / (1 − 2λ), λ = σ(l)."""
    lam = 1.0 / (1.0 + np.exp(-logits))
    log_c = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    return np_bernoulli_log_prob(x, logits, data_rank) + np.sum(
        log_c, axis=tuple(range(-data_rank, 0)))


def np_gaussian_log_prob(x, loc, scale, data_rank=1):
    log_density = -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - HALF_LOG_2PI
    return np.sum(log_density, axis=tuple(range(-data_rank, 0)))


def np_log_likelihood(model, x, params):
    """log p(x|z) from the decoder's outputs, per the model's likelihood."""
    rank, name = len(model.data_shape), type(model.likelihood).__name__
    if name == "Gaussian":
        scale = to_numpy(model.likelihood.current_scale()).astype("float64")
        return np_gaussian_log_prob(x, params, scale, rank)
    if name == "ContinuousBernoulli":
        return np_continuous_bernoulli_log_prob(x, params, rank)
    return np_bernoulli_log_prob(x, params, rank)


def np_score(model, x, eps):
    """(ELBO, IWAE) per example from the Keras networks' outputs, in float64 numpy."""
    loc, scale = (to_numpy(t).astype("float64") for t in model.posterior_params(x))
    noise = eps[None] if eps.ndim == 2 else eps
    z = loc[None] + scale[None] * noise                                   # [k, B, d]
    params = np.stack([to_numpy(model.decoder(z_k.astype("float32"))) for z_k in z])
    log_px_z = np_log_likelihood(model, x[None].astype("float64"), params.astype("float64"))
    kl = 0.5 * np.sum(loc ** 2 + scale ** 2 - 1.0 - 2.0 * np.log(scale), axis=-1)
    log_w = (log_px_z + np.sum(-0.5 * z ** 2 - HALF_LOG_2PI, axis=-1)
             - np.sum(-0.5 * noise ** 2 - np.log(scale) - HALF_LOG_2PI, axis=-1))
    top = log_w.max(axis=0)
    iwae = top + np.log(np.mean(np.exp(log_w - top), axis=0))
    return log_px_z.mean(axis=0) - kl, iwae


def sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits.astype("float64")))


def binary_images(fashion_small, n, seed=0):
    x = fashion_small["x_test"][:n]
    return (np.random.default_rng(seed).uniform(size=x.shape) < x).astype("float32")


## The score graph, eagerly, against numpy (no conversion)


@pytest.mark.parametrize("num_samples", [1, 4])
def test_score_graph_matches_numpy(trained_weights, fashion_small, num_samples):
    model = small_vae(seed=0)
    model.set_weights(trained_weights)
    x = binary_images(fashion_small, 6)
    shape = (6, 2) if num_samples == 1 else (num_samples, 6, 2)
    eps = np.random.default_rng(1).standard_normal(shape).astype("float32")
    got = signatures.score(model, tf.constant(x), tf.constant(eps), num_samples)
    elbo, iwae = np_score(model, x, eps)
    assert np.allclose(got["elbo"], elbo, rtol=1e-5, atol=1e-3)
    assert set(got) == ({"elbo"} if num_samples == 1 else {"elbo", "iwae"})
    if num_samples > 1:
        assert np.allclose(got["iwae"], iwae, rtol=1e-5, atol=1e-3)
        assert np.all(got["iwae"] >= got["elbo"] - 1e-3)   # IWAE_k ≥ its ELBO on average


def test_densities_match_numpy_and_stay_finite_for_large_logits():
    logits = np.array([[-100.0, -20.0, 1e-4, 0.3, 20.0, 100.0]], "float32")
    x = np.array([[0.0, 1.0, 1.0, 0.0, 0.0, 0.0]], "float32")
    bernoulli = small_vae(input_shape=(6,))
    got = to_numpy(densities.log_likelihood(bernoulli, tf.constant(logits), tf.constant(x)))
    assert np.isfinite(got).all()            # TFLite's softplus gives inf for l > 88
    assert got == pytest.approx(np_bernoulli_log_prob(x, logits.astype("float64")), rel=1e-6)
    # Continuous Bernoulli, away from saturation for the float64 reference, and at l = 0.
    cb = small_vae(input_shape=(6,), likelihood="continuous_bernoulli")
    grey = np.array([[0.1, 0.9, 0.5, 0.3, 0.7, 0.2]], "float32")
    logits = np.array([[-20.0, -1e-5, 1e-4, 0.3, 20.0, 0.0]], "float32")
    got = to_numpy(densities.log_likelihood(cb, tf.constant(logits), tf.constant(grey)))
    want = np_continuous_bernoulli_log_prob(grey[:, :5], logits[:, :5].astype("float64"))
    want += np.log(0.5) + np.log(2.0)                 # l = 0: λ = ½ and C = 2
    assert got == pytest.approx(want, rel=1e-6)
    gaussian = small_vae(input_shape=(6,), likelihood=tfvae.likelihoods.Gaussian(scale=0.3))
    loc = np.array([[-1.0, -0.2, 0.0, 0.003, 0.2, 1.0]])
    got = to_numpy(densities.log_likelihood(gaussian, tf.constant(loc, "float32"),
                                            tf.constant(x)))
    want = np.sum(-0.5 * ((x - loc) / 0.3) ** 2 - np.log(0.3) - HALF_LOG_2PI)
    assert got == pytest.approx(want, rel=1e-5)


## Bad input: ValueErrors before anything is traced or written


@pytest.mark.parametrize("kwargs,match", [
    ({"signatures": ("encode", "frobnicate")}, r"Unrecognized signatures=.*'frobnicate'"),
    ({"signatures": ("score", "score")}, r"Unrecognized signatures=.*each at most once"),
    ({"signatures": ()}, r"Unrecognized signatures=\(\)"),
    ({"signatures": ("decode",), "batch_size": 0},
     r"invalid value for `batch_size`.*Received: batch_size=0"),
    ({"signatures": ("decode",), "num_samples": 4},
     r"`num_samples`, expected 1.*not exported"),
    ({"signatures": ("score",), "num_samples": 0}, r"`num_samples`.*num_samples=0"),
    ({"signatures": ("decode",), "part": "encoder"}, r"either `part`.*or `signatures`"),
    ({"batch_size": 1}, r"`batch_size` and `num_samples` apply to a multi-signature"),
    ({"signatures": ("score",), "quantize": "int8"}, r"\['score'\] needs calibration_data"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        exporters.export_tflite(small_vae(), tmp_path / "m.tflite", **kwargs)
    with pytest.raises(ValueError, match=r"`signatures` applies to format='tflite'"):
        exporters.export(small_vae(), tmp_path / "sm", signatures=("decode",))
    assert list(tmp_path.iterdir()) == []


def test_score_and_generate_refuse_what_builtin_ops_cannot_compute(tmp_path):
    def poisson(params):
        return tfp.distributions.Poisson(log_rate=params)

    custom = small_vae(likelihood=poisson)
    with pytest.raises(ValueError, match=r"'score'.*likelihood is Callable"):
        exporters.export_tflite(custom, tmp_path / "m.tflite", signatures=("score",))
    exporters.signatures.check(custom, ("encode", "decode", "generate"))   # the rest is fine
    mixture = small_vae(prior="mixture_of_gaussians")
    with pytest.raises(ValueError, match=r"'score'.*prior is MixtureOfGaussians"):
        exporters.export_tflite(mixture, tmp_path / "m.tflite", signatures=("score",))
    with pytest.raises(ValueError, match=r"'generate'.*prior is MixtureOfGaussians"):
        exporters.export_tflite(mixture, tmp_path / "m.tflite", signatures=exporters.SIGNATURES)
    conditional = small_vae(num_classes=3)
    with pytest.raises(ValueError, match=r"conditional \(.*part='decoder'"):
        exporters.export_tflite(conditional, tmp_path / "m.tflite", signatures=("decode",))
    flow = small_vae(posterior="iaf")
    for name in ("encode", "score"):
        with pytest.raises(ValueError, match=rf"'{name}'.*posterior is IAF"):
            exporters.export_tflite(flow, tmp_path / "m.tflite", signatures=(name,))
    assert list(tmp_path.iterdir()) == []


## Ops and XNNPACK on small hand-made files, where the answer is known by construction


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """Two files: signatures "plain" (RELU) and "split" (RELU, MUL, CUMSUM, ADD, TANH);
    and one with a Flex op (Cumprod) beside a builtin signature."""
    spec = [tf.TensorSpec([2, 4], tf.float32, name="x")]

    class Module(tf.Module):
        @tf.function(input_signature=spec)
        def plain(self, x):
            return {"y": tf.nn.relu(x)}

        @tf.function(input_signature=spec)
        def split(self, x):
            return {"y": tf.tanh(tf.math.cumsum(tf.nn.relu(x) * 2.0, axis=-1) + 1.0)}

        @tf.function(input_signature=spec)
        def flex(self, x):
            return {"y": tf.math.cumprod(x, axis=-1)}

    module, paths = Module(), {}
    for name, fns, ops in (("builtin", ("plain", "split"), [tf.lite.OpsSet.TFLITE_BUILTINS]),
                           ("flex", ("plain", "flex"), [tf.lite.OpsSet.TFLITE_BUILTINS,
                                                        tf.lite.OpsSet.SELECT_TF_OPS])):
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [getattr(module, fn).get_concrete_function() for fn in fns], module)
        converter.target_spec.supported_ops = ops
        paths[name] = tmp_path_factory.mktemp(name) / f"{name}.tflite"
        paths[name].write_bytes(converter.convert())
    return paths


@pytest.mark.slow
def test_signature_ops_and_the_builtin_check(handmade):
    ops = delegation.signature_ops(handmade["flex"])
    assert ops == {"plain": ["RELU"], "flex": ["FlexCumprod"]}
    assert delegation.non_builtin(ops) == ["FlexCumprod"]
    ops = delegation.signature_ops(handmade["builtin"])
    assert ops["split"] == ["RELU", "MUL", "CUMSUM", "ADD", "TANH"]
    assert delegation.non_builtin(ops) == []


@pytest.mark.slow
def test_xnnpack_report_finds_the_op_it_leaves_to_the_cpu(handmade):
    # XNNPACK has no CUMSUM: the second signature splits into two partitions around it.
    # It is not the file's primary subgraph, so this also checks the re-packing.
    report = delegation.xnnpack(handmade["builtin"])
    assert report["plain"] == {"delegated": ["RELU"], "cpu": [], "partitions": 1,
                               "fully_delegated": True}
    assert report["split"] == {"delegated": ["RELU", "MUL", "ADD", "TANH"], "cpu": ["CUMSUM"],
                               "partitions": 2, "fully_delegated": False}
    latency = delegation.latency_us(handmade["builtin"], calls=3, warmup=1)
    assert set(latency) == {"plain", "split"}
    assert all(v > 0 for modes in latency.values() for v in modes.values())


## The multi-signature file: conv, static batch, every signature against numpy


@pytest.fixture(scope="module")
def conv_model(fashion_small):
    import keras

    keras.utils.set_random_seed(3)
    model = small_vae(architecture="conv", filters=(8, 16), hidden_units=(32,), latent_dim=3,
                      seed=0)
    model.fit(fashion_small["x_train"][:512], epochs=1, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def conv_file(conv_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "vae.tflite"
    info = exporters.export_tflite(conv_model, path, signatures=exporters.SIGNATURES,
                                   batch_size=2, num_samples=3)
    return path, info


def _runner(path, name):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path)).get_signature_runner(name)


@pytest.mark.slow
def test_every_signature_matches_numpy(conv_model, conv_file, fashion_small):
    path, _ = conv_file
    rng = np.random.default_rng(7)
    x = binary_images(fashion_small, 2, seed=7)
    eps = rng.standard_normal((2, 3)).astype("float32")
    loc, scale = (to_numpy(t) for t in conv_model.posterior_params(x))
    got = _runner(path, "encode")(x=x, eps=eps)
    assert np.allclose(got["loc"], loc, atol=1e-5) and np.allclose(got["scale"], scale, atol=1e-5)
    assert np.allclose(got["z"], loc + scale * eps, atol=1e-5)
    for name, key in (("decode", "z"), ("generate", "eps")):
        mean = _runner(path, name)(**{key: eps})["mean"]
        assert np.allclose(mean, sigmoid(to_numpy(conv_model.decoder(eps))), atol=1e-5)
    eps_k = rng.standard_normal((3, 2, 3)).astype("float32")
    got = _runner(path, "score")(x=x, eps=eps_k)
    elbo, iwae = np_score(conv_model, x, eps_k)
    assert np.abs(got["elbo"] - elbo).max() <= 1e-5 * np.abs(elbo).max()
    assert np.abs(got["iwae"] - iwae).max() <= 1e-5 * np.abs(iwae).max()


@pytest.mark.slow
def test_static_batch_file_is_all_builtin_and_all_xnnpack(conv_file):
    path, info = conv_file
    for name in exporters.SIGNATURES:
        details = _runner(path, name).get_input_details()
        for spec in details.values():
            assert -1 not in spec["shape_signature"].tolist()
    score_eps = _runner(path, "score").get_input_details()["eps"]
    assert score_eps["shape_signature"].tolist() == [3, 2, 3]
    assert info["inputs"]["score"]["eps"]["shape"] == [3, 2, 3]
    assert info["non_builtin_ops"] == [] and "TRANSPOSE_CONV" in info["tflite_ops"]
    for name in exporters.SIGNATURES:
        assert info["delegation"][name]["xnnpack"]["fully_delegated"], info["delegation"][name]
        assert info["parity"][name]["passed"] and info["parity"][name]["batch_sizes"] == [2]
    written = json.loads(path.with_name("vae.metadata.json").read_text())
    assert written == json.loads(json.dumps(info))


@pytest.mark.slow
@pytest.mark.parametrize("likelihood", ["continuous_bernoulli", "gaussian_learned"])
def test_score_of_other_likelihoods_on_litert(likelihood, fashion_small, tmp_path):
    model = small_vae(likelihood=likelihood, latent_dim=3, seed=0)
    model.fit(fashion_small["x_train"][:256], epochs=1, batch_size=64, verbose=0)
    info = exporters.export_tflite(model, tmp_path / "s.tflite", signatures=("score",),
                                   batch_size=2, num_samples=2)
    assert info["delegation"]["score"]["xnnpack"]["cpu"] == []     # select-free densities
    x = fashion_small["x_test"][:2]
    eps = np.random.default_rng(0).standard_normal((2, 2, 3)).astype("float32")
    got = _runner(tmp_path / "s.tflite", "score")(x=x, eps=eps)
    elbo, iwae = np_score(model, x, eps)
    assert np.abs(got["elbo"] - elbo).max() <= 1e-5 * np.abs(elbo).max()
    assert np.abs(got["iwae"] - iwae).max() <= 1e-5 * np.abs(iwae).max()


@pytest.mark.slow
def test_int8_file_is_verified_and_at_most_30_percent_of_float32(fashion_small, tmp_path):
    model = tfvae.VAE((28, 28), 4, seed=0)          # default mlp (512, 256)
    model.fit(fashion_small["x_train"][:512], epochs=1, batch_size=128, verbose=0)
    f32 = exporters.export_tflite(model, tmp_path / "f32.tflite", signatures=exporters.SIGNATURES,
                                  batch_size=1, verify=False)
    int8 = exporters.export_tflite(model, tmp_path / "int8.tflite", quantize="int8",
                                   signatures=exporters.SIGNATURES, batch_size=1,
                                   calibration_data=fashion_small["x_train"][:200])
    assert int8["passed"] and int8["parity"]["score"]["tolerance"] == {"max": 0.05, "mean": 0.02}
    assert int8["size_bytes"] <= 0.30 * f32["size_bytes"]
    # Measured: XNNPACK leaves the int8 EXP and LOG (softplus) to the CPU kernels; decode
    # and generate have none and stay whole.
    for name in ("decode", "generate"):
        assert int8["delegation"][name]["xnnpack"]["fully_delegated"]
    assert {"EXP", "LOG"} <= set(int8["delegation"]["score"]["xnnpack"]["cpu"])


## Dynamic batch


@pytest.mark.slow
def test_dynamic_batch_runs_at_any_batch_size_and_shows_what_xnnpack_leaves(
        trained_weights, fashion_small, tmp_path):
    model = small_vae(seed=0)
    model.set_weights(trained_weights)
    info = exporters.export_tflite(model, tmp_path / "d.tflite", signatures=("decode", "score"))
    runner = _runner(tmp_path / "d.tflite", "score")
    assert runner.get_input_details()["x"]["shape_signature"].tolist() == [-1, 28, 28]
    for batch in (1, 5):
        x = binary_images(fashion_small, batch, seed=batch)
        eps = np.random.default_rng(batch).standard_normal((batch, 2)).astype("float32")
        elbo, _ = np_score(model, x, eps)
        got = runner(x=x, eps=eps)["elbo"]
        assert got.shape == (batch,) and np.allclose(got, elbo, rtol=1e-5)
    # The dynamic batch axis costs SHAPE / PACK ops (and the RESHAPE fed by them).
    cpu = info["delegation"]["decode"]["xnnpack"]["cpu"]
    assert {"SHAPE", "PACK"} <= set(cpu)
    assert info["parity"]["score"]["batch_sizes"] == [1, 8]


@pytest.mark.slow
def test_a_failed_signature_check_leaves_nothing(trained_weights, tmp_path, monkeypatch):
    from exporters import signature_parity

    model = small_vae(seed=0)
    model.set_weights(trained_weights)
    reference = signature_parity.keras_outputs

    def off_by_a_little(model, name, inputs, num_samples=1):
        outputs = reference(model, name, inputs, num_samples)
        return {k: v + 1e-3 if name == "generate" else v for k, v in outputs.items()}

    monkeypatch.setattr(signature_parity, "keras_outputs", off_by_a_little)
    with pytest.raises(exporters.parity.ParityError,
                       match=r"Signature 'generate' .*max abs error 0.001 > 1e-05.*Nothing was"):
        exporters.export_tflite(model, tmp_path / "m.tflite", signatures=("decode", "generate"))
    assert list(tmp_path.iterdir()) == []


## Command line


_cli = run_cli


@pytest.mark.parametrize("flags,match", [
    (["--format", "tflite", "--signatures", "encode,frob"],
     r"--signatures: expected distinct names from encode,decode,generate,score"),
    (["--format", "savedmodel", "--signatures", "score"], r"--signatures needs --format tflite"),
    (["--format", "tflite", "--batch-size", "1"], r"--batch-size applies with --signatures"),
    (["--format", "tflite", "--signatures", "decode", "--batch-size", "0"],
     r"invalid value for `batch_size`"),
    (["--format", "tflite", "--signatures", "decode", "--part", "encoder"],
     r"either --part or --signatures"),
])
def test_cli_refuses_bad_signature_flags(tmp_path, capsys, flags, match):
    code, _, err = _cli(["export", "--model", str(tmp_path / "m.keras"), *flags,
                         "--out", str(tmp_path / "m.tflite")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("tfvae: error: ") and re.search(match, err), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_exports_named_signatures_with_a_static_batch(trained_weights, tmp_path, capsys):
    model = small_vae(seed=0)
    model.set_weights(trained_weights)
    model.save(tmp_path / "model.keras")
    out_path = tmp_path / "vae.tflite"
    code, out, err = _cli(["export", "--model", str(tmp_path / "model.keras"), "--format",
                           "tflite", "--signatures", "encode,decode,score", "--batch-size", "1",
                           "--num-samples", "2", "--out", str(out_path)], capsys)
    assert code == 0, err
    info = json.loads((tmp_path / "vae.metadata.json").read_text())
    assert info["signatures"] == ["encode", "decode", "score"]
    assert info["batch_size"] == 1 and info["num_samples"] == 2
    assert info["inputs"]["score"]["eps"]["shape"] == [2, 1, 2]
    assert f"size_bytes {out_path.stat().st_size}" in out
    assert "signatures=encode,decode,score, batch_size=1, num_samples=2" in out
    for name in ("encode", "decode", "score"):
        assert re.search(rf"^  {name}: max_abs_error \S+ .*XNNPACK \d+/\d+ ops",
                                       out, re.M), out
