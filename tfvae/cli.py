"""The `tfvae` command: train, evaluate, sample, reconstruct, export, compare.

Each verb parses its flags and calls library functions (`tfvae.config.train`,
`tfvae.evaluation`, `tfvae.plots`, `exporters.export`); nothing is computed
here. A user error prints one line, `tfvae: error: ...`, and exits with 2
(bad usage) or 1 (anything else); `--debug` shows the traceback instead.

Examples:
    tfvae train                                   # embedded data -> runs/<timestamp>
    tfvae train --latent-dim 16 --architecture conv --epochs 30 --out runs/conv16
    tfvae train --resume runs/conv16              # continue after a crash or kill
    tfvae evaluate --model runs/conv16/model.keras --num-samples 1000 --binarize
    tfvae export --model runs/conv16/model.keras --format tflite --quantize int8 --out dec.tflite
"""

import argparse
import math
import os
import sys

from tfvae.config import (ARCHITECTURES, BINARIZATIONS, DEFAULTS, OBJECTIVES, PRECISIONS,
                          STRATEGIES, WARMUP_SCHEDULES)

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned", "continuous_bernoulli")
EXPORT_FORMATS = ("savedmodel", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the whole usage first; one line is easier to read.
        self.exit(2, f"tfvae: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonneg_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _float(minimum, strict):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            bound = f"> {minimum}" if strict else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}")
        return value
    return parse


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 512,256, got {text!r}")
    return values


def _debug_flag(parser):
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show Python tracebacks instead of one-line errors")


def _model_flag(parser):
    parser.add_argument("--model", required=True, metavar="FILE.keras",
                        help="a model saved by `tfvae train` (RUN/model.keras)")


def _data_flag(parser, default="default"):
    parser.add_argument("--data", default=default, metavar="NAME|PATH",
                        help="dataset name (default, mnist, fashion_mnist) or a local .npy, "
                             f".npz or IDX folder (default: {default})")
    parser.add_argument("--split", default="test", choices=("train", "test"),
                        help="which split to use (default: test)")
    parser.add_argument("--max-examples", type=_positive_int, default=None, metavar="N",
                        help="use only the first N examples (default: all)")


def _binarize_flag(parser):
    parser.add_argument("--binarize", action="store_true",
                        help="binarize the data once, each pixel drawn from Bernoulli(grey "
                             "level) with --seed (tfvae.datasets.binarize): a Bernoulli "
                             "model's log p(x) is a log-likelihood of 0/1 data only")


def build_parser():
    """The `tfvae` argument parser (exposed for docs and tests)."""
    parser = _Parser(prog="tfvae", description="Variational auto-encoders for Keras 3: "
                     "train, evaluate, sample, reconstruct, export and compare models.",
                     epilog="Run 'tfvae VERB --help' for the flags of a verb.")
    parser.add_argument("--debug", action="store_true",
                        help="show Python tracebacks instead of one-line errors")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    # train: defaults are SUPPRESSed so only flags the user gave override the
    # config file (or the resumed run's config.json).
    train = verbs.add_parser(
        "train", help="train a VAE into a run folder", argument_default=argparse.SUPPRESS,
        description="Train a VAE and write a run folder (model.keras, config.json, "
                    "history.csv, logs/, figures, metrics.json). Settings come from "
                    "the defaults, then --config, then the flags given.")
    d = DEFAULTS
    train.add_argument("--data", metavar="NAME|PATH",
                       help="dataset name (default, mnist, fashion_mnist) or a local .npy, "
                            f".npz or IDX folder (default: {d['data']})")
    train.add_argument("--architecture", choices=ARCHITECTURES,
                       help=f"built-in encoder/decoder (default: {d['architecture']})")
    train.add_argument("--latent-dim", type=_positive_int, metavar="D",
                       help=f"size of z; 2 also draws manifold figures (default: {d['latent_dim']})")
    train.add_argument("--likelihood", choices=LIKELIHOODS,
                       help=f"decoder distribution p(x|z) (default: {d['likelihood']})")
    train.add_argument("--hidden-units", type=_int_list, metavar="N,N",
                       help="widths of the mlp layers (default: "
                            f"{','.join(map(str, d['hidden_units']))})")
    train.add_argument("--filters", type=_int_list, metavar="N,N",
                       help="channels of the conv layers (default: "
                            f"{','.join(map(str, d['filters']))})")
    train.add_argument("--epochs", type=_positive_int, metavar="N",
                       help=f"total epochs, counting resumed ones (default: {d['epochs']})")
    train.add_argument("--batch-size", type=_positive_int, metavar="N",
                       help=f"global batch size (default: {d['batch_size']})")
    train.add_argument("--learning-rate", type=_float(0, strict=True), metavar="LR",
                       help=f"Adam learning rate (default: {d['learning_rate']})")
    train.add_argument("--beta", type=_float(0, strict=False), metavar="B",
                       help=f"weight of the KL term, 1 = ELBO (default: {d['beta']})")
    train.add_argument("--warmup-epochs", type=_nonneg_int, metavar="N",
                       help="anneal beta linearly from 0 over N epochs, 0 = off "
                            f"(default: {d['warmup_epochs']})")
    train.add_argument("--warmup-schedule", choices=WARMUP_SCHEDULES,
                       help="shape of the warm-up: linear, or cyclical (4 cycles, each rising "
                            f"over its first half) (default: {d['warmup_schedule']})")
    train.add_argument("--objective", choices=OBJECTIVES,
                       help="train on the ELBO or on the IWAE bound with --num-samples "
                            f"importance samples (default: {d['objective']})")
    train.add_argument("--num-samples", type=_positive_int, metavar="K",
                       help="samples of z per example in the training objective "
                            f"(default: {d['num_samples']})")
    train.add_argument("--free-bits", type=_float(0, strict=False), metavar="NATS",
                       help="free-bits floor on each latent dimension's KL, 0 = off "
                            f"(ELBO objective only) (default: {d['free_bits']})")
    train.add_argument("--binarization", choices=BINARIZATIONS,
                       help="binarize the data: once (static), every epoch (dynamic) or not "
                            f"(default: {d['binarization']})")
    train.add_argument("--strategy", choices=STRATEGIES,
                       help=f"tf.distribute strategy (default: {d['strategy']})")
    train.add_argument("--precision", choices=PRECISIONS,
                       help="Keras dtype policy of the networks; the likelihood, KL and "
                            "ELBO stay float32. Mixed precision pays on GPUs/TPUs "
                            f"(default: {d['precision']})")
    train.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                       help="compile the train step with XLA; measured slower on CPU "
                            "(default: off)")
    train.add_argument("--steps-per-execution", type=_positive_int, metavar="N",
                       help="train steps per call into TensorFlow "
                            f"(default: {d['steps_per_execution']})")
    train.add_argument("--seed", type=int, metavar="S",
                       help=f"seed for weights, sampling and shuffling (default: {d['seed']})")
    train.add_argument("--max-train-examples", type=_positive_int, metavar="N",
                       help="train on the first N examples only, for quick runs (default: all)")
    train.add_argument("--config", metavar="FILE",
                       help="JSON or YAML file of settings (keys as the flags, e.g. "
                            "latent_dim); flags given on the command line win")
    train.add_argument("--out", metavar="RUN",
                       help="run folder to create (default: runs/<timestamp>)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run files in a non-empty --out folder")
    train.add_argument("--resume", metavar="RUN",
                       help="continue the run in RUN from its last completed epoch, using "
                            "RUN/config.json (flags such as --epochs still override)")
    noise = train.add_mutually_exclusive_group()
    noise.add_argument("--quiet", action="store_true",
                       help="no progress output (Keras verbose=0)")
    noise.add_argument("--verbose", action="store_true",
                       help="always show the progress bar (default: bar on a terminal, "
                            "one line per epoch otherwise)")
    _debug_flag(train)
    train.set_defaults(func=_train)

    evaluate = verbs.add_parser(
        "evaluate", help="ELBO, IWAE bound, log-likelihood, KL per latent, active units",
        description="Evaluate a model on a data split: ELBO, the IWAE-k bound, the "
                    "importance-sampled negative log-likelihood (nats and bits/dim), "
                    "the KL of each latent dimension and the number of active units.")
    _model_flag(evaluate)
    _data_flag(evaluate)
    evaluate.add_argument("--num-samples", type=_positive_int, default=1000, metavar="K",
                          help="importance samples for log p(x) (default: 1000)")
    evaluate.add_argument("--iwae-k", type=_positive_int, default=50, metavar="k",
                          help="samples for the IWAE-k bound (default: 50)")
    evaluate.add_argument("--seed", type=int, default=0,
                          help="seed of the estimates and of --binarize (default: 0)")
    _binarize_flag(evaluate)
    _debug_flag(evaluate)
    evaluate.set_defaults(func=_evaluate)

    sample = verbs.add_parser("sample", help="draw samples from the prior into a PNG grid",
                              description="Decode z ~ p(z) and save the means as a PNG grid.")
    _model_flag(sample)
    sample.add_argument("--n", type=_positive_int, default=64, help="samples (default: 64)")
    sample.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    sample.add_argument("--out", required=True, metavar="FILE.png", help="PNG to write")
    sample.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    _debug_flag(sample)
    sample.set_defaults(func=_sample)

    reconstruct = verbs.add_parser(
        "reconstruct", help="save examples next to their reconstructions",
        description="Save N examples and their reconstructions (decoded posterior means).")
    _model_flag(reconstruct)
    _data_flag(reconstruct)
    reconstruct.add_argument("--n", type=_positive_int, default=10,
                             help="examples shown (default: 10)")
    reconstruct.add_argument("--out", required=True, metavar="FILE.png", help="PNG to write")
    reconstruct.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    _debug_flag(reconstruct)
    reconstruct.set_defaults(func=_reconstruct)

    export = verbs.add_parser(
        "export", help="export the decoder (or model) to SavedModel or TFLite",
        description="Export part of a model, check it against the Keras model and print "
                    "the parity figures and the size.")
    _model_flag(export)
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                        help="artifact format")
    export.add_argument("--part", default="decoder",
                        help="what to export, e.g. decoder (default: decoder)")
    export.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                        help="TFLite quantization (default: none)")
    export.add_argument("--out", required=True, metavar="PATH",
                        help="artifact path (a folder for savedmodel, .tflite for tflite)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    _debug_flag(export)
    export.set_defaults(func=_export)

    compare = verbs.add_parser(
        "compare", help="compare models by importance-sampled log p(X|M)",
        description="Score models on the same data by log evidence log p(X|M) "
                    "(total and per example ± s.e.), the ELBO gap, and name the preferred one.")
    compare.add_argument("models", nargs="+", metavar="MODEL.keras", help="models to compare")
    _data_flag(compare)
    compare.add_argument("--num-samples", type=_positive_int, default=1000, metavar="K",
                         help="importance samples per example (default: 1000)")
    compare.add_argument("--names", type=lambda s: s.split(","), default=None,
                         metavar="A,B", help="names for the table (default: file names)")
    compare.add_argument("--seed", type=int, default=0,
                         help="seed of the estimates and of --binarize (default: 0)")
    _binarize_flag(compare)
    _debug_flag(compare)
    compare.set_defaults(func=_compare)
    return parser


# ---- verbs -------------------------------------------------------------------------


def _train(args):
    from tfvae import config as run_config

    flags = {k: v for k, v in vars(args).items() if k in DEFAULTS}
    if getattr(args, "resume", None):
        if getattr(args, "out", None) or getattr(args, "config", None):
            raise _UsageError("--resume continues RUN in place; it takes no --out or --config")
        base = run_config.read_run_config(args.resume)
        out, resume = args.resume, True
    else:
        base = run_config.load_config(args.config) if getattr(args, "config", None) else None
        out, resume = getattr(args, "out", None) or run_config.default_run_dir(), False
    config = run_config.resolve(flags, base=base)
    verbose = 0 if getattr(args, "quiet", False) else (
        1 if getattr(args, "verbose", False) or sys.stdout.isatty() else 2)
    print(f"tfvae: {'resuming' if resume else 'training'} into {out}", flush=True)
    result = run_config.train(config, out, resume=resume,
                              overwrite=getattr(args, "overwrite", False), verbose=verbose)
    if result["initial_epoch"]:
        print(f"resumed after epoch {result['initial_epoch']}")
    m = result["metrics"]
    print(f"test: loss {m['loss']:.3f}  elbo {m['elbo']:.3f}  reconstruction "
          f"{m['reconstruction']:.3f}  kl {m['kl']:.3f} (nats per example)")
    print(f"wrote {out}: " + ", ".join(sorted(os.path.basename(p)
                                              for p in result["files"].values())))


def _load_examples(args, model):
    from tfvae.config import load_data

    x = load_data(args.data, args.split)
    if args.max_examples:
        x = x[:args.max_examples]
    if tuple(x.shape[1:]) != tuple(model.data_shape):
        raise ValueError(f"The data {args.data!r} has examples of shape {x.shape[1:]}; "
                         f"the model expects {tuple(model.data_shape)}.")
    if getattr(args, "binarize", False):
        from tfvae import datasets

        x = datasets.binarize(x, seed=args.seed)
    return x


def _check_densities(models, x):
    """The library's check that each likelihood is a density of x, before any work,
    with the flag that fixes the common case."""
    for model in models:
        try:
            model.likelihood.check_density(x, name="--data")
        except ValueError as e:
            raise ValueError(f"{e} From the command line: add --binarize.") from e


def _evaluate(args):
    from tfvae import evaluation
    from tfvae.config import load_model

    model = load_model(args.model)
    x = _load_examples(args, model)
    _check_densities([model], x)
    dims = math.prod(model.data_shape)
    elbo = evaluation.elbo(model, x, seed=args.seed).mean()
    iwae = evaluation.iwae_bound(model, x, num_samples=args.iwae_k, seed=args.seed).mean()
    log_px = evaluation.log_marginal_likelihood(model, x, num_samples=args.num_samples,
                                                seed=args.seed)
    nll = -log_px.mean()
    stderr = log_px.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else float("nan")
    kl = evaluation.per_latent_kl(model, x)
    binarized = f", binarized with seed {args.seed}" if args.binarize else ""
    print(f"{args.model} on {args.data} ({args.split}, {len(x)} examples, {dims} dims"
          f"{binarized})")
    print(f"{'ELBO':<20}{elbo:10.3f} nats")
    print(f"{f'IWAE-{args.iwae_k}':<20}{iwae:10.3f} nats")
    print(f"{f'IS-NLL (K={args.num_samples})':<20}{nll:10.3f} ± {stderr:.3f} nats   "
          f"{nll / (dims * math.log(2)):.4f} bits/dim")
    print(f"{'KL per latent':<20}" + " ".join(f"{v:.3f}" for v in kl) + f"   (total {kl.sum():.3f})")
    print(f"{'active units':<20}{evaluation.active_units(model, x)} / {model.latent_dim}")


def _sample(args):
    from tfvae import plots
    from tfvae.config import load_model

    model = load_model(args.model)
    print("wrote", plots.save_sample_grid(model, args.out, n=args.n, seed=args.seed,
                                          overwrite=args.overwrite))


def _reconstruct(args):
    from tfvae import plots
    from tfvae.config import load_model

    model = load_model(args.model)
    x = _load_examples(args, model)
    print("wrote", plots.save_reconstructions(model, x, args.out, n=args.n,
                                              overwrite=args.overwrite))


def _export(args):
    import exporters
    from tfvae.config import load_model

    model = load_model(args.model)
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


def _compare(args):
    from tfvae import evaluation
    from tfvae.config import load_model

    models = [load_model(path) for path in args.models]
    names = args.names or [_model_name(path) for path in args.models]
    if not args.names and len(set(names)) != len(names):
        names = list(args.models)
    x = _load_examples(args, models[0])
    _check_densities(models, x)
    result = evaluation.compare(models, x, num_samples=args.num_samples, names=names,
                                seed=args.seed)
    print(result.to_markdown())


def _model_name(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return f"{parent}/{stem}" if stem == "model" and parent else stem


# ---- entry point -------------------------------------------------------------------


class _UsageError(Exception):
    pass


def main(argv=None):
    """Runs the `tfvae` command line; returns 0 or raises SystemExit."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    try:
        args.func(args)
    except _UsageError as e:
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


if __name__ == "__main__":
    sys.exit(main())
