"""Draw a class on the device: a conditional `.tflite` decoder run without TensorFlow.

Title: "draw me a sneaker" with an exported class-conditional VAE decoder
Description: only `ai_edge_litert`, numpy and matplotlib are needed at run time.

The decoder of a class-conditional VAE takes two named inputs, `z` (float32
[batch, latent_dim]) and `label` (int32 [batch], class ids; the one-hot is
built inside the graph). Export it once, with TensorFlow:

```
tfvae train --conditional --architecture conv --latent-dim 16 --epochs 10 --out runs/cvae
tfvae export --model runs/cvae/model.keras --format tflite --out cvae_decoder.tflite
python examples/tflite_conditional_decoder.py --model cvae_decoder.tflite --label sneaker
```

`--quick` (for tests) first exports an untrained decoder in a separate
process, so this one still never imports TensorFlow. The exporter writes
`<name>.metadata.json` beside the file; this script reads the latent size, the
label input and the class names from it.
"""

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

## Reading the export's metadata


def read_metadata(model_path):
    """`<name>.tflite` -> the dict in `<name>.metadata.json`."""
    path = (model_path[:-len(".tflite")] if model_path.endswith(".tflite")
            else model_path) + ".metadata.json"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No metadata found for {model_path!r}: expected {path!r}, "
                                "written by exporters.export_tflite.")
    with open(path) as f:
        metadata = json.load(f)
    if metadata["part"] != "decoder" or metadata.get("label_input") != "label":
        raise ValueError(f"{model_path!r} is not the decoder of a class-conditional model.")
    return metadata


def class_id(label, metadata):
    """A class name (any case) or id -> the int32 id the decoder takes."""
    names = [n.lower() for n in metadata.get("class_names") or []]
    if label.lower() in names:
        return names.index(label.lower())
    if label.isdigit() and int(label) < metadata["num_classes"]:
        return int(label)
    raise ValueError(f"Unknown label {label!r}; the classes are "
                     f"{metadata.get('class_names') or list(range(metadata['num_classes']))}.")


## Decoding z ~ N(0, I) for one class


def draw(model_path, label, n, seed):
    """(n, *image shape) decoded means of class `label` for z drawn from N(0, I)."""
    metadata = read_metadata(model_path)
    z = np.random.default_rng(seed).standard_normal(
        (n, metadata["latent_dim"])).astype("float32")
    labels = np.full(n, class_id(label, metadata), dtype="int32")
    runner = Interpreter(model_path=model_path).get_signature_runner("serving_default")
    return runner(z=z, label=labels)["mean"], metadata


## Writing the grid


def save_grid(images, title, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image in zip(axes.flat, images):
        ax.imshow(np.squeeze(image), cmap="gray", vmin=0.0, vmax=1.0)
    fig.suptitle(title)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


## Quick mode: an untrained decoder, exported in another process

EXPORT = """
import sys, tfvae, exporters
model = tfvae.VAE((28, 28), 4, hidden_units=(32,), num_classes=10, seed=0,
                  class_names=list(tfvae.datasets.FASHION_MNIST_CLASSES))
exporters.export_tflite(model, sys.argv[1], overwrite=True)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="path to a conditional decoder .tflite")
    parser.add_argument("--label", default="sneaker", help="class name or id to draw")
    parser.add_argument("--n", type=int, default=16, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="seed for z")
    parser.add_argument("--output-dir", default=".", help="where the PNG goes")
    parser.add_argument("--quick", action="store_true",
                        help="export an untrained decoder first (for tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.model = os.path.join(args.output_dir, "quick_decoder.tflite")
        subprocess.run([sys.executable, "-c", EXPORT, args.model], check=True)
    if not args.model:
        parser.error("--model is required (or --quick)")
    images, metadata = draw(args.model, args.label, args.n, args.seed)
    names = metadata.get("class_names")
    name = names[class_id(args.label, metadata)] if names else args.label
    out = os.path.join(args.output_dir, f"{args.label.replace('/', '_')}.png")
    save_grid(images, f"{len(images)} × {name}", out)
    print(f"wrote {out}: {len(images)} images of class {name!r}, shape {images.shape[1:]}")
    # The point of this example: the runtime alone decodes the model.
    print(f"tensorflow imported: {'tensorflow' in sys.modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
