"""Export a trained `tfvae.VAE` to SavedModel or TFLite, verified against Keras.

One thin function per format over one pipeline (`exporters.pipeline`), and one
dispatcher for the CLI (`tfvae export`). Every export is loaded back and
compared with the Keras model (`exporters.parity`) before it is renamed into
place; a failed export leaves nothing at the destination.

This module owns the allow-lists (`FORMATS`, `PARTS`, `SIGNATURES`,
`QUANTIZE_MODES`); every other module, the CLI included, imports them from here.

Example:
```python
import exporters

exporters.export_saved_model(model, "decoder_savedmodel")           # z -> E[x|z]
info = exporters.export_tflite(model, "decoder_int8.tflite", quantize="int8")
info = exporters.export(model, "gen.tflite", format="tflite", part="generator")
# One file, four named signatures, a static batch of 1 for the phone's delegates:
info = exporters.export_tflite(model, "vae.tflite", signatures=exporters.SIGNATURES,
                               batch_size=1)
```

TensorFlow is imported only when an exporter runs, so `import exporters` is cheap.
"""

import importlib

FORMATS = ("savedmodel", "tflite")
PARTS = ("decoder", "encoder", "generator")
# The named signatures of one multi-signature .tflite file (exporters.signatures).
SIGNATURES = ("encode", "decode", "generate", "score")
# None is float32; "none" and "float32" are accepted as spellings of it.
QUANTIZE_MODES = (None, "float16", "dynamic", "int8")

_LAZY = {
    "export_saved_model": "exporters.saved_model",
    "export_tflite": "exporters.tflite",
    "metadata_path": "exporters.tflite",
    "ParityError": "exporters.parity",
    "verify": "exporters.parity",
    "parity": "exporters.parity",
    "pipeline": "exporters.pipeline",
    "bundle": "exporters.bundle",
    "delegation": "exporters.delegation",
    "densities": "exporters.densities",
    "signatures": "exporters.signatures",
    "signature_parity": "exporters.signature_parity",
    "saved_model": "exporters.saved_model",
    "tflite": "exporters.tflite",
}


def export(model, path, format="savedmodel", **kwargs):
    """Exports `model` in `format`; the CLI's entry point.

    Args:
        model: a built `tfvae.VAE`.
        path: str, the SavedModel directory or the `.tflite` file.
        format: "savedmodel" or "tflite".
        **kwargs: passed to `export_saved_model` or `export_tflite` (part,
            overwrite, verify, ...). For "savedmodel", `quantize` may be given
            only as None/"none"/"float32" (quantization is a TFLite option).

    Returns:
        The metadata dict of the export (also written beside the artifact).

    Raises:
        ValueError: unknown format, or the exporter's own ValueErrors.

    Example:
    ```python
    info = exporters.export(model, "decoder.tflite", format="tflite", quantize="int8")
    ```
    """
    if format not in FORMATS:
        raise ValueError(f"Unrecognized format={format!r}. Supported formats are: "
                         f"{list(FORMATS)}.")
    if format == "savedmodel":
        from exporters._common import check_quantize

        quantize = kwargs.pop("quantize", None)
        for name in ("signatures", "batch_size"):
            if kwargs.get(name) is not None:
                raise ValueError(f"`{name}` applies to format='tflite' only; a SavedModel "
                                 f"export holds one part. Received: {name}="
                                 f"{kwargs[name]!r}")
        if check_quantize(quantize) is not None:
            raise ValueError(f"quantize={quantize!r} applies to format='tflite' only; "
                             "a SavedModel keeps the model's float32 weights.")
        from exporters.saved_model import export_saved_model

        return export_saved_model(model, path, **kwargs)
    from exporters.tflite import export_tflite

    return export_tflite(model, path, **kwargs)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if module.__name__ == f"exporters.{name}" else getattr(module, name)
    raise AttributeError(f"module 'exporters' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
