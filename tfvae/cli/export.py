"""`tfvae export`: `exporters.export` a part of a model, then print its parity and size."""

from tfvae.cli import _flags

HELP = "export the decoder (or model) to SavedModel or TFLite"
DESCRIPTION = ("Export part of a model, check it against the Keras model and print the "
               "parity figures and the size.")


def add_arguments(parser):
    import exporters  # cheap: it imports TensorFlow only when an export runs

    _flags.model(parser)
    parser.add_argument("--format", required=True, choices=exporters.FORMATS,
                        help="artifact format")
    parser.add_argument("--part", default="decoder", choices=exporters.PARTS,
                        help="what to export (default: decoder)")
    parser.add_argument("--quantize", default="none",
                        choices=["none" if q is None else q for q in exporters.QUANTIZE_MODES],
                        help="TFLite quantization (default: none)")
    _flags.output(parser, "PATH",
                  "artifact path (a folder for savedmodel, .tflite for tflite)")
    _flags.debug(parser)


def run(args):
    import exporters
    from tfvae import runs

    model = runs.load_model(args.model)
    info = exporters.export(model, args.out, format=args.format, part=args.part,
                            quantize=None if args.quantize == "none" else args.quantize,
                            overwrite=args.overwrite)
    print(f"wrote {args.out} ({args.format}, part={args.part}, quantize={args.quantize})")
    print(format_export_info(info))


def format_export_info(info):
    """One line of an export's parity and size figures."""
    parts = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
             for k, v in info.items() if "error" in k or k in ("size_bytes", "passed")]
    return "  " + "  ".join(parts) if parts else "  " + str(info)
