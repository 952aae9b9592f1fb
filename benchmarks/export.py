"""Exported decoders: batch-1 latency, file size and the int8 quality cost.

Trains a conv VAE briefly on the embedded default data (or loads --model),
exports the decoder to TFLite float32 / float16 / int8 and to a SavedModel,
then measures:

- batch-1 decode latency (median over --calls calls) of each TFLite file vs the
  same decoder in TensorFlow: eager `model.decode_mean`, `decoder.predict_on_batch`,
  a `tf.function` of `decode_mean`, and the loaded SavedModel signature;
- file sizes;
- held-out −ELBO (nats per example) on the embedded test split with each
  decoder: z ~ q(z|x) from the Keras encoder (one fixed sample per example),
  log p(x|z) = Σ x log p + (1 − x) log(1 − p) from the decoder's output
  probabilities p (clipped to [1e-6, 1 − 1e-6] for every decoder alike), and
  the analytic KL from the Keras encoder.

Usage:
    python benchmarks/export.py                       # ~1-2 min on 2 CPU cores
    python benchmarks/export.py --model runs/x/model.keras --calls 1000
"""

import argparse
import os
import shutil
import sys
import tempfile

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import call_seconds, load_images, provenance

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import exporters
import tfvae

EPS = 1e-6


def median_us(fn, calls):
    """Median microseconds per call of `fn` over `calls` calls, after 20 untimed."""
    return 1e6 * float(np.median(call_seconds(fn, calls, warmup=20)))


def neg_elbo(x, probabilities, kl):
    p = np.clip(probabilities.astype("float64"), EPS, 1 - EPS)
    x = x.astype("float64")
    log_px_z = np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=(1, 2))
    return float(np.mean(kl - log_px_z))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a saved .keras VAE (default: train one)")
    parser.add_argument("--architecture", default="conv", choices=("mlp", "conv"))
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    x_train, x_test = (load_images("default", split)[0] for split in ("train", "test"))
    if args.model:
        model = keras.models.load_model(args.model)
    else:
        model = tfvae.VAE((28, 28), args.latent_dim, architecture=args.architecture,
                          seed=args.seed)
        model.fit(x_train, epochs=args.epochs, batch_size=128, verbose=0)

    workdir = tempfile.mkdtemp(prefix="tfvae-export-bench-")
    infos, runners = {}, {}
    for mode in (None, "float16", "int8"):
        name = mode or "float32"
        path = os.path.join(workdir, f"decoder_{name}.tflite")
        infos[name] = exporters.export_tflite(model, path, quantize=mode,
                                              calibration_data=x_train[:200])
        runners[name] = Interpreter(model_path=path).get_signature_runner()
    saved = os.path.join(workdir, "decoder_savedmodel")
    infos["savedmodel"] = exporters.export_saved_model(model, saved)
    serve = tf.saved_model.load(saved).signatures["serving_default"]

    z1 = np.random.default_rng(args.seed).standard_normal(
        (1, model.latent_dim)).astype("float32")
    z1_tensor = tf.constant(z1)
    compiled = tf.function(model.decode_mean)
    latency = {
        "TF eager decode_mean": median_us(lambda: model.decode_mean(z1_tensor), args.calls),
        "TF decoder.predict_on_batch": median_us(
            lambda: model.decoder.predict_on_batch(z1), args.calls),
        "TF tf.function(decode_mean)": median_us(lambda: compiled(z1_tensor), args.calls),
        "TF loaded SavedModel": median_us(lambda: serve(z=z1_tensor), args.calls),
    }
    for name, run in runners.items():
        latency[f"TFLite {name}"] = median_us(lambda run=run: run(z=z1), args.calls)

    # Held-out −ELBO with one fixed z ~ q(z|x) per test example, shared by all decoders.
    posterior = model.encode(x_test)
    z = np.asarray(posterior.sample(seed=tfvae.layers.stateless_seed(args.seed)), dtype="float32")
    prior = model.prior.distribution()
    kl = np.asarray(posterior.kl_divergence(prior) if model.kl_mode == "analytic"
                    else posterior.log_prob(z) - prior.log_prob(z), dtype="float64")
    elbo = {"Keras (float32)": neg_elbo(x_test, np.asarray(model.decode_mean(z)), kl)}
    for name, run in runners.items():
        elbo[f"TFLite {name}"] = neg_elbo(x_test, run(z=z)["mean"], kl)

    fastest_tf = min(v for k, v in latency.items() if k.startswith("TF ") and "eager" not in k)
    print(f"# Decoder export benchmark ({model.architecture}, latent_dim={model.latent_dim}, "
          f"{'loaded ' + args.model if args.model else f'{args.epochs} epochs on the embedded data'})")
    print("\n| decoder | batch-1 latency (µs, median of %d) |" % args.calls)
    print("|---|---|")
    for name, value in latency.items():
        print(f"| {name} | {value:.1f} |")
    print("\n| artifact | size (bytes) | max abs error vs Keras | mean abs error |")
    print("|---|---|---|---|")
    for name, info in infos.items():
        print(f"| {name} | {info['size_bytes']} | {info['max_abs_error']:.2g} | "
              f"{info['mean_abs_error']:.2g} |")
    print(f"\n| decoder | held-out −ELBO (nats/example, {len(x_test)} test images) |")
    print("|---|---|")
    for name, value in elbo.items():
        print(f"| {name} | {value:.2f} |")
    speedup = fastest_tf / latency["TFLite float32"]
    int8_cost = elbo["TFLite int8"] - elbo["TFLite float32"]
    print("\nGoals:")
    print(f"- TFLite float32 batch-1 ≥ 2× faster than the fastest non-eager TF decoder: "
          f"{speedup:.1f}× -> {'met' if speedup >= 2 else 'NOT met'}")
    print(f"- int8 no slower than float32: {latency['TFLite int8']:.1f} vs "
          f"{latency['TFLite float32']:.1f} µs -> "
          f"{'met' if latency['TFLite int8'] <= latency['TFLite float32'] else 'NOT met'}")
    print(f"- int8 −ELBO within 0.5 nats of float32: {int8_cost:+.3f} nats -> "
          f"{'met' if abs(int8_cost) < 0.5 else 'NOT met'}")
    print()
    provenance(__file__, argv)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
