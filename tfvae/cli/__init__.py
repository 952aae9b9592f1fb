"""The `tfvae` command: parse the command line and dispatch to one module per verb.

Each verb (`train`, `evaluate`, `sample`, `reconstruct`, `export`, `compare`)
is a module here with its flags (`add_arguments`) next to its handler (`run`),
which calls library functions (`tfvae.runs`, `tfvae.evaluation`,
`tfvae.plots`, `exporters`); nothing is computed here. A user error prints
one line, `tfvae: error: ...`, and exits with 2 (bad usage) or 1 (anything
else); `--debug` shows the traceback instead.

Only the verb on the command line gets its flags, so `tfvae --help`,
`tfvae VERB --help` and argument errors answer without importing TensorFlow
(except for `train`, whose flags come from `tfvae.run_config`).

Examples:
    tfvae train                                   # embedded data -> runs/<timestamp>
    tfvae train --latent-dim 16 --architecture conv --epochs 30 --out runs/conv16
    tfvae train --resume runs/conv16              # continue after a crash or kill
    tfvae evaluate --model runs/conv16/model.keras --num-samples 1000
    tfvae export --model runs/conv16/model.keras --format tflite --quantize int8 --out dec.tflite
"""

import sys

from tfvae.cli import _flags, compare, evaluate, export, reconstruct, sample, train

VERBS = {"train": train, "evaluate": evaluate, "sample": sample, "reconstruct": reconstruct,
         "export": export, "compare": compare}


def build_parser(verbs=None):
    """The `tfvae` argument parser.

    Args:
        verbs: None (every verb gets its flags) or the names of the verbs that
            do; the others are listed with their help only.
    """
    parser = _flags.Parser(prog="tfvae", description="Variational auto-encoders for Keras 3: "
                           "train, evaluate, sample, reconstruct, export and compare models.",
                           epilog="Run 'tfvae VERB --help' for the flags of a verb.")
    parser.add_argument("--debug", action="store_true",
                        help="show Python tracebacks instead of one-line errors")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_flags.Parser)
    for name, module in VERBS.items():
        verb = subparsers.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                                     **getattr(module, "PARSER_OPTIONS", {}))
        if verbs is None or name in verbs:
            module.add_arguments(verb)
            verb.set_defaults(func=module.run)
    return parser


def main(argv=None):
    """Runs the `tfvae` command line; returns 0 or raises SystemExit."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _flags.QUIET = not {"--verbose", "--debug"} & set(argv)
    # No top-level flag takes a value: the first word that is not a flag is the verb.
    verb = next((word for word in argv if not word.startswith("-")), None)
    parser = build_parser(verbs={verb})
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    try:
        _flags.quiet_import("tensorflow")
        args.func(args)
    except _flags.UsageError as e:
        if args.debug:
            raise
        parser.exit(2, f"tfvae: error: {e}\n")
    except (ValueError, OSError, FloatingPointError, ImportError) as e:
        if args.debug:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        parser.exit(1, f"tfvae: error: {message}\n")
    except KeyboardInterrupt:
        parser.exit(130, "tfvae: interrupted\n")
    return 0
