"""Generate images from an exported TFLite decoder, without TensorFlow.

Title: on-device generation with a `.tflite` VAE decoder
Description: only `ai_edge_litert`, numpy and matplotlib are needed at run time.

Export the decoder first (with TensorFlow, once):

```
python -c "import tfvae, exporters; m = tfvae.VAE((28, 28), 4); \\
    exporters.export_tflite(m, 'decoder.tflite', quantize='int8')"
python examples/tflite_decoder.py --model decoder.tflite --out grid.png --n 16 --seed 0
```

The exporter writes `decoder.metadata.json` beside `decoder.tflite`; this
script reads the latent size from it.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

## Reading the export's metadata


def read_metadata(model_path):
    """`<name>.tflite` -> the dict in `<name>.metadata.json` (or `metadata.json`)."""
    stem = model_path[:-len(".tflite")] if model_path.endswith(".tflite") else model_path
    for candidate in (stem + ".metadata.json",
                      os.path.join(os.path.dirname(model_path), "metadata.json")):
        if os.path.isfile(candidate):
            with open(candidate) as f:
                return json.load(f)
    raise FileNotFoundError(f"No metadata found for {model_path!r}: expected "
                            f"{stem + '.metadata.json'!r} written by exporters.export_tflite.")


## Decoding z ~ N(0, I)


def generate(model_path, n, seed):
    """Returns (n, *image shape) decoded means for z drawn from N(0, I)."""
    metadata = read_metadata(model_path)
    if metadata["part"] != "decoder":
        raise ValueError(f"{model_path!r} holds part={metadata['part']!r}; export the decoder.")
    z = np.random.default_rng(seed).standard_normal(
        (n, metadata["latent_dim"])).astype("float32")
    runner = Interpreter(model_path=model_path).get_signature_runner("serving_default")
    return runner(z=z)["mean"]


## Writing the grid


def save_grid(images, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image in zip(axes.flat, images):
        ax.imshow(np.squeeze(image), cmap="gray", vmin=0.0, vmax=1.0)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="path to decoder .tflite")
    parser.add_argument("--out", default="grid.png", help="PNG to write")
    parser.add_argument("--n", type=int, default=16, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="seed for z")
    args = parser.parse_args(argv)
    images = generate(args.model, args.n, args.seed)
    save_grid(images, args.out)
    print(f"wrote {args.out}: {len(images)} images of shape {images.shape[1:]}")
    # The point of this example: the runtime alone decodes the model.
    print(f"tensorflow imported: {'tensorflow' in sys.modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
