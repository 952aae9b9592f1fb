"""`tfvae compare`: rank models by log evidence with `tfvae.evaluation.compare`."""

import os

from tfvae.cli import _flags

HELP = "compare models by importance-sampled log p(X|M)"
DESCRIPTION = ("Score models on the same data by log evidence log p(X|M) (total and per "
               "example ± s.e.), the ELBO gap, and name the preferred one. By default on the "
               "test split of the data the models' runs trained on.")


def add_arguments(parser):
    parser.add_argument("models", nargs="+", metavar="MODEL.keras", help="models to compare")
    _flags.data(parser)
    parser.add_argument("--num-samples", type=_flags.positive_int("num_samples"), default=1000,
                        metavar="K", help="importance samples per example (default: 1000)")
    parser.add_argument("--names", type=lambda s: s.split(","), default=None, metavar="A,B",
                        help="names for the table (default: file names)")
    _flags.debug(parser)


def run(args):
    from tfvae import evaluation, runs

    models = [runs.load_model(path) for path in args.models]
    names = args.names or [_model_name(path) for path in args.models]
    if not args.names and len(set(names)) != len(names):
        names = list(args.models)
    examples = _flags.examples(args, args.models, models[0])
    _flags.check_densities(models, examples.x)
    result = evaluation.compare(models, examples.x, num_samples=args.num_samples, names=names,
                                seed=examples.seed, labels=examples.y)
    print(f"on {examples.describe()}")
    print(result.to_markdown())


def _model_name(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return f"{parent}/{stem}" if stem == "model" and parent else stem
