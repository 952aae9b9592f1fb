"""`tfvae export`: `exporters.export` a part of a model, then print its parity and size."""

import argparse

from tfvae.cli import _flags

HELP = "export a part of a model to SavedModel or TFLite, or one multi-signature TFLite file"
DESCRIPTION = ("Export part of a model, or one TFLite file with several named signatures, "
               "check it against the Keras model and print the parity figures and the size.")


def signature_names(text):
    """An argparse type: comma-separated names from `exporters.SIGNATURES`."""
    import exporters

    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in exporters.SIGNATURES]
    if unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected distinct names from {','.join(exporters.SIGNATURES)}, got {text!r}")
    return names


def add_arguments(parser):
    import exporters  # cheap: it imports TensorFlow only when an export runs

    _flags.model(parser)
    parser.add_argument("--format", required=True, choices=exporters.FORMATS,
                        help="artifact format")
    parser.add_argument("--part", default=None, choices=exporters.PARTS,
                        help="what to export (default: decoder)")
    parser.add_argument("--signatures", type=signature_names, default=None,
                        metavar="NAMES",
                        help="TFLite only: one file with these named signatures, comma-"
                             f"separated from {','.join(exporters.SIGNATURES)}")
    parser.add_argument("--batch-size", type=_flags.positive_int("batch_size"), default=None,
                        metavar="N", help="with --signatures: fix the batch axis to N "
                                          "(default: dynamic)")
    parser.add_argument("--num-samples", type=_flags.positive_int("num_samples"), default=None,
                        metavar="K", help="with the score signature: K importance samples; "
                                          "K > 1 adds the IWAE-K bound (default: 1)")
    parser.add_argument("--quantize", default="none",
                        choices=["none" if q is None else q for q in exporters.QUANTIZE_MODES],
                        help="TFLite quantization (default: none)")
    _flags.output(parser, "PATH",
                  "artifact path (a folder for savedmodel, .tflite for tflite)")
    _flags.debug(parser)


def _check_flags(args):
    if args.signatures is None:
        for flag, value in (("--batch-size", args.batch_size),
                            ("--num-samples", args.num_samples)):
            if value is not None:
                raise _flags.UsageError(f"{flag} applies with --signatures only")
        return
    if args.format != "tflite":
        raise _flags.UsageError("--signatures needs --format tflite")
    if args.part is not None:
        raise _flags.UsageError("pass either --part or --signatures, not both")


def run(args):
    _check_flags(args)
    import exporters
    from tfvae import runs

    model = runs.load_model(args.model)
    quantize = None if args.quantize == "none" else args.quantize
    if args.signatures is None:
        part = args.part or "decoder"
        info = exporters.export(model, args.out, format=args.format, part=part,
                                quantize=quantize, overwrite=args.overwrite)
        print(f"wrote {args.out} ({args.format}, part={part}, quantize={args.quantize})")
        print(format_export_info(info))
        return
    info = exporters.export(model, args.out, format="tflite", signatures=args.signatures,
                            batch_size=args.batch_size, num_samples=args.num_samples or 1,
                            quantize=quantize, overwrite=args.overwrite)
    print(f"wrote {args.out} (tflite, signatures={','.join(info['signatures'])}, batch_size="
          f"{info['batch_size'] or 'dynamic'}, num_samples={info['num_samples']}, "
          f"quantize={args.quantize})")
    print(format_signatures_info(info))


def format_export_info(info):
    """One line of an export's parity and size figures."""
    parts = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
             for k, v in info.items() if "error" in k or k in ("size_bytes", "passed")]
    return "  " + "  ".join(parts) if parts else "  " + str(info)


def format_signatures_info(info):
    """One line per signature (parity, XNNPACK, latency), then the size and verdict."""
    lines = []
    for name in info["signatures"]:
        figures = info.get("parity", {}).get(name)
        detail = info["delegation"][name]
        xnnpack, latency = detail["xnnpack"], detail["latency_us"]
        parity = (f"max_abs_error {figures['max_abs_error']:.3g} (of "
                  f"{figures['reference_scale']:.3g})  " if figures else "")
        cpu = f", on CPU: {','.join(sorted(set(xnnpack['cpu'])))}" if xnnpack["cpu"] else ""
        lines.append(f"  {name}: {parity}XNNPACK {len(xnnpack['delegated'])}/"
                     f"{len(detail['ops'])} ops{cpu}  latency {latency['xnnpack']:.0f} µs "
                     f"({latency['no_delegate']:.0f} µs without XNNPACK)")
    lines.append(f"  size_bytes {info['size_bytes']}  non-builtin ops "
                 f"{info['non_builtin_ops'] or 'none'}  passed {info.get('passed')}")
    return "\n".join(lines)
