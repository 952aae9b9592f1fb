"""Where the conv VAE's training step goes: each layer's TF kernels, timed alone.

    python benchmarks/layer_kernels.py

For every Dense/Conv2D/Conv2DTranspose of the conv VAE (the keras-io layers,
batch 128) this times the forward op and the backward ops (gradients with
respect to the input and the kernel; the first layer's input gradient is not
needed in training and is not timed), each in a compiled function, best of
--repeats, and reports GFLOP/s and the share of the summed time. It explains
the ceiling `train_throughput.py` measures: the layers' own kernels, not
tfvae's code, set the step time, and a few layer shapes (one input or one
output channel) run far below the machine's peak.
"""

import argparse

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import call_seconds, provenance

import numpy as np
import tensorflow as tf

BATCH = 128

# (name, kind, input height/width, input channels, output channels, stride)
LAYERS = [
    ("encoder Conv2D 28²×1 → 14²×32", "conv", 28, 1, 32, 2),
    ("encoder Conv2D 14²×32 → 7²×64", "conv", 14, 32, 64, 2),
    ("encoder Dense 3136 → 256", "dense", None, 3136, 256, None),
    ("decoder Dense 256 → 3136", "dense", None, 256, 3136, None),
    ("decoder Conv2DTranspose 7²×64 → 14²×64", "convT", 7, 64, 64, 2),
    ("decoder Conv2DTranspose 14²×64 → 28²×32", "convT", 14, 64, 32, 2),
    ("decoder Conv2DTranspose 28²×32 → 28²×1", "convT", 28, 32, 1, 1),
]


def best_ms(fn, repeats):
    """Milliseconds per call of `fn`, best of `repeats` blocks of 10 calls."""
    return 1e3 * call_seconds(fn, repeats, inner=10).min()


def layer_ops(kind, size, cin, cout, stride, rng):
    """(forward fn, backward fn, forward MACs) for one layer at BATCH."""
    if kind == "dense":
        x = tf.constant(rng.standard_normal((BATCH, cin), dtype=np.float32))
        w = tf.Variable(rng.standard_normal((cin, cout), dtype=np.float32))

        def op(x, w):
            return tf.matmul(x, w)
        macs = BATCH * cin * cout
    elif kind == "conv":
        x = tf.constant(rng.standard_normal((BATCH, size, size, cin), dtype=np.float32))
        w = tf.Variable(rng.standard_normal((3, 3, cin, cout), dtype=np.float32))

        def op(x, w):
            return tf.nn.conv2d(x, w, stride, "SAME")
        macs = BATCH * (size // stride) ** 2 * 9 * cin * cout
    else:
        out = size * stride
        x = tf.constant(rng.standard_normal((BATCH, size, size, cin), dtype=np.float32))
        w = tf.Variable(rng.standard_normal((3, 3, cout, cin), dtype=np.float32))

        def op(x, w):
            return tf.nn.conv2d_transpose(x, w, [BATCH, out, out, cout], stride, "SAME")
        macs = BATCH * size * size * 9 * cin * cout
    upstream = tf.constant(rng.standard_normal(op(x, w).shape, dtype=np.float32))
    needs_input_grad = not (kind == "conv" and cin == 1)

    forward = tf.function(lambda: op(x, w))

    @tf.function
    def backward():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = op(x, w)
        # The op is linear, so TF prunes the forward from this graph.
        sources = [x, w] if needs_input_grad else [w]
        return tape.gradient(y, sources, output_gradients=upstream)

    backward_macs = macs * (2 if needs_input_grad else 1)
    return (lambda: forward().numpy(),
            lambda: [g.numpy() for g in backward()], macs, backward_macs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for name, kind, size, cin, cout, stride in LAYERS:
        forward, backward, macs, backward_macs = layer_ops(kind, size, cin, cout, stride, rng)
        rows.append((name, best_ms(forward, args.repeats), 2 * macs,
                     best_ms(backward, args.repeats), 2 * backward_macs))
    total = sum(r[1] + r[3] for r in rows)
    print(f"batch {BATCH}, best of {args.repeats} blocks of 10 calls")
    print(f"{'layer':42s} {'fwd ms':>7s} {'GFLOP/s':>8s} {'bwd ms':>7s} {'GFLOP/s':>8s} "
          f"{'share':>6s}")
    for name, f_ms, f_flops, b_ms, b_flops in rows:
        print(f"{name:42s} {f_ms:7.2f} {f_flops / f_ms / 1e6:8.1f} {b_ms:7.2f} "
              f"{b_flops / b_ms / 1e6:8.1f} {100 * (f_ms + b_ms) / total:5.1f}%")
    flops = sum(r[2] + r[4] for r in rows)
    print(f"all layers: {total:.1f} ms per step of {BATCH} = {BATCH / total * 1e3:.0f} samples/s, "
          f"{flops / total / 1e6:.1f} GFLOP/s")
    provenance(__file__)


if __name__ == "__main__":
    main()
