"""exporters: SavedModel / TFLite exports, parity, atomic publishing, metadata.

Exported outputs are checked through the one parity helper (`exporters.parity`);
the helper itself is checked once against a numpy computation of the error.
TFLite conversions take seconds each, so those tests are marked `slow`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import exporters
import tfvae
from exporters import parity, pipeline
from tests.helpers import small_vae, to_numpy
from tfvae import atomic

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tflite_decoder.py"


@pytest.fixture(scope="module")
def model(fashion_small):
    vae = small_vae(latent_dim=4, seed=0)
    vae.fit(fashion_small["x_train"][:1000], epochs=1, batch_size=100, verbose=0)
    return vae


def _snapshot(root):
    """{relative path: bytes (None for a directory)} of everything under `root`, hidden too."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def _spec(tensor_spec):
    return {"shape": tensor_spec.shape.as_list(), "dtype": tensor_spec.dtype.name}


## The parity helper, against numpy


def test_parity_measures_the_difference_to_another_model(model, tmp_path):
    other = small_vae(latent_dim=4, seed=1)           # same architecture, other weights
    exporters.export_saved_model(other, tmp_path / "other")
    figures = parity.compare(model, str(tmp_path / "other"), seed=3)
    # Reference: the two Keras decoders on the same latents, in numpy.
    errors = [np.abs(to_numpy(other.decode_mean(z)).astype("float64")
                     - to_numpy(model.decode_mean(z)).astype("float64"))
              for z in (parity.sample_inputs(model, "decoder", b, seed=3 + i)["z"]
                        for i, b in enumerate((1, 8)))]
    assert figures["max_abs_error"] == pytest.approx(max(e.max() for e in errors), abs=1e-5)
    assert figures["mean_abs_error"] == pytest.approx(
        sum(e.sum() for e in errors) / sum(e.size for e in errors), abs=1e-5)
    assert figures["max_abs_error"] > 0.01
    with pytest.raises(parity.ParityError, match="max abs error"):
        parity.verify(model, str(tmp_path / "other"), seed=3)


## SavedModel


@pytest.mark.parametrize("part", ["decoder", "encoder", "generator"])
def test_saved_model_serving_signature_matches_keras(model, tmp_path, part):
    path = tmp_path / part
    info = exporters.export_saved_model(model, path, part=part)
    assert info["passed"] and info["max_abs_error"] <= 1e-5
    # Re-measured on other inputs than the exporter's own check.
    figures = parity.compare(model, str(path), part=part, seed=7)
    assert figures["max_abs_error"] <= 1e-5 and set(figures["per_batch"]) == {"1", "8"}
    # The metadata describes the signature TensorFlow reads back from the artifact.
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    written = json.loads((path / "metadata.json").read_text())
    assert written == json.loads(json.dumps(info))
    inputs, outputs = serve.structured_input_signature[1], serve.structured_outputs
    assert written["inputs"] == {name: _spec(spec) for name, spec in inputs.items()}
    assert written["outputs"] == {name: _spec(spec) for name, spec in outputs.items()}


def test_generator_needs_standard_normal_prior_for_explicit_noise(tmp_path):
    vae = small_vae(latent_dim=4, prior="mixture_of_gaussians")
    with pytest.raises(ValueError, match="MixtureOfGaussians"):
        exporters.export_saved_model(vae, tmp_path / "g", part="generator")
    # TFLite builtins cannot sample that prior in the graph either.
    with pytest.raises(ValueError,
                       match="standard-normal prior or the VampPrior.*MixtureOfGaussians"):
        exporters.export_tflite(vae, tmp_path / "g.tflite", part="generator",
                                in_graph_sampling=True)
    assert list(tmp_path.iterdir()) == []


## TFLite


@pytest.mark.slow
@pytest.mark.parametrize("quantize,bound", [(None, 1e-5), ("float16", 5e-3), ("int8", 0.15)])
def test_tflite_parity_and_builtin_ops(model, tmp_path, quantize, bound, fashion_small):
    path = tmp_path / f"decoder_{quantize}.tflite"
    info = exporters.export_tflite(model, path, quantize=quantize,
                                   calibration_data=fashion_small["x_test"][:100])
    # Re-measured independently of the exporter's own check.
    figures = parity.compare(model, str(path))
    assert figures["max_abs_error"] <= bound
    assert set(figures["per_batch"]) == {"1", "8"}
    ops = exporters.tflite.op_names(path)
    assert ops == info["tflite_ops"] and "FULLY_CONNECTED" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    if quantize == "int8":
        assert "QUANTIZE" in ops and "DEQUANTIZE" in ops


@pytest.mark.slow
def test_int8_file_is_at_most_35_percent_of_float32(tmp_path):
    vae = tfvae.VAE((28, 28), 4, seed=0)          # default mlp (512, 256)
    f32 = exporters.export_tflite(vae, tmp_path / "f32.tflite", verify=False)
    int8 = exporters.export_tflite(vae, tmp_path / "int8.tflite", quantize="int8")
    assert int8["size_bytes"] == os.path.getsize(tmp_path / "int8.tflite")
    assert int8["size_bytes"] <= 0.35 * f32["size_bytes"]


@pytest.mark.slow
def test_generator_round_trip(model, tmp_path):
    info = exporters.export_tflite(model, tmp_path / "gen.tflite", part="generator")
    assert info["inputs"] == {"eps": {"shape": [None, 4], "dtype": "float32"}}
    figures = parity.compare(model, str(tmp_path / "gen.tflite"), part="generator", seed=5)
    assert figures["max_abs_error"] <= 1e-5


@pytest.mark.slow
def test_in_graph_sampler_draws_fresh_latents(model, tmp_path):
    path = tmp_path / "s.tflite"
    info = exporters.export_tflite(model, path, part="generator", in_graph_sampling=True)
    assert "RANDOM_STANDARD_NORMAL" in info["tflite_ops"]
    run = parity.load(str(path))
    first, second = (run(num_samples=np.asarray(64, "int32")) for _ in range(2))
    assert first["mean"].shape == (64, 28, 28) and first["z"].shape == (64, 4)
    assert abs(first["z"].mean()) < 0.5 and 0.6 < first["z"].std() < 1.4
    assert not np.array_equal(first["z"], second["z"])
    # The means are the Keras decoder's on the latents the artifact drew.
    figures = parity.compare(model, str(path), part="generator", in_graph_sampling=True)
    assert figures["max_abs_error"] <= 1e-5


## New priors and posteriors


def _separated_vamp_model():
    """A VampPrior of 3 pseudo-inputs (0, 0.5, 1 everywhere) whose Gaussians are far apart.

    The encoder is a ReLU network with zero biases, so μ(c·1) = c·μ(1): the
    means sit at 0, μ(1)/2 and μ(1); σ is set to 0.003 for every x.
    """
    vae = small_vae(latent_dim=2, seed=0, prior=tfvae.priors.VampPrior(3, seed=0))
    vae.prior.pseudo_inputs.assign(np.stack([np.full((28, 28), c, "float32")
                                             for c in (0.0, 0.5, 1.0)]))
    kernel, bias = vae.posterior_head.dense.get_weights()
    kernel[:, 2:], bias[2:] = 0.0, np.log(np.expm1(0.003 - 1e-4))
    vae.posterior_head.dense.set_weights([kernel, bias])
    return vae


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".tflite", ""])
def test_vamp_generator_samples_the_mixture_in_the_graph(tmp_path, suffix):
    vae = _separated_vamp_model()
    loc, scale = (to_numpy(t) for t in vae.prior.component_params())
    assert np.linalg.norm(loc[2] - loc[0]) > 0.05 and np.allclose(scale, 0.003, rtol=1e-3)
    path = tmp_path / f"vamp{suffix}"
    info = exporters.export(vae, path, format="tflite" if suffix else "savedmodel",
                            part="generator", in_graph_sampling=True)
    assert info["passed"] and info["prior"] == "VampPrior"
    if suffix:  # builtin ops only, the plain LiteRT runtime runs it
        assert {"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "GATHER"} <= set(info["tflite_ops"])
        assert not [op for op in info["tflite_ops"] if op.startswith("Flex") or op == "CUSTOM"]
    z = parity.load(str(path))(num_samples=np.asarray(3000, "int32"))["z"].astype("float64")
    # Reference: the mixture (1/3) Σ_k N(loc_k, scale_k²). Each draw is nearest
    # its own component; every component is picked a third of the time
    # (binomial s.d. 26), and the standardised residuals are N(0, 1).
    nearest = np.argmin(((z[:, None] - loc[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=3)
    assert np.abs(counts - 1000).max() < 4 * 26, counts
    residual = (z - loc[nearest]) / scale[nearest]
    assert abs(residual.mean()) < 0.05 and abs(residual.std() - 1.0) < 0.05
    assert abs(np.mean(np.abs(residual) > 2.0) - 0.0455) < 0.015


@pytest.mark.slow
def test_a_maf_prior_is_sampled_in_a_saved_model_and_refused_by_tflite(tmp_path):
    vae = small_vae(latent_dim=2, seed=0, prior=tfvae.priors.MAF(2, (8, 8)))
    rng = np.random.default_rng(3)
    for w in vae.prior.weights:                  # untrained, the flow is the identity
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    with pytest.raises(ValueError, match="standard-normal prior or the VampPrior.*MAF"):
        exporters.export_tflite(vae, tmp_path / "maf.tflite", part="generator",
                                in_graph_sampling=True)
    info = exporters.export(vae, tmp_path / "maf", format="savedmodel", part="generator",
                            in_graph_sampling=True)
    assert info["passed"]
    z = parity.load(str(tmp_path / "maf"))(num_samples=np.asarray(4000, "int32"))["z"]
    # Reference: the flow's density on a grid (normalised: tests/test_priors.py). The
    # draws' mean and mean log-density are its mean and its negative entropy.
    p = vae.prior.distribution()
    axis = np.linspace(-12.0, 12.0, 601)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    log_p = to_numpy(p.log_prob(grid.astype("float32"))).astype("float64")
    mass = np.exp(log_p) * (axis[1] - axis[0]) ** 2
    draws_log_p = to_numpy(p.log_prob(z)).astype("float64")
    assert np.abs(z.mean(0) - (mass[:, None] * grid).sum(0)).max() < 4 * z.std(0).max() / 63
    assert abs(draws_log_p.mean() - (mass * log_p).sum()) < 4 * draws_log_p.std() / 63


@pytest.mark.slow
def test_the_tflite_encoder_keeps_scales_beyond_the_float32_exp_range(tmp_path):
    # σ = softplus(raw) + 1e-4 with raw = 100 and −30 for every input: a
    # softplus lowered to log(1 + exp(raw)) gives inf for the first.
    vae = small_vae(latent_dim=2)
    kernel, bias = vae.posterior_head.dense.get_weights()
    bias[:] = [0.5, -0.5, 100.0, -30.0]
    vae.posterior_head.dense.set_weights([np.zeros_like(kernel), bias])
    path = tmp_path / "enc.tflite"
    assert exporters.export_tflite(vae, path, part="encoder")["passed"]
    from ai_edge_litert.interpreter import Interpreter

    got = Interpreter(model_path=str(path)).get_signature_runner()(
        x=np.zeros((1, 28, 28), "float32"))
    np.testing.assert_allclose(got["loc"], [[0.5, -0.5]])
    np.testing.assert_allclose(got["scale"], [[100.0 + 1e-4, np.exp(-30.0) + 1e-4]], rtol=1e-6)


def test_the_encoder_of_an_iaf_model_is_refused(tmp_path):
    vae = small_vae(latent_dim=2, posterior="iaf")
    for export in (exporters.export_saved_model, exporters.export_tflite):
        with pytest.raises(ValueError, match="part='encoder'.*posterior is IAF"):
            export(vae, tmp_path / "enc.tflite", part="encoder")
    assert list(tmp_path.iterdir()) == []


## Publishing: never clobber, all or nothing


@pytest.mark.slow
def test_refuses_to_overwrite_and_overwrite_replaces(model, tmp_path):
    path = tmp_path / "dec.tflite"
    first = exporters.export_tflite(model, path, verify=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        exporters.export_tflite(model, path)
    second = exporters.export_tflite(model, path, quantize="float16", overwrite=True)
    assert os.path.getsize(path) == second["size_bytes"] < first["size_bytes"]
    sm = tmp_path / "sm"
    exporters.export_saved_model(model, sm, verify=False)
    with pytest.raises(FileExistsError):
        exporters.export_saved_model(model, sm)
    info = exporters.export_saved_model(model, sm, part="encoder", overwrite=True)
    assert json.loads((sm / "metadata.json").read_text())["part"] == "encoder" == info["part"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dec.metadata.json", "dec.tflite", "sm"]


def test_an_existing_metadata_file_is_not_replaced_without_overwrite(model, tmp_path):
    (tmp_path / "dec.metadata.json").write_text("{}")
    with pytest.raises(FileExistsError, match="dec.metadata.json"):
        exporters.export_tflite(model, tmp_path / "dec.tflite")
    assert _snapshot(tmp_path) == {"dec.metadata.json": b"{}"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dec.tflite", "dec.metadata.json"])
def test_a_file_that_appears_during_the_export_is_not_clobbered(model, tmp_path, monkeypatch,
                                                                name):
    real_verify = parity.verify

    def verify_while_another_writer_creates(*args, **kwargs):
        figures = real_verify(*args, **kwargs)
        (tmp_path / name).write_text("another writer")    # after the up-front check
        return figures

    monkeypatch.setattr(parity, "verify", verify_while_another_writer_creates)
    with pytest.raises(FileExistsError, match=name):
        exporters.export_tflite(model, tmp_path / "dec.tflite")
    assert _snapshot(tmp_path) == {name: b"another writer"}


@pytest.mark.slow
def test_failed_verification_leaves_nothing(model, tmp_path, monkeypatch):
    path = tmp_path / "dec.tflite"
    # A real failure: float32 TFLite differs from Keras by ~1e-7, above 0.
    with pytest.raises(parity.ParityError, match="max abs error .* > 0"):
        exporters.export_tflite(model, path, tolerance=0.0)
    assert _snapshot(tmp_path) == {}          # neither the artifact nor its metadata

    def broken(*args, **kwargs):
        raise parity.ParityError("forced")

    monkeypatch.setattr(parity, "verify", broken)
    with pytest.raises(parity.ParityError, match="forced"):
        exporters.export_saved_model(model, tmp_path / "sm")
    assert _snapshot(tmp_path) == {}


@pytest.mark.slow
def test_failed_verification_keeps_the_old_artifact(model, tmp_path):
    path = tmp_path / "dec.tflite"
    exporters.export_tflite(model, path, verify=False)
    before = _snapshot(tmp_path)
    with pytest.raises(parity.ParityError, match="Nothing was written"):
        exporters.export_tflite(model, path, quantize="float16", overwrite=True,
                                tolerance=0.0)
    assert _snapshot(tmp_path) == before
    assert sorted(before) == ["dec.metadata.json", "dec.tflite"]


@pytest.mark.slow
@pytest.mark.parametrize("format,name", [("savedmodel", "sm"), ("tflite", "dec.tflite")])
def test_failed_overwrite_keeps_the_old_artifact_and_metadata(model, tmp_path, monkeypatch,
                                                              format, name):
    exporters.export(model, tmp_path / name, format=format, verify=False)
    before = _snapshot(tmp_path)
    assert len(before) > 1                     # the artifact and its metadata

    def broken(model, path, *args, **kwargs):  # fails after the new artifact was written
        assert os.path.exists(path) and os.path.basename(path).startswith(f".{name}.tmp-")
        raise parity.ParityError("forced")

    monkeypatch.setattr(parity, "verify", broken)
    with pytest.raises(parity.ParityError, match="forced"):
        exporters.export(model, tmp_path / name, format=format, part="encoder",
                         overwrite=True)
    assert _snapshot(tmp_path) == before


def test_publish_undoes_the_earlier_files_when_a_later_one_fails(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "a.bin"

    def staged(path, text):
        tmp = atomic.staging_path(path)
        Path(tmp).write_text(text)
        return tmp

    # Fresh destinations: the second one is taken, so the first is removed again.
    second.write_text("taken")
    with pytest.raises(FileExistsError):
        pipeline.publish([(staged(first, "new"), str(first)), (staged(second, "new"), str(second))],
                         overwrite=False)
    assert _snapshot(tmp_path) == {"a.bin": b"taken"}
    # Replaced destinations: a failing rename (its staged file is gone) restores the first.
    first.write_text("old")
    missing = str(tmp_path / ".a.bin.tmp-gone")
    with pytest.raises(FileNotFoundError):
        pipeline.publish([(staged(first, "new"), str(first)), (missing, str(second))],
                         overwrite=True)
    assert _snapshot(tmp_path) == {"a.bin": b"taken", "a.json": b"old"}


## Arguments and the dispatcher


@pytest.mark.parametrize("kwargs,match", [
    ({"part": "decode"}, "part='decode'.*'decoder', 'encoder', 'generator'"),
    ({"quantize": "int4"}, "quantize='int4'.*'float16', 'dynamic', 'int8'"),
    ({"part": "encoder", "quantize": "int8"}, "calibration_data"),
    ({"part": "decoder", "in_graph_sampling": True}, "part='generator' only"),
    ({"part": "generator", "in_graph_sampling": True, "quantize": "int8"},
     "cannot calibrate an in-graph sampler"),
    ({"calibration_data": np.zeros((0, 28, 28), "float32")},
     r"`calibration_data`, expected at least one example.*shape \(0, 28, 28\)"),
])
def test_bad_arguments(model, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        exporters.export_tflite(model, tmp_path / "m.tflite", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_bad_path_model_and_format(model, tmp_path):
    with pytest.raises(ValueError, match=r"end with '.tflite'.*model\.tfl"):
        exporters.export_tflite(model, tmp_path / "model.tfl")
    with pytest.raises(ValueError, match="tfvae.VAE"):
        exporters.export_saved_model(model.decoder, tmp_path / "d")
    with pytest.raises(ValueError, match="format='onnx'.*'savedmodel', 'tflite'"):
        exporters.export(model, tmp_path / "m", format="onnx")
    with pytest.raises(ValueError, match="format='tflite' only"):
        exporters.export(model, tmp_path / "m", format="savedmodel", quantize="int8")
    assert list(tmp_path.iterdir()) == []


def test_dispatcher_accepts_only_the_documented_formats(model, tmp_path):
    with pytest.raises(ValueError, match="format='saved_model'.*'savedmodel', 'tflite'"):
        exporters.export(model, tmp_path / "m", format="saved_model")
    assert list(tmp_path.iterdir()) == []


def test_every_quantization_mode_has_a_parity_bound():
    assert set(parity.TOLERANCES) == {mode or "float32" for mode in exporters.QUANTIZE_MODES}
    assert parity.tolerance_for("none") == parity.tolerance_for(None) == {"max": 1e-5}
    with pytest.raises(ValueError, match="quantization='int4'.*'float16', 'dynamic', 'int8'"):
        parity.tolerance_for("int4")


@pytest.mark.slow
def test_dispatcher_and_metadata(model, tmp_path):
    info = exporters.export(model, tmp_path / "d.tflite", format="tflite",
                            quantize="dynamic")
    written = json.loads((tmp_path / "d.metadata.json").read_text())
    assert written == json.loads(json.dumps(info))
    assert written["latent_dim"] == 4 and written["part"] == "decoder"
    assert written["inputs"] == {"z": {"shape": [None, 4], "dtype": "float32"}}
    assert written["outputs"]["mean"] == {"shape": [None, 28, 28], "dtype": "float32"}
    assert written["likelihood"] == "Bernoulli" and written["quantization"] == "dynamic"
    assert written["tfvae_version"] == tfvae.__version__ and written["format"] == "tflite"
    assert written["trained_dtype_policy"] == "float32"
    assert written["size_bytes"] == os.path.getsize(tmp_path / "d.tflite")
    assert written["parity"]["passed"] and written["parity"]["batch_sizes"] == [1, 8]
    assert 0 < written["max_abs_error"] <= 0.05 and written["mean_abs_error"] <= 0.01
    sm = exporters.export(model, tmp_path / "sm", format="savedmodel", quantize=None)
    assert sm["format"] == "savedmodel" and sm["quantization"] == "float32"


@pytest.mark.slow
def test_tflite_decoder_example_runs_without_tensorflow(model, tmp_path):
    exporters.export_tflite(model, tmp_path / "dec.tflite")
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE), "--model", str(tmp_path / "dec.tflite"),
         "--out", str(tmp_path / "grid.png"), "--n", "9", "--seed", "0"],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "tensorflow imported: False" in completed.stdout
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


## Conditional models: the label is a second named input


@pytest.fixture(scope="module")
def conditional(fashion_small):
    vae = small_vae(latent_dim=4, num_classes=10, seed=0,
                    class_names=list(tfvae.datasets.FASHION_MNIST_CLASSES))
    vae.fit((fashion_small["x_train"][:1000] > 0.5).astype("float32"),
            fashion_small["y_train"][:1000], epochs=1, batch_size=100, verbose=0)
    return vae


def _per_label(model, run, part):
    """Max abs error of the artifact against Keras for every class, one example each."""
    z = np.random.default_rng(9).normal(size=(10, 4)).astype("float32")
    errors, means = [], []
    for label in range(10):
        inputs = {"z" if part == "decoder" else "eps": z[label:label + 1],
                  "label": np.array([label], "int32")}
        got = run(**inputs)["mean"]
        want = to_numpy(model.decode_mean(z[label:label + 1], labels=[label]))
        errors.append(float(np.abs(got - want).max()))
        means.append(to_numpy(model.decode_mean(z[:1], labels=[label]))[0])
    return max(errors), means


@pytest.mark.parametrize("part", ["decoder", "generator"])
def test_conditional_saved_model_takes_the_label(conditional, tmp_path, part):
    path = tmp_path / part
    info = exporters.export_saved_model(conditional, path, part=part)
    assert info["inputs"]["label"] == {"shape": [None], "dtype": "int32"}
    assert info["label_input"] == "label" and info["num_classes"] == 10
    assert info["class_names"][1] == "Trouser"
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert info["inputs"] == {name: _spec(s) for name, s in
                              serve.structured_input_signature[1].items()}
    worst, means = _per_label(conditional, parity.load(str(path)), part)
    assert worst <= 1e-5
    # The same z drawn as two classes gives two images: the label is used.
    assert np.abs(means[0] - means[1]).max() > 0.01


@pytest.mark.slow
@pytest.mark.parametrize("part,quantize,bound", [
    ("decoder", None, 1e-5), ("generator", None, 1e-5), ("decoder", "int8", 0.15)])
def test_conditional_tflite_parity_for_every_label(conditional, tmp_path, part, quantize, bound,
                                                   fashion_small):
    path = tmp_path / f"{part}.tflite"
    info = exporters.export_tflite(conditional, path, part=part, quantize=quantize,
                                   calibration_data=fashion_small["x_test"][:100])
    assert set(info["inputs"]) == {"z" if part == "decoder" else "eps", "label"}
    ops = exporters.tflite.op_names(path)
    assert "GATHER" in ops and not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    worst, _ = _per_label(conditional, parity.load(str(path)), part)
    assert worst <= bound
    written = json.loads((tmp_path / f"{part}.metadata.json").read_text())
    assert written["class_names"] == list(tfvae.datasets.FASHION_MNIST_CLASSES)


@pytest.mark.slow
def test_conditional_in_graph_generator_and_condition_vectors(conditional, tmp_path):
    info = exporters.export_tflite(conditional, tmp_path / "g.tflite", part="generator",
                                   in_graph_sampling=True)
    assert info["inputs"] == {"label": {"shape": [None], "dtype": "int32"}}
    out = parity.load(str(tmp_path / "g.tflite"))(label=np.array([7, 7, 1], "int32"))
    assert out["z"].shape == (3, 4) and np.abs(out["z"][0] - out["z"][1]).max() > 0
    np.testing.assert_allclose(out["mean"], to_numpy(conditional.decode_mean(out["z"],
                                                                             [7, 7, 1])),
                               atol=1e-5)
    vector = small_vae(latent_dim=3, condition_shape=(2,), seed=0)
    info = exporters.export_tflite(vector, tmp_path / "v.tflite")
    assert info["inputs"]["condition"] == {"shape": [None, 2], "dtype": "float32"}
    assert info["condition_shape"] == [2] and info["max_abs_error"] <= 1e-5
