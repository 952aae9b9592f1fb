"""Where one training step of a VAE spends its time, stage by stage.

    python benchmarks/step_profile.py --data ../shared/data/binarized_mnist.npz
    python benchmarks/step_profile.py --model conv --data /usr/share/datasets/fashion-mnist

The peers benchmark's models: `--model mlp` (`_common.burda_mlp`: 784-200-200-50
tanh, Bernoulli, batch 100, on the fixed-binarized MNIST .npz) or `--model
conv` (the built-in conv VAE, latent 2, batch 128, on Fashion-MNIST binarized
once with seed 0; any source `tfvae.datasets.load` reads, the embedded subset
by default). The model is taken apart into nested stages, each a prefix of the
next, each run as `--steps` steps inside one compiled `tf.function` over
batches already in memory (no input pipeline, no per-step Python):

1. layers: the networks' forward and backward ops alone (encoder, posterior
   head, decoder; z = μ + σ·ε with ε fixed, loss Σ logits·x): the floor every
   step on these layers pays;
2. + ELBO: `VAE.objective_terms` (fresh noise, the Bernoulli log-likelihood,
   the analytic KL) and its gradient, no update;
3. + update: `VAE.train_step` in full (the FusedAdam update and the metrics);
4. fit: `VAE.compile()` + `fit(tfvae.datasets.make_dataset(x, batch))`, what a
   user runs (`compile`'s default steps per call, the `tf.data` pipeline,
   callbacks), timed by whole epochs of `--examples` examples.

The stages run in turn, `--rounds` times, in one process; the table gives the
best and median milliseconds per step and what each stage adds. A difference
of best times is the stage's own cost; a stage's share of the `fit` step says
what removing it entirely could buy at most.
"""

import argparse
import time

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import burda_mlp, load_binarized_mnist, load_images, provenance

import numpy as np
import tensorflow as tf

import tfvae
from tfvae import datasets

# model: (batch size, default --examples, title)
MODELS = {
    "mlp": (100, 50_000, "Burda MLP VAE (784-200-200-50 tanh, Bernoulli)"),
    "conv": (128, 12_800, "built-in conv VAE (Conv2D 32/64, Dense 256, latent 2, Bernoulli)"),
}


def stage_functions(model, batches, steps):
    """The three compiled stages; each runs `steps` steps and returns a scalar."""
    weights = model.trainable_weights
    eps = tf.random.stateless_normal((batches.shape[1], model.latent_dim), seed=(0, 1))
    n = batches.shape[0]

    def use(gradients):
        # Consumed, so the gradients cannot be pruned from the graph.
        return tf.add_n([tf.reduce_sum(g) for g in gradients])

    def layers_step(x):
        with tf.GradientTape() as tape:
            loc, scale = model.posterior_head(model.features(x, training=True))
            logits = model.decoder(loc + scale * eps, training=True)
            loss = tf.reduce_sum(logits * x)
        # The loss is consumed too: no gradient needs the logits themselves,
        # so otherwise the decoder's output layer would be pruned from the
        # forward pass (the conv decoder's last transposed convolution is
        # about a tenth of its step).
        return use(tape.gradient(loss, weights)) + loss

    def elbo_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.objective_terms(x, training=True).loss)
        return use(tape.gradient(loss, weights)) + loss

    def train_step(x):
        return model.train_step(x)["loss"]

    def looped(step):
        @tf.function
        def run():
            total = tf.constant(0.0)
            for i in tf.range(steps):
                # One step at a time, as in training: otherwise the while loop
                # overlaps the steps of the stages that update no weights.
                tf.autograph.experimental.set_loop_options(parallel_iterations=1)
                total += tf.cast(step(batches[i % n]), tf.float32)
            return total
        return run

    return {"layers": looped(layers_step), "+ ELBO": looped(elbo_step),
            "+ update": looped(train_step)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--data", default=None,
                        help="mlp: binarized_mnist.npz (keys train/valid/test, 0/1 values), "
                             "required; conv: a Fashion-MNIST source (default: the embedded "
                             "subset)")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed call")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--examples", type=int, default=None,
                        help="training images used, at most (fit's epoch is this many, in "
                             "whole batches, or all the source has); default 50,000 (mlp), "
                             "12,800 (conv)")
    args = parser.parse_args(argv)
    batch, examples, title = MODELS[args.model]
    examples = examples if args.examples is None else args.examples

    if args.model == "mlp":
        if args.data is None:
            parser.error("--model mlp needs --data, the binarized MNIST .npz")
        x = load_binarized_mnist(args.data)["train"][:examples]
        model = burda_mlp(seed=0)
    else:
        x = datasets.binarize(load_images(args.data)[0][:examples], seed=0)
        model = tfvae.VAE(x.shape[1:], 2, architecture="conv", seed=0)
    if len(x) < batch:
        parser.error(f"--examples: {len(x)} image(s) make no batch of {batch}")
    x = x[: len(x) // batch * batch]     # whole batches: every fit step a full one
    batches = tf.constant(x.reshape(-1, batch, *x.shape[1:]))
    model.compile()
    dataset = datasets.make_dataset(x, batch_size=batch)
    model.fit(dataset, epochs=1, verbose=0)              # builds and traces
    stages = stage_functions(model, batches, args.steps)
    for run in stages.values():
        run()                                            # traces
    fit_steps = len(x) // batch

    times = {name: [] for name in [*stages, "fit"]}
    for _ in range(args.rounds):
        for name, run in stages.items():
            start = time.perf_counter()
            run().numpy()
            times[name].append((time.perf_counter() - start) / args.steps)
        start = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0)
        times["fit"].append((time.perf_counter() - start) / fit_steps)

    best = {k: 1e3 * min(v) for k, v in times.items()}
    print(f"{title}, batch {batch}, float32; "
          f"{args.rounds} rounds of {args.steps} compiled steps per stage and a "
          f"{fit_steps}-step fit epoch")
    print(f"{'stage':<12} {'best ms':>8} {'median ms':>10} {'adds (best)':>12} {'of fit':>7}")
    previous = 0.0
    for name, values in times.items():
        adds = best[name] - previous if name != "fit" else best["fit"] - best["+ update"]
        print(f"{name:<12} {best[name]:>8.2f} {1e3 * np.median(values):>10.2f} "
              f"{adds:>+12.2f} {adds / best['fit']:>7.0%}")
        previous = best[name]
    print(f"fit: {batch / best['fit'] * 1e3:,.0f} samples/s at its best step time; the layers "
          f"alone are {best['layers'] / best['fit']:.0%} of it")
    provenance(__file__, argv)


if __name__ == "__main__":
    main()
