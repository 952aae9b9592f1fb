"""Exported decoders and the multi-signature file: batch-1 latency, size, int8 cost.

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

The multi-signature file (encode, decode, generate, score; batch 1; score with
k = --num-samples) is exported in float32, float16, dynamic and int8, and for
each signature the script times the LiteRT interpreter with XNNPACK on and off
against the same computation (`exporters.signatures.endpoint`) as a
`tf.function` and as an XLA-compiled one, with the same inputs, and the score
with k = 1 the same way. It also prints the file sizes, the score's parity in
nats, and the ops XNNPACK leaves to the CPU per signature. The interpreter runs
on `--threads` threads (1, its default); TensorFlow uses every core.

Usage:
    python benchmarks/export.py                       # ~2-3 min on 2 CPU cores
    python benchmarks/export.py --model runs/x/model.keras --calls 1000
    python benchmarks/export.py --signatures-only --architecture mlp
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


def decoder_section(model, x_train, x_test, workdir, args, source):
    """The single-decoder tables: latency vs TensorFlow, sizes, held-out −ELBO."""
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
          f"{source})")
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


MODES = (None, "float16", "dynamic", "int8")


def export_bundles(model, x_train, workdir, num_samples):
    """{mode: (path, metadata)} of the four-signature file, batch 1, in each quantization."""
    bundles = {}
    for mode in MODES:
        path = os.path.join(workdir, f"vae_{mode or 'float32'}.tflite")
        bundles[mode or "float32"] = (path, exporters.export_tflite(
            model, path, signatures=exporters.SIGNATURES, batch_size=1,
            num_samples=num_samples, quantize=mode, calibration_data=x_train[:200]))
    return bundles


def tf_latency(model, inputs, num_samples, calls):
    """{"TF ...": {signature: median µs}} of `exporters.signatures.endpoint` as tf.functions."""
    rows = {"TF tf.function": {}, "TF tf.function(jit_compile=True)": {}}
    for name, values in inputs.items():
        fn, specs = exporters.signatures.endpoint(model, name, 1, num_samples)
        args = [tf.constant(values[spec.name]) for spec in specs]
        for label, jit in (("TF tf.function", False), ("TF tf.function(jit_compile=True)", True)):
            compiled = tf.function(fn, input_signature=specs, jit_compile=jit)
            rows[label][name] = median_us(lambda c=compiled: c(*args), calls)
    return rows


def litert_latency(path, inputs, calls, threads):
    """{"XNNPACK" | "no delegate": {signature: median µs}} on the LiteRT interpreter."""
    from ai_edge_litert.interpreter import OpResolverType

    rows = {}
    for label, resolver in (("XNNPACK", OpResolverType.AUTO),
                            ("no delegate", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)):
        interpreter = Interpreter(model_path=path, experimental_op_resolver_type=resolver,
                                  num_threads=threads)
        rows[label] = {name: median_us(lambda r=interpreter.get_signature_runner(name), x=x:
                                       r(**x), calls) for name, x in inputs.items()}
    return rows


def print_latency(title, rows, names):
    print(f"\n| {title} | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for label, values in rows.items():
        print(f"| {label} | " + " | ".join(f"{values[n]:.0f}" for n in names) + " |")


def signature_section(model, x_train, workdir, args, source):
    """The multi-signature file: sizes, parity, XNNPACK coverage, latency vs TensorFlow."""
    k, names = args.num_samples, exporters.SIGNATURES
    bundles = export_bundles(model, x_train, workdir, k)
    f32_path = bundles["float32"][0]
    inputs = {name: exporters.delegation.example_inputs(
        Interpreter(model_path=f32_path).get_signature_runner(name)) for name in names}
    rows = tf_latency(model, inputs, k, args.calls)
    for mode, (path, _) in bundles.items():
        for label, values in litert_latency(path, inputs, args.calls, args.threads).items():
            rows[f"LiteRT {mode}, {label}"] = values
    # The score with one sample, k = 1: the encoder and one decoder pass.
    k1_path = os.path.join(workdir, "score_k1.tflite")
    exporters.export_tflite(model, k1_path, signatures=("score",), batch_size=1)
    k1_inputs = {"score": exporters.delegation.example_inputs(
        Interpreter(model_path=k1_path).get_signature_runner("score"))}
    k1_rows = tf_latency(model, k1_inputs, 1, args.calls)
    for label, values in litert_latency(k1_path, k1_inputs, args.calls, args.threads).items():
        k1_rows[f"LiteRT float32, {label}"] = values

    print(f"\n# Multi-signature file ({model.architecture}, latent_dim={model.latent_dim}, "
          f"{source}; batch 1, score k={k}; LiteRT on {args.threads} thread(s))")
    print("\n| file | size (bytes) | vs float32 | score max abs error, of the largest "
          "−ELBO (nats) | ops XNNPACK leaves to the CPU |\n|---|---|---|---|---|")
    f32 = bundles["float32"][1]["size_bytes"]
    for mode, (_, info) in bundles.items():
        cpu = {name: sorted(set(d["xnnpack"]["cpu"])) for name, d in info["delegation"].items()
               if d["xnnpack"]["cpu"]}
        cpu_text = "; ".join(f"{n}: {','.join(ops)}" for n, ops in cpu.items()) or "none"
        score = info["parity"]["score"]
        print(f"| {mode} | {info['size_bytes']} | {info['size_bytes'] / f32:.1%} | "
              f"{score['max_abs_error']:.2g} of {score['reference_scale']:.0f} | {cpu_text} |")
    print_latency(f"batch-1 latency (µs, median of {args.calls})", rows, names)
    print_latency("score with k = 1 (µs)", k1_rows, ("score",))

    info = bundles["float32"][1]
    builtin = all(not b[1]["non_builtin_ops"] for b in bundles.values())
    whole = all(d["xnnpack"]["fully_delegated"] for d in info["delegation"].values())
    ratio = bundles["int8"][1]["size_bytes"] / f32
    print("\nGoals:")
    print(f"- every op a builtin, every file: {'met' if builtin else 'NOT met'}")
    print(f"- float32: every op of every signature delegated to XNNPACK: "
          f"{'met' if whole else 'NOT met'}")
    print(f"- int8 file ≤ 30% of float32: {ratio:.1%} -> {'met' if ratio <= 0.30 else 'NOT met'}")
    for count, table in ((k, rows), (1, k1_rows)):
        speedup = table["TF tf.function"]["score"] / table["LiteRT float32, XNNPACK"]["score"]
        print(f"- batch-1 score (k={count}) on LiteRT (float32, XNNPACK) ≥ 3× faster than "
              f"tf.function: {speedup:.1f}× -> {'met' if speedup >= 3 else 'NOT met'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a saved .keras VAE (default: train one)")
    parser.add_argument("--architecture", default="conv", choices=("mlp", "conv"))
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=8, help="k of the score signature")
    parser.add_argument("--threads", type=int, default=1,
                        help="LiteRT interpreter threads (default: 1, its own default)")
    parser.add_argument("--signatures-only", action="store_true",
                        help="skip the single-decoder tables")
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
    source = ('loaded ' + args.model if args.model
              else f'{args.epochs} epochs on the embedded data')
    if not args.signatures_only:
        decoder_section(model, x_train, x_test, workdir, args, source)
    signature_section(model, x_train, workdir, args, source)
    print()
    provenance(__file__, argv)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
