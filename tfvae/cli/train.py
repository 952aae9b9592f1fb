"""`tfvae train`: a `RunConfig` from defaults, --config and flags, then `tfvae.runs.train`.

The flags are generated from the `RunConfig` fields, so their defaults and
help live in one place; building them imports the modules that own the
allow-lists (and with them TensorFlow).
"""

import argparse
import dataclasses
import os
import sys

from tfvae.cli import _flags

HELP = "train a VAE into a run folder"
DESCRIPTION = ("Train a VAE and write a run folder (model.keras, config.json, data.json, "
               "history.csv, logs/, figures, metrics.json). Settings come from the defaults, "
               "then --config, then the flags given.")
# Defaults are suppressed: only the flags given override --config (or the
# resumed run's config.json).
PARSER_OPTIONS = {"argument_default": argparse.SUPPRESS}


def add_arguments(parser):
    run_config = _flags.quiet_import("tfvae.run_config")
    for field in dataclasses.fields(run_config.RunConfig):
        _flags.config_flag(parser, field)
    parser.add_argument("--config", metavar="FILE",
                        help="JSON or YAML file of settings (keys as the flags, e.g. "
                             "latent_dim); flags given on the command line win")
    parser.add_argument("--out", metavar="RUN",
                        help="run folder to create (default: runs/<timestamp>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run files in a non-empty --out folder")
    parser.add_argument("--resume", metavar="RUN",
                        help="continue the run in RUN from its last completed epoch, using "
                             "RUN/config.json (flags such as --epochs still override)")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--quiet", action="store_true",
                       help="no progress output (Keras verbose=0)")
    noise.add_argument("--verbose", action="store_true",
                       help="always show the progress bar, and TensorFlow's log lines "
                            "(default: bar on a terminal, one line per epoch otherwise)")
    _flags.debug(parser)


def run(args):
    from tfvae import runs
    from tfvae.run_config import KEYS, RunConfig

    flags = {k: v for k, v in vars(args).items() if k in KEYS}
    if getattr(args, "resume", None):
        if getattr(args, "out", None) or getattr(args, "config", None):
            raise _flags.UsageError("--resume continues RUN in place; it takes no --out or "
                                    "--config")
        base, out, resume = runs.read_run_config(args.resume), args.resume, True
    else:
        base = RunConfig.from_file(args.config) if getattr(args, "config", None) else RunConfig()
        out, resume = getattr(args, "out", None) or runs.default_run_dir(), False
    config = base.merge(flags)
    verbose = 0 if getattr(args, "quiet", False) else (
        1 if getattr(args, "verbose", False) or sys.stdout.isatty() else 2)
    print(f"tfvae: {'resuming' if resume else 'training'} into {out}", flush=True)
    result = runs.train(config, out, resume=resume, overwrite=getattr(args, "overwrite", False),
                        verbose=verbose)
    if result["initial_epoch"]:
        print(f"resumed after epoch {result['initial_epoch']}")
    m = result["metrics"]
    print(f"test: loss {m['loss']:.3f}  elbo {m['elbo']:.3f}  reconstruction "
          f"{m['reconstruction']:.3f}  kl {m['kl']:.3f} (nats per example, "
          f"{m['num_test_examples']} examples)")
    print(f"wrote {out}: " + ", ".join(sorted(os.path.basename(p)
                                              for p in result["files"].values())))
