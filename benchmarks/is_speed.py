"""Throughput of importance-sampled log p(x): compiled and chunked vs a per-example loop.

Model: Burda et al.'s MLP (784 -> 200 -> 200 -> 50 latent, tanh, Bernoulli),
untrained (speed does not depend on the weights). The baseline is the loop
some libraries use (e.g. Pythae's `get_nll`): for each example, for each chunk
of samples, tile x, encode, sample, decode, all in eager calls. FLOPs count the
decoder's matmuls (2·MACs per sample) plus the encoder once per example, and
are compared with the float32 GEMM peak measured on this machine (the better
of numpy and tf.matmul, n=4096).

    python benchmarks/is_speed.py --examples 200 --num-samples 5000
"""

import argparse
import math

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import BURDA_MLP, burda_mlp, gemm_peak, provenance, timed

import keras
import numpy as np
import tensorflow as tf

from tfvae import evaluation

## FLOPs of the Burda MLP


def flops_per_sample():
    return 2 * (50 * 200 + 200 * 200 + 200 * 784)


def flops_per_example():
    return 2 * (784 * 200 + 200 * 200 + 200 * 100)

## The per-example loop baseline


def loop_log_px(model, x, num_samples, chunk):
    out = []
    for i in range(len(x)):
        pieces = []
        for start in range(0, num_samples, chunk):
            k = min(chunk, num_samples - start)
            x_rep = tf.repeat(x[i:i + 1], k, axis=0)
            q = model.encode(x_rep)
            z = q.sample()
            log_w = model.decode(z).log_prob(x_rep) + model.prior.distribution().log_prob(z) \
                - q.log_prob(z)
            pieces.append(log_w.numpy())
        log_w = np.concatenate(pieces).astype(np.float64)
        m = log_w.max()
        out.append(m + math.log(np.mean(np.exp(log_w - m))))
    return np.array(out)

## Measurements


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--loop-examples", type=int, default=10,
                        help="examples timed for the (slow) loop; rates are per example")
    parser.add_argument("--loop-chunk", type=int, default=100)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    model = burda_mlp(seed=0)
    x = (np.random.default_rng(0).random((args.examples, 784)) < 0.2).astype("float32")
    k = args.num_samples

    evaluation.log_marginal_likelihood(model, x[:args.batch_size], k, args.batch_size,
                                       args.chunk_size)                   # trace
    fast_s = timed(lambda: evaluation.log_marginal_likelihood(
        model, x, k, args.batch_size, args.chunk_size, seed=0))
    fast = evaluation.log_marginal_likelihood(model, x[:args.loop_examples], k,
                                              args.batch_size, args.chunk_size, seed=1)
    loop_log_px(model, x[:1], args.loop_chunk, args.loop_chunk)           # warm up
    n_loop = args.loop_examples
    loop_s = timed(lambda: loop_log_px(model, x[:n_loop], k, args.loop_chunk))
    slow = loop_log_px(model, x[:n_loop], k, args.loop_chunk)
    peak = max(gemm_peak())

    fast_rate = args.examples * k / fast_s
    loop_rate = n_loop * k / loop_s
    flops = args.examples * (k * flops_per_sample() + flops_per_example())
    rows = [
        ("compiled, chunked (tfvae)", args.examples, fast_s, fast_rate, flops / fast_s),
        (f"per-example eager loop, chunk {args.loop_chunk}", n_loop, loop_s, loop_rate,
         flops / args.examples * n_loop / loop_s),
    ]
    print(f"log p(x) by importance sampling, K={k}, {BURDA_MLP}, untrained")
    print(f"{'method':<36} {'examples':>8} {'time s':>8} {'samples·ex/s':>13} "
          f"{'GFLOP/s':>8} {'% peak':>8}")
    for name, n, seconds, rate, fl in rows:
        print(f"{name:<36} {n:>8} {seconds:>8.2f} {rate:>13.3g} {fl / 1e9:>8.1f} "
              f"{100 * fl / peak:>7.1f}%")
    print(f"speed-up: {fast_rate / loop_rate:.1f}x; fp32 peak (best 4096² GEMM): "
          f"{peak / 1e9:.1f} GFLOP/s")
    again = evaluation.log_marginal_likelihood(model, x[:n_loop], k, args.batch_size,
                                               args.chunk_size, seed=2)
    print(f"on {n_loop} examples, max |compiled − loop| = {np.max(np.abs(fast - slow)):.2f} "
          f"nats vs max |compiled seed 1 − seed 2| = {np.max(np.abs(fast - again)):.2f} nats "
          "(Monte Carlo noise of an untrained model; exactness is tested on pPCA)")
    provenance(__file__, argv)


if __name__ == "__main__":
    main()
