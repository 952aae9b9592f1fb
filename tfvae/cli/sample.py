"""`tfvae sample`: decode draws from the prior into a PNG grid (`tfvae.plots.save_sample_grid`)."""

from tfvae.cli import _flags

HELP = "draw samples from the prior into a PNG grid"
DESCRIPTION = "Decode z ~ p(z) and save the means as a PNG grid."


def add_arguments(parser):
    _flags.model(parser)
    parser.add_argument("--n", type=_flags.positive_int("n"), default=64, metavar="N",
                        help="samples (default: 64)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default: 0)")
    _flags.output(parser, "FILE.png", "PNG to write")
    _flags.debug(parser)


def run(args):
    from tfvae import plots, runs

    model = runs.load_model(args.model)
    print("wrote", plots.save_sample_grid(model, args.out, n=args.n, seed=args.seed,
                                          overwrite=args.overwrite))
