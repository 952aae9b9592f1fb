"""What the `tfvae` verbs share: the parser class, flag helpers and quiet imports.

Nothing here imports TensorFlow at module level: `tfvae --help` and most
argument errors answer without it. Modules that do import it go through
`quiet_import`, which hides TensorFlow's start-up log lines (oneDNN, CUDA,
absl) unless the command line says `--verbose` or `--debug`.
"""

import argparse
import contextlib
import importlib
import os
import sys
import types

# Set by `tfvae.cli.main`: False with --verbose or --debug.
QUIET = True


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the whole usage first; one line is easier to read.
        self.exit(2, f"tfvae: error: {message} (see '{self.prog} --help')\n")


class UsageError(Exception):
    """A combination of flags the parser cannot refuse by itself; exits with 2."""


# ---- quiet imports ---------------------------------------------------------------


def quiet_import(name):
    """Imports module `name`; TensorFlow's first import prints nothing unless not QUIET."""
    if name in sys.modules or not QUIET or "tensorflow" in sys.modules:
        return importlib.import_module(name)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    # TF_CPP_MIN_LOG_LEVEL=3 still lets through the lines TensorFlow's C++
    # libraries log while they load (before absl::InitializeLog): the
    # process's stderr is closed for the import alone, then restored.
    with _stderr_to_devnull():
        return importlib.import_module(name)


@contextlib.contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# ---- argument types --------------------------------------------------------------


def positive_int(name):
    """An argparse type: an integer checked by `tfvae.validation.check_positive_int`."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") \
                from None
        validation = quiet_import("tfvae.validation")
        try:
            return validation.check_positive_int(value, name)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def config_flag(parser, field):
    """Adds the flag of one `RunConfig` field: its name, help, metavar, choices and check."""
    meta = field.metadata
    flag = "--" + field.name.replace("_", "-")
    default = field.default
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    elif isinstance(default, bool):
        default = "on" if default else "off"
    help = meta["help"]
    if "(default:" not in help:
        help = f"{help} (default: {default})"
    if field.type is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help)
    elif meta["choices"]:
        parser.add_argument(flag, choices=meta["choices"], help=help)
    else:
        parser.add_argument(flag, type=_checked(field), metavar=meta["metavar"], help=help)


def _checked(field):
    kind = field.type
    if isinstance(kind, types.UnionType):  # `int | None`: a flag always gives a value
        kind = next(t for t in kind.__args__ if t is not type(None))
    parse = {int: int, float: float}.get(kind, str)

    def check(text):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if parse is int else 'a number'}, got {text!r}") \
                from None
        run_config = quiet_import("tfvae.run_config")
        try:
            return run_config.check_field(field.name, value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return check


# ---- flags shared by verbs -------------------------------------------------------


def debug(parser):
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show Python tracebacks instead of one-line errors")


def model(parser):
    parser.add_argument("--model", required=True, metavar="FILE.keras",
                        help="a model saved by `tfvae train` (RUN/model.keras)")


def output(parser, metavar, help):
    parser.add_argument("--out", required=True, metavar=metavar, help=help)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def data(parser):
    """--data, --split, --max-examples, and --binarize/--no-binarize with --seed."""
    from tfvae import datasets

    parser.add_argument("--data", default=None, metavar="NAME|PATH",
                        help="dataset name (default, mnist, fashion_mnist) or a local .npy/.npz "
                             "file, IDX folder or folder of images (default: the data of the "
                             "model's run, from config.json beside it, else default)")
    parser.add_argument("--split", default="test", choices=datasets.SPLITS,
                        help="which split to use (default: test)")
    parser.add_argument("--max-examples", type=positive_int("max_examples"), default=None,
                        metavar="N", help="use only the first N examples (default: all)")
    parser.add_argument("--binarize", action=argparse.BooleanOptionalAction, default=None,
                        help="binarize the data once, each pixel drawn from Bernoulli(grey "
                             "level) with --seed (tfvae.datasets.binarize): a Bernoulli "
                             "model's log p(x) is a log-likelihood of 0/1 data only "
                             "(default: as the model's run did, else no)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="seed of the binarization and of the estimates (default: the "
                             "run's seed, else 0)")


def examples(args, model_paths, model):
    """The examples the data flags select for `model` (`tfvae.runs.examples_for`),
    with their labels when the model is conditional."""
    from tfvae import runs

    return runs.examples_for(model_paths, model.data_shape, data=args.data, split=args.split,
                             binarize=args.binarize, seed=args.seed,
                             max_examples=args.max_examples,
                             labels=model.condition is not None)


def check_densities(models, x):
    """The library's check that each likelihood is a density of x, before any work,
    with the flag that fixes the common case."""
    for m in models:
        try:
            m.likelihood.check_density(x, name="--data")
        except ValueError as e:
            raise ValueError(f"{e} From the command line: add --binarize.") from e
