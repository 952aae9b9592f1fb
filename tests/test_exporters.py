"""exporters: SavedModel / TFLite exports, parity, atomicity, metadata."""

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
from exporters import parity
from tests.helpers import small_vae, to_numpy

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tflite_decoder.py"


@pytest.fixture(scope="module")
def model(fashion_small):
    vae = small_vae(latent_dim=4, seed=0)
    vae.fit(fashion_small["x_train"][:1000], epochs=1, batch_size=100, verbose=0)
    return vae


@pytest.mark.parametrize("part", ["decoder", "encoder", "generator"])
def test_saved_model_serving_signature_matches_keras(model, tmp_path, part):
    path = tmp_path / part
    info = exporters.export_saved_model(model, path, part=part)
    assert info["passed"] and info["max_abs_error"] <= 1e-5
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    z = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    if part == "encoder":
        x = np.random.default_rng(0).uniform(size=(3, 28, 28)).astype("float32")
        out = serve(x=tf.constant(x))
        loc, scale = model.posterior_head(model.encoder(x))
        np.testing.assert_allclose(out["loc"], to_numpy(loc), atol=1e-5)
        np.testing.assert_allclose(out["scale"], to_numpy(scale), atol=1e-5)
    else:
        out = serve(**{("z" if part == "decoder" else "eps"): tf.constant(z)})
        np.testing.assert_allclose(out["mean"], to_numpy(model.decode_mean(z)), atol=1e-5)
    assert (path / "metadata.json").is_file()


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


def test_int8_file_is_at_most_35_percent_of_float32(tmp_path):
    vae = tfvae.VAE((28, 28), 4, seed=0)          # default mlp (512, 256)
    f32 = exporters.export_tflite(vae, tmp_path / "f32.tflite", verify=False)
    int8 = exporters.export_tflite(vae, tmp_path / "int8.tflite", quantize="int8")
    assert int8["size_bytes"] == os.path.getsize(tmp_path / "int8.tflite")
    assert int8["size_bytes"] <= 0.35 * f32["size_bytes"]


def test_generator_round_trip(model, tmp_path):
    exporters.export_tflite(model, tmp_path / "gen.tflite", part="generator")
    from ai_edge_litert.interpreter import Interpreter

    run = Interpreter(model_path=str(tmp_path / "gen.tflite")).get_signature_runner()
    eps = np.random.default_rng(1).standard_normal((5, 4)).astype("float32")
    np.testing.assert_allclose(run(eps=eps)["mean"], to_numpy(model.decode_mean(eps)),
                               atol=1e-5)


def test_in_graph_sampler_draws_fresh_latents(model, tmp_path):
    info = exporters.export_tflite(model, tmp_path / "s.tflite", part="generator",
                                   in_graph_sampling=True)
    assert "RANDOM_STANDARD_NORMAL" in info["tflite_ops"]
    run = parity.load(str(tmp_path / "s.tflite"))
    out = run(num_samples=np.asarray(64, "int32"))
    assert out["mean"].shape == (64, 28, 28) and out["z"].shape == (64, 4)
    assert abs(out["z"].mean()) < 0.5 and 0.6 < out["z"].std() < 1.4
    np.testing.assert_allclose(out["mean"], to_numpy(model.decode_mean(out["z"])), atol=1e-5)


def test_generator_needs_standard_normal_prior_for_explicit_noise(tmp_path):
    vae = small_vae(latent_dim=4, prior="mixture_of_gaussians")
    with pytest.raises(ValueError, match="MixtureOfGaussians"):
        exporters.export_saved_model(vae, tmp_path / "g", part="generator")
    assert not (tmp_path / "g").exists()


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


def test_failed_verification_leaves_nothing(model, tmp_path, monkeypatch):
    path = tmp_path / "dec.tflite"
    # A real failure: float32 TFLite differs from Keras by ~1e-7, above 0.
    with pytest.raises(parity.ParityError, match="max abs error .* > 0"):
        exporters.export_tflite(model, path, tolerance=0.0)
    assert list(tmp_path.iterdir()) == []

    def broken(*args, **kwargs):
        raise parity.ParityError("forced")

    monkeypatch.setattr(parity, "verify", broken)
    with pytest.raises(parity.ParityError, match="forced"):
        exporters.export_saved_model(model, tmp_path / "sm")
    assert list(tmp_path.iterdir()) == []


def test_failed_verification_keeps_the_old_artifact(model, tmp_path):
    path = tmp_path / "dec.tflite"
    exporters.export_tflite(model, path, verify=False)
    before = path.read_bytes()
    with pytest.raises(parity.ParityError):
        exporters.export_tflite(model, path, quantize="float16", overwrite=True,
                                tolerance=0.0)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dec.metadata.json", "dec.tflite"]


@pytest.mark.parametrize("kwargs,match", [
    ({"part": "decode"}, "part='decode'.*'decoder', 'encoder', 'generator'"),
    ({"quantize": "int4"}, "quantize='int4'.*'float16', 'dynamic', 'int8'"),
    ({"part": "encoder", "quantize": "int8"}, "calibration_data"),
    ({"part": "decoder", "in_graph_sampling": True}, "part='generator' only"),
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
    assert written["size_bytes"] == os.path.getsize(tmp_path / "d.tflite")
    assert written["parity"]["passed"] and written["parity"]["batch_sizes"] == [1, 8]
    assert 0 < written["max_abs_error"] <= 0.05 and written["mean_abs_error"] <= 0.01
    sm = exporters.export(model, tmp_path / "sm", format="savedmodel", quantize=None)
    assert sm["format"] == "savedmodel" and sm["quantization"] == "float32"


def test_tflite_decoder_example_runs_without_tensorflow(model, tmp_path):
    exporters.export_tflite(model, tmp_path / "dec.tflite")
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE), "--model", str(tmp_path / "dec.tflite"),
         "--out", str(tmp_path / "grid.png"), "--n", "9", "--seed", "0"],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "tensorflow imported: False" in completed.stdout
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
