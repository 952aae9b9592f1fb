"""The PyTorch twin of a tfvae VAE, trained for a fixed wall time: one side of
the peers benchmark (benchmarks/peers/run.py starts it; it needs only torch and
numpy, in the peers venv).

    .venv-peers/bin/python benchmarks/peers/torch_side.py --model mlp \
        --data ../shared/data/binarized_mnist.npz --seconds 30

Written as a careful PyTorch user would: the whole training set as one float32
tensor, a fresh permutation each epoch and contiguous slices of it (no
DataLoader), `torch.set_num_threads(cores)`, `torch.optim.Adam(lr=1e-3,
eps=1e-7)` with its defaults otherwise (`--adam fused` passes `fused=True`:
the same algorithm, each parameter's update in one kernel, as tfvae's
`FusedAdam`; torch's default on CPU is its per-tensor loop of element-wise
ops). The nets are the same as tfvae's:

  * mlp: 784-200-200 tanh encoder, 50-200-200-784 tanh decoder (Burda et al.);
  * conv: tfvae's built-in conv layers (Conv2D 32, 64, 3x3, stride 2, relu;
    Dense 256; mirrored with transposed convolutions), latent 2.

Keras' initialisation is replicated: Glorot-uniform weights, zero biases (for a
conv kernel Glorot's fans are channels x receptive field, in both frameworks).
The posterior head is one Linear layer split into loc and
scale = softplus(raw) + 1e-4, as tfvae's GaussianPosteriorHead. Two known
differences, neither a cost: "same" padding of a stride-2 convolution is
symmetric here and bottom/right-heavy in TensorFlow (same shapes and FLOPs),
and Adam's ε is added to √v̂ here but to √v in Keras (in torch's terms Keras'
ε is ε/√(1 − β₂ᵗ): 3.2e-6 at step 1, 1.3e-7 by step 1,000, small next to √v̂).

`--malloc tuned` keeps the memory torch frees for reuse. torch's CPU tensors
come from malloc, and glibc's, as it comes, gives the conv twin's freed
activations back to the kernel and faults them in again the next step: about
26,000 page faults per step, which take it from 59–64 to 85–91 ms through the
first epochs of a fresh process; TensorFlow's steady step takes none
(benchmarks/RESULTS.md, 2026-12-02 (main on 1ef6678), "The conv twin's
allocator"). PyTorch's CPU tuning guide advises another allocator (jemalloc,
tcmalloc); this is the same cure with glibc's own settings, those that

    GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=33554432

would set before the process starts.

Prints one JSON line: samples/s over the timed window (after --warmup-steps
steps, which are timed and reported apart), epochs, and the held-out −ELBO.
"""

import argparse
import ctypes
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MIN_SCALE = 1e-4
ADAMS = ("default", "fused")
MALLOCS = ("default", "tuned")
# mallopt's parameters (glibc's malloc.h) and the values `--malloc tuned` sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD, MMAP_THRESHOLD = 64 << 20, 32 << 20       # 32 MiB: glibc's largest (64-bit)


def glorot(module):
    """Keras' defaults: glorot_uniform kernels, zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


class Twin(nn.Module):
    def __init__(self, model, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        if model == "mlp":
            self.encoder = nn.Sequential(nn.Linear(784, 200), nn.Tanh(),
                                         nn.Linear(200, 200), nn.Tanh())
            self.head = nn.Linear(200, 2 * latent_dim)
            self.decoder = nn.Sequential(nn.Linear(latent_dim, 200), nn.Tanh(),
                                         nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784))
        else:
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(), nn.Linear(7 * 7 * 64, 256), nn.ReLU())
            self.head = nn.Linear(256, 2 * latent_dim)
            self.decoder = nn.Sequential(
                nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 7 * 7 * 64), nn.ReLU(),
                nn.Unflatten(1, (64, 7, 7)),
                nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(32, 1, 3, padding=1))
        self.apply(glorot)

    def elbo_terms(self, x):
        """Per-example log p(x|z) at one z ~ q(z|x), and the analytic KL(q ‖ N(0, I))."""
        loc, raw = self.head(self.encoder(x)).chunk(2, dim=-1)
        scale = F.softplus(raw) + MIN_SCALE
        z = loc + scale * torch.randn_like(loc)
        logits = self.decoder(z)
        reconstruction = -F.binary_cross_entropy_with_logits(
            logits, x, reduction="none").flatten(1).sum(-1)
        kl = (0.5 * (scale.square() + loc.square()) - scale.log() - 0.5).sum(-1)
        return reconstruction, kl


def adam(parameters, implementation="default"):
    """torch's Adam with tfvae's learning rate and ε; "fused" = `fused=True`."""
    return torch.optim.Adam(parameters, lr=1e-3, eps=1e-7,
                            fused=True if implementation == "fused" else None)


def tune_malloc():
    """glibc keeps freed memory up to 64 MiB at the heap's top and serves
    blocks up to 32 MiB from the heap, fixed (no dynamic threshold)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError as error:
        raise SystemExit(f"--malloc tuned needs glibc: {error}") from None
    if not (libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)):
        raise SystemExit("--malloc tuned: glibc refused mallopt")


def load(path, model):
    with np.load(path) as f:
        train, valid = f["train"], f["valid"]
    shape = (-1, 784) if model == "mlp" else (-1, 1, 28, 28)
    return (torch.from_numpy(train.reshape(shape).astype(np.float32)),
            torch.from_numpy(valid.reshape(shape).astype(np.float32)))


def train_steps(net, optimizer, x, batch_size, deadline=None, max_steps=None):
    """Epochs of shuffled mini-batches until `deadline` (perf_counter) or
    `max_steps`; returns (steps, samples)."""
    steps = samples = 0
    while True:
        shuffled = x[torch.randperm(len(x))]
        for start in range(0, len(x), batch_size):
            batch = shuffled[start:start + batch_size]
            reconstruction, kl = net.elbo_terms(batch)
            loss = (kl - reconstruction).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            samples += len(batch)
            if (max_steps is not None and steps >= max_steps) or \
                    (deadline is not None and time.perf_counter() >= deadline):
                return steps, samples


@torch.no_grad()
def heldout(net, x, batch_size=1000):
    """Per-example −ELBO = −(log p(x|z) − KL) at one z ~ q(z|x): mean and standard error."""
    values = []
    for start in range(0, len(x), batch_size):
        reconstruction, kl = net.elbo_terms(x[start:start + batch_size])
        values.append(kl - reconstruction)
    values = torch.cat(values).double()
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("mlp", "conv"), required=True)
    parser.add_argument("--data", required=True, help=".npz with uint8 0/1 'train' and 'valid'")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads; default: the cores this process may use")
    parser.add_argument("--adam", choices=ADAMS, default="default",
                        help="torch's Adam implementation: its default (a loop of "
                             "element-wise ops per tensor on CPU) or fused=True")
    parser.add_argument("--malloc", choices=MALLOCS, default="default",
                        help="glibc's malloc as it comes, or tuned to keep freed memory "
                             "for reuse (see the module docstring)")
    args = parser.parse_args()
    if args.malloc == "tuned":
        tune_malloc()
    batch_size = args.batch_size or (100 if args.model == "mlp" else 128)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    x_train, x_valid = load(args.data, args.model)
    net = Twin(args.model, 50 if args.model == "mlp" else 2)
    optimizer = adam(net.parameters(), args.adam)

    start = time.perf_counter()
    train_steps(net, optimizer, x_train[:args.warmup_steps * batch_size], batch_size,
                max_steps=args.warmup_steps)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    steps, samples = train_steps(net, optimizer, x_train, batch_size,
                                 deadline=start + args.seconds)
    elapsed = time.perf_counter() - start
    neg_elbo, se = heldout(net.eval(), x_valid)
    print(json.dumps({
        "side": "torch", "model": args.model, "samples_per_s": samples / elapsed,
        "seconds": elapsed, "steps": steps, "samples": samples,
        "epochs": samples / len(x_train), "warmup_s": warmup,
        "warmup_steps": args.warmup_steps, "heldout_neg_elbo": neg_elbo, "heldout_se": se,
        "train_n": len(x_train), "heldout_n": len(x_valid), "batch_size": batch_size,
        "threads": threads, "adam": args.adam, "malloc": args.malloc,
        "version": f"torch {torch.__version__}",
    }))


if __name__ == "__main__":
    main()
