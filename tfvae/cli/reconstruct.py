"""`tfvae reconstruct`: examples beside their reconstructions (`tfvae.plots`)."""

from tfvae.cli import _flags

HELP = "save examples next to their reconstructions"
DESCRIPTION = ("Save N examples and their reconstructions (decoded posterior means). By "
               "default from the test split of the data the model's run trained on, "
               "binarized as the run did.")


def add_arguments(parser):
    _flags.model(parser)
    _flags.data(parser)
    parser.add_argument("--n", type=_flags.positive_int("n"), default=10, metavar="N",
                        help="examples shown (default: 10)")
    _flags.output(parser, "FILE.png", "PNG to write")
    _flags.debug(parser)


def run(args):
    from tfvae import plots, runs

    model = runs.load_model(args.model)
    examples = _flags.examples(args, [args.model], model)
    print("wrote", plots.save_reconstructions(model, examples.x, args.out, n=args.n,
                                              overwrite=args.overwrite, labels=examples.y))
