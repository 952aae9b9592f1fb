"""`tfvae evaluate`: print `tfvae.evaluation.report` for a model on its run's test data."""

from tfvae.cli import _flags

HELP = "ELBO, IWAE bound, log-likelihood, KL per latent, active units"
DESCRIPTION = ("Evaluate a model on a data split: ELBO, the IWAE-k bound, the importance-"
               "sampled negative log-likelihood (nats and bits/dim), the KL of each latent "
               "dimension and the number of active units. By default on the test split of "
               "the data the model's run trained on, binarized as the run did.")


def add_arguments(parser):
    _flags.model(parser)
    _flags.data(parser)
    parser.add_argument("--num-samples", type=_flags.positive_int("num_samples"), default=1000,
                        metavar="K", help="importance samples for log p(x) (default: 1000)")
    parser.add_argument("--iwae-k", type=_flags.positive_int("iwae_k"), default=50,
                        metavar="k", help="samples for the IWAE-k bound (default: 50)")
    _flags.debug(parser)


def run(args):
    from tfvae import evaluation, runs

    model = runs.load_model(args.model)
    examples = _flags.examples(args, [args.model], model)
    _flags.check_densities([model], examples.x)
    report = evaluation.report(model, examples.x, num_samples=args.num_samples,
                               iwae_k=args.iwae_k, seed=examples.seed, labels=examples.y)
    given = "" if examples.y is None else ", log p(x | y) given the labels"
    print(f"{args.model} on {examples.describe()}{given}")
    print(report.to_text())
