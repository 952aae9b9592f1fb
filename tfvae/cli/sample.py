"""`tfvae sample`: decode draws from the prior into a PNG grid (`tfvae.plots`).

A class-conditional model draws the class given by `--label` (a name or an
id), or without it a class × sample grid (`tfvae.plots.save_class_grid`).
"""

from tfvae.cli import _flags

HELP = "draw samples from the prior into a PNG grid"
DESCRIPTION = ("Decode z ~ p(z) and save the means as a PNG grid. A class-conditional model "
               "draws one class (--label), or every class, one row each.")


def add_arguments(parser):
    _flags.model(parser)
    parser.add_argument("--n", type=_flags.positive_int("n"), default=64, metavar="N",
                        help="samples (default: 64)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default: 0)")
    parser.add_argument("--label", default=None, metavar="NAME|ID",
                        help="class-conditional models: the class to draw, by name (e.g. "
                             "trouser) or id (default: a class × sample grid, N // classes "
                             "per class)")
    _flags.output(parser, "FILE.png", "PNG to write")
    _flags.debug(parser)


def run(args):
    from tfvae import plots, runs

    from tfvae import conditioning

    model = runs.load_model(args.model)
    condition = model.condition
    if condition is not None and condition.num_classes is None:
        raise ValueError("This model is conditioned on a vector (condition_shape); draw "
                         "from it in Python: model.sample(n, labels=...).")
    if args.label is not None and condition is None:
        raise _flags.UsageError("--label applies to class-conditional models; this model "
                                "is unconditional")
    if condition is not None and args.label is None:
        written = plots.save_class_grid(model, args.out, per_class=max(
            1, args.n // condition.num_classes), seed=args.seed, overwrite=args.overwrite)
    else:
        label = None if args.label is None else conditioning.class_index(
            args.label, model.class_names, condition.num_classes)
        written = plots.save_sample_grid(model, args.out, n=args.n, seed=args.seed,
                                         overwrite=args.overwrite, labels=label)
    print("wrote", written)
