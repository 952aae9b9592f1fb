"""Where one training step of the PyTorch twin spends its time, stage by stage:
the twin's side of `benchmarks/step_profile.py` (run it in the peers venv).

    .venv-peers/bin/python benchmarks/peers/torch_profile.py --model mlp \
        --data ../shared/data/binarized_mnist.npz

The same nested stages as step_profile.py, on torch_side.py's twin and data
(mlp: the binarized MNIST .npz; conv: the .npz of `tfvae_side.py
--prepare-conv`), each run as --steps steps over batches already in memory:

1. layers: encoder, posterior head and decoder forward and backward, with ε
   fixed and the loss Σ logits·x;
2. + ELBO: the twin's `elbo_terms` (fresh noise, the Bernoulli term, the
   analytic KL) and its backward, no update;
3. + update: the whole step with torch's default Adam (on CPU a loop of
   element-wise ops per tensor), then with `fused=True`;
4. loop: torch_side.py's training loop (a fresh permutation per epoch,
   contiguous slices), timed by whole epochs of --examples examples, with
   either Adam.

The stages run in turn, --rounds times, in one process; the table gives the
best and median milliseconds per step and what each stage adds to the one
before it (the loops: to the update of the same Adam).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from torch_side import MALLOCS, MIN_SCALE, Twin, adam, load, train_steps, tune_malloc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _cpu import cpu  # noqa: E402  (benchmarks/, no TensorFlow)

MODELS = {"mlp": (100, 50_000, 50), "conv": (128, 12_800, 2)}  # batch, examples, latent


def stage_functions(net, optimizers, batches):
    """name -> a function of one batch running one step of that stage."""
    eps = torch.randn(batches.shape[1], net.latent_dim, generator=torch.Generator().manual_seed(0))

    def layers(x):
        loc, raw = net.head(net.encoder(x)).chunk(2, dim=-1)
        logits = net.decoder(loc + (F.softplus(raw) + MIN_SCALE) * eps)
        net.zero_grad(set_to_none=True)
        (logits * x).sum().backward()

    def elbo(x):
        reconstruction, kl = net.elbo_terms(x)
        net.zero_grad(set_to_none=True)
        (kl - reconstruction).mean().backward()

    def update(optimizer):
        def step(x):
            reconstruction, kl = net.elbo_terms(x)
            optimizer.zero_grad()
            (kl - reconstruction).mean().backward()
            optimizer.step()
        return step

    return {"layers": layers, "+ ELBO": elbo,
            **{f"+ update ({name})": update(opt) for name, opt in optimizers.items()}}


def machine():
    return f"{cpu()}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--data", required=True,
                        help="mlp: binarized_mnist.npz; conv: tfvae_side.py --prepare-conv's .npz")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed stage")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--malloc", choices=MALLOCS, default="default",
                        help="glibc's malloc as it comes, or tuned (torch_side.py --malloc)")
    parser.add_argument("--examples", type=int, default=None,
                        help="training images per loop epoch (whole batches); default 50,000 "
                             "(mlp), 12,800 (conv)")
    args = parser.parse_args()
    if args.steps < 1 or args.rounds < 1:
        parser.error(f"--steps and --rounds must be >= 1. Received: steps={args.steps}, "
                     f"rounds={args.rounds}")
    if args.malloc == "tuned":
        tune_malloc()
    batch, examples, latent = MODELS[args.model]
    examples = examples if args.examples is None else args.examples
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    x = load(args.data, args.model)[0][:examples]
    x = x[: len(x) // batch * batch]
    if len(x) == 0:
        parser.error(f"--examples: no whole batch of {batch}")
    batches = x.reshape(-1, batch, *x.shape[1:])
    net = Twin(args.model, latent)
    optimizers = {name: adam(net.parameters(), name) for name in ("default", "fused")}
    stages = stage_functions(net, optimizers, batches)
    loops = {f"loop ({name})": opt for name, opt in optimizers.items()}
    for step in stages.values():
        step(batches[0])                                       # warm-up
    times = {name: [] for name in [*stages, *loops]}
    for _ in range(args.rounds):
        for name, step in stages.items():
            start = time.perf_counter()
            for i in range(args.steps):
                step(batches[i % len(batches)])
            times[name].append((time.perf_counter() - start) / args.steps)
        for name, opt in loops.items():
            start = time.perf_counter()
            steps, _ = train_steps(net, opt, x, batch, max_steps=len(batches))
            times[name].append((time.perf_counter() - start) / steps)

    best = {k: 1e3 * min(v) for k, v in times.items()}
    print(f"PyTorch twin ({args.model}), batch {batch}, float32; {args.rounds} rounds of "
          f"{args.steps} steps per stage and a {len(batches)}-step loop epoch")
    print(f"{'stage':<18} {'best ms':>8} {'median ms':>10} {'adds (best)':>12}")
    for name, values in times.items():
        before = {"layers": 0.0, "+ ELBO": best["layers"]}.get(
            name, best["+ ELBO"] if name.startswith("+ update") else
            best[name.replace("loop", "+ update")])
        print(f"{name:<18} {best[name]:>8.2f} {1e3 * np.median(values):>10.2f} "
              f"{best[name] - before:>+12.2f}")
    loop = min(best["loop (default)"], best["loop (fused)"])
    print(f"loop: {batch / best['loop (default)'] * 1e3:,.0f} samples/s at its best step time "
          f"with the default Adam, {batch / best['loop (fused)'] * 1e3:,.0f} fused; the layers "
          f"alone are {best['layers'] / loop:.0%} of the faster")
    print(f"machine: {machine()}")
    print(f"$ python benchmarks/peers/torch_profile.py --model {args.model} --data {args.data} "
          f"--steps {args.steps} --rounds {args.rounds}"
          + (f" --examples {args.examples}" if args.examples is not None else "")
          + (f" --malloc {args.malloc}" if args.malloc != "default" else ""))


if __name__ == "__main__":
    main()
