"""Class-conditional VAE on Fashion-MNIST: is the label used, and what is it worth?

A conditional conv VAE (`tfvae.VAE(..., num_classes=10)`) and an unconditional
twin (same networks, latent size, optimizer, batch and time budget) train on
Fashion-MNIST binarized afresh every epoch. Three questions:

1. Class-conditional samples: a plain CNN classifier, trained here on the real
   (grey) training images and nothing else, labels `--samples-per-class`
   decoded means of z ~ p(z) drawn for each class; the score is the fraction
   labelled with the class asked for (goal ≥ 85%). For scale, the same judge
   also labels the test images and their reconstructions (decoded means at
   the posterior mean, given the true label): a VAE's decoded means are
   smoother than real images, and the reconstructions show how the judge
   reads them where the class is not in doubt.
2. The conditional model as a generative classifier: the test accuracy of
   argmax_y p(y | x) ∝ p(x | y) p(y), uniform p(y), from importance-sampled
   log p(x | y) (`tfvae.evaluation.classify`).
3. Conditional NLL −log p(x | y) against the unconditional −log p(x), both
   importance-sampled with K samples on the same binarized test images. The
   gap is at most the label's information about x for exact models; since a
   test image nearly determines its class, that is H(y) ≈ log 10 = 2.30 nats.

    python benchmarks/conditional.py --minutes 10

Training stops at the first batch after `--minutes` of wall-clock time per
model (2 cores here); the CPU seconds the process used are reported too.
`--precision mixed_bfloat16` trains both in bfloat16 (the probabilities stay
float32). `--curve` also measures the samples and reconstructions after every
epoch of the conditional model, outside the budget.
"""

import argparse
import os
import time

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import command, machine, provenance

import keras
import numpy as np

import tfvae
from tfvae import atomic, datasets, evaluation
from tfvae.run_config import PRECISIONS

FASHION = "/usr/share/datasets/fashion-mnist"

## Data


def load(data):
    """(x_train, y_train, x_test, y_test): grey images in [0, 1] and int labels."""
    x_train, y_train = datasets.load(data, "train", labels=True)
    x_test, y_test = datasets.load(data, "test", labels=True)
    return x_train, y_train, x_test, y_test

## The judge: a plain classifier of real images, written here and not in the library


def train_judge(x, y, epochs, seed):
    keras.utils.set_random_seed(seed)
    judge = keras.Sequential([
        keras.Input((28, 28)), keras.layers.Reshape((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    judge.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    judge.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
    return judge

## The VAEs, on the same budget


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the first batch end after `seconds` of wall-clock time.

    `pause(s)` moves the deadline: time spent measuring is not training time.
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start = seconds, time.perf_counter()

    def pause(self, seconds):
        self.start += seconds

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


class Curve(keras.callbacks.Callback):
    """After every epoch, the sample agreement and the judge on reconstructions.

    Its own time is given back to the budget, so a run with a curve trains as
    long as one without.
    """

    def __init__(self, judge, x_bits, y, budget, args):
        super().__init__()
        self.judge, self.x_bits, self.y, self.budget, self.args = judge, x_bits, y, budget, args
        self.points, self.start = [], time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        agreement, _, _ = sample_agreement(self.model, self.judge,
                                           self.args.samples_per_class, self.args.seed)
        self.points.append({
            "epoch": epoch + 1, "loss": float(logs["loss"]), "kl": float(logs["kl"]),
            "train_s": round(start - self.start, 1), "sample_agreement": agreement,
            "judge_reconstruction_accuracy": judge_reconstructions(
                self.model, self.judge, self.x_bits, self.y)})
        spent = time.perf_counter() - start
        self.budget.pause(spent)
        self.start += spent


def train_vae(conditional, x, y, args, curve=None):
    keras.utils.set_random_seed(args.seed)
    model = tfvae.VAE((28, 28), args.latent_dim, architecture="conv", seed=args.seed,
                      dtype=args.precision,
                      num_classes=10 if conditional else None,
                      class_names=datasets.FASHION_MNIST_CLASSES if conditional else None)
    model.compile()                    # the library's defaults (FusedAdam 1e-3 and the rest)
    data = datasets.make_dataset(x, args.batch_size, binarization="dynamic", seed=args.seed,
                                 labels=y if conditional else None)
    wall, cpu = time.perf_counter(), time.process_time()
    budget = TimeBudget(args.minutes * 60)
    callbacks = [budget]
    if curve is not None:
        callbacks.append(Curve(*curve, budget, args))
    history = model.fit(data, epochs=10_000, verbose=0, callbacks=callbacks)
    info = {"epochs": len(history.history["loss"]),
            "train_wall_s": round(time.perf_counter() - wall, 1),
            "train_cpu_s": round(time.process_time() - cpu, 1)}
    if curve is not None:
        info["curve"] = callbacks[-1].points
    return model, info

## The three questions


def sample_agreement(model, judge, per_class, seed):
    """Fraction of class-c samples the judge labels c, overall and per class."""
    asked = np.repeat(np.arange(10), per_class)
    samples = np.concatenate([np.asarray(model.sample(per_class, labels=c, seed=seed + c))
                              for c in range(10)])
    judged = judge.predict(samples, batch_size=500, verbose=0).argmax(axis=1)
    per = [float(np.mean(judged[asked == c] == c)) for c in range(10)]
    return float(np.mean(judged == asked)), per, samples


def judge_reconstructions(model, judge, x_bits, y):
    """The judge's accuracy on reconstructions of x_bits given their labels y."""
    reconstructions = np.asarray(model.reconstruct(x_bits, labels=y))
    return float(np.mean(judge.predict(reconstructions, batch_size=500,
                                       verbose=0).argmax(1) == y))


def nll(model, x, labels, args):
    log_px = evaluation.log_marginal_likelihood(model, x, num_samples=args.num_samples,
                                                seed=args.seed, labels=labels)
    return float(-log_px.mean()), float(log_px.std(ddof=1) / np.sqrt(len(log_px)))


def run(args):
    x_train, y_train, x_test, y_test = load(args.data)
    if args.quick:
        x_train, y_train = x_train[:512], y_train[:512]
    x_bits = datasets.binarize(x_test, seed=args.seed)    # the scored test images, once
    result = {"data": args.data, "num_train": len(x_train), "num_test": len(x_test)}

    start = time.perf_counter()
    judge = train_judge(x_train, y_train, args.judge_epochs, args.seed)
    result["judge_test_accuracy"] = float(judge.evaluate(x_test, y_test, verbose=0)[1])
    result["judge_s"] = round(time.perf_counter() - start, 1)

    n = args.classify_examples
    models = {}
    for name, conditional in (("conditional", True), ("unconditional", False)):
        curve = (judge, x_bits[:n], y_test[:n]) if conditional and args.curve else None
        models[name], result[name] = train_vae(conditional, x_train, y_train, args, curve)

    cvae = models["conditional"]
    agreement, per_class, _ = sample_agreement(cvae, judge, args.samples_per_class,
                                               args.seed)
    result.update(sample_agreement=agreement, sample_agreement_per_class=per_class)
    result["judge_reconstruction_accuracy"] = judge_reconstructions(cvae, judge, x_bits[:n],
                                                                    y_test[:n])
    if args.figure:
        from tfvae import plots

        plots.save_class_grid(cvae, args.figure, per_class=10, seed=args.seed, overwrite=True)

    start = time.perf_counter()
    posterior = evaluation.classify(cvae, x_bits[:n], num_samples=args.classify_samples,
                                    seed=args.seed)
    result.update(classify_accuracy=float(np.mean(posterior.argmax(1) == y_test[:n])),
                  classify_examples=n, classify_s=round(time.perf_counter() - start, 1))

    n = args.eval_examples
    result["conditional"]["nll"], result["conditional"]["nll_se"] = nll(
        cvae, x_bits[:n], y_test[:n], args)
    result["unconditional"]["nll"], result["unconditional"]["nll_se"] = nll(
        models["unconditional"], x_bits[:n], None, args)
    result["eval_examples"] = n
    return result


def report(r, args):
    c, u = r["conditional"], r["unconditional"]
    print(f"Fashion-MNIST ({r['data']}), {r['num_train']} training images binarized each "
          f"epoch; conv VAE, latent {args.latent_dim}, batch {args.batch_size}, "
          f"{args.precision}, {args.minutes:g} min per model")
    print(f"{'model':<14} {'epochs':>6} {'wall s':>7} {'CPU s':>7}  "
          f"{'test NLL, K=' + str(args.num_samples):<21} {'± s.e.':>7}")
    for name, m, what in (("conditional", c, "−log p(x|y)"), ("unconditional", u, "−log p(x)")):
        print(f"{name:<14} {m['epochs']:>6} {m['train_wall_s']:>7.0f} {m['train_cpu_s']:>7.0f}  "
              f"{m['nll']:>8.2f} {what:<12} {m['nll_se']:>7.2f}")
    print(f"NLL gap, −log p(x) − (−log p(x|y)): {u['nll'] - c['nll']:.2f} nats on "
          f"{r['eval_examples']} test images (ideal ≈ log 10 = 2.30)")
    print(f"judge (plain CNN on real images): test accuracy {r['judge_test_accuracy']:.1%}; "
          f"on the conditional model's reconstructions of {r['classify_examples']} test "
          f"images {r['judge_reconstruction_accuracy']:.1%}")
    print(f"class-conditional samples labelled as asked: {r['sample_agreement']:.1%} "
          f"({args.samples_per_class} per class; goal ≥ 85%)")
    print("  per class: " + ", ".join(
        f"{name} {v:.0%}" for name, v in zip(datasets.FASHION_MNIST_CLASSES,
                                              r["sample_agreement_per_class"])))
    print(f"generative classifier argmax p(y|x), K={args.classify_samples}: test accuracy "
          f"{r['classify_accuracy']:.1%} on {r['classify_examples']} images "
          f"({r['classify_s']:.0f} s)")
    if "curve" in c:
        print("conditional model after each epoch (training minutes, the measuring excluded):")
        print(f"{'epoch':>5} {'minutes':>7} {'loss':>8} {'KL':>6} {'samples as asked':>17} "
              f"{'judge on reconstructions':>25}")
        for p in c["curve"]:
            print(f"{p['epoch']:>5} {p['train_s'] / 60:>7.1f} {p['loss']:>8.2f} {p['kl']:>6.2f} "
                  f"{p['sample_agreement']:>17.1%} {p['judge_reconstruction_accuracy']:>25.1%}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=FASHION if os.path.isdir(FASHION) else "default",
                        help="Fashion-MNIST IDX folder or a tfvae.datasets name "
                             f"(default: {FASHION} if present, else the embedded subset)")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="wall-clock training budget per model")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="the models' Keras dtype policy, e.g. mixed_bfloat16 (bfloat16 "
                             "networks: about twice the epochs on a CPU with AVX-512 BF16)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--judge-epochs", type=int, default=5)
    parser.add_argument("--samples-per-class", type=int, default=200)
    parser.add_argument("--classify-examples", type=int, default=1000)
    parser.add_argument("--classify-samples", type=int, default=100, help="K for p(x|y)")
    parser.add_argument("--eval-examples", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=500, help="K for the NLLs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="512 training images and whatever the other flags say (tests)")
    parser.add_argument("--figure", default=None, help="write a class × sample grid PNG here")
    parser.add_argument("--curve", action="store_true",
                        help="also measure the samples and reconstructions after every epoch "
                             "of the conditional model (not counted as training time)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    result = run(args)
    report(result, args)
    if args.out:
        atomic.write_json(args.out, {"machine": machine(), "command": command(__file__, argv),
                                     "args": vars(args), "results": result}, overwrite=True)
    provenance(__file__, argv)


if __name__ == "__main__":
    main()
