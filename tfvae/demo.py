"""`make demo`: train a 2-d VAE on the embedded data, draw it, export its decoder.

Runs offline on the 4,000 embedded Fashion-MNIST images through the same
function as `tfvae train` (`tfvae.config.train`), then exports the decoder to
SavedModel and to TFLite (float32 and int8) with `exporters.export`, printing
each artifact's parity with the Keras decoder and its size.

The demo owns its output folder: it passes `overwrite=True`, so re-running
`make demo` replaces the previous demo's run files (and only those).

Usage:
    python -m tfvae.demo --out runs/demo
    python -m tfvae.demo --out /tmp/quick --epochs 1 --max-train-examples 256   # seconds
"""

import argparse
import os
import shutil
import sys
import time

DEMO_CONFIG = {"data": "default", "architecture": "mlp", "latent_dim": 2,
               "likelihood": "bernoulli", "epochs": 50, "batch_size": 128, "seed": 0}

EXPORTS = (("decoder_savedmodel", "savedmodel", None),
           ("decoder.tflite", "tflite", None),
           ("decoder_int8.tflite", "tflite", "int8"))


def run(out, epochs=None, max_train_examples=None, export=True, verbose=2):
    """Trains the demo model into `out` and exports its decoder.

    Args:
        out: str, the demo's run folder (replaced if it exists).
        epochs: int or None, overrides the demo's 50 epochs.
        max_train_examples: int or None, train on fewer images (quick runs).
        export: bool, also write the SavedModel and TFLite decoders.
        verbose: Keras verbosity for `fit`.

    Returns:
        dict: "train" (the `tfvae.config.train` result) and "exports"
        (artifact name -> the exporter's metadata dict).
    """
    from tfvae import config as run_config

    config = run_config.resolve({"epochs": epochs, "max_train_examples": max_train_examples},
                                base=DEMO_CONFIG)
    # The demo owns its folder: replace the previous demo's files, exports included.
    for name, _, _ in EXPORTS:
        for path in (os.path.join(out, name),  # a .tflite's metadata sits beside it
                     os.path.join(out, name.replace(".tflite", ".metadata.json"))):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path) and path.endswith((".tflite", ".metadata.json")):
                os.remove(path)
    result = run_config.train(config, out, overwrite=True, verbose=verbose)
    exports = {}
    if export:
        import exporters

        for name, fmt, quantize in EXPORTS:
            exports[name] = exporters.export(result["model"], os.path.join(out, name),
                                             format=fmt, part="decoder", quantize=quantize,
                                             overwrite=True)
    return {"train": result, "exports": exports}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tfvae.demo",
        description="Train a 2-d VAE on the embedded data into --out (replacing a "
                    "previous demo there), draw its figures and export its decoder.")
    parser.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs (default: {DEMO_CONFIG['epochs']})")
    parser.add_argument("--max-train-examples", type=int, default=None, metavar="N",
                        help="train on the first N images only (default: all 4,000)")
    parser.add_argument("--no-export", action="store_true", help="skip the exports")
    args = parser.parse_args(argv)

    from tfvae.cli import format_export_info

    start = time.time()
    print(f"tfvae demo: training a 2-d VAE on the embedded Fashion-MNIST into {args.out}",
          flush=True)
    try:
        result = run(args.out, epochs=args.epochs, max_train_examples=args.max_train_examples,
                     export=not args.no_export,
                     verbose=1 if sys.stdout.isatty() else 2)
    except (ValueError, OSError) as e:
        print(f"tfvae demo: error: {e}", file=sys.stderr)
        return 1
    m = result["train"]["metrics"]
    print(f"\ntest ELBO {m['elbo']:.2f} nats/image (reconstruction {m['reconstruction']:.2f}, "
          f"KL {m['kl']:.2f}) on {m['num_test_examples']} images")
    for name, path in sorted(result["train"]["files"].items()):
        print(f"  {name:16s} {path}")
    for name, info in result["exports"].items():
        print(f"exported {os.path.join(args.out, name)}")
        print(format_export_info(info))
    print(f"done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
