"""Training throughput of tfvae VAEs vs the keras-io VAE, and FLOP utilization.

    python benchmarks/train_throughput.py --data /usr/share/datasets/fashion-mnist

Measures `model.fit` samples/s on Fashion-MNIST (--data: a folder of IDX files or
any name or path `tfvae.datasets.load` reads; else the embedded 4000-image
default) for:
  * a plain Keras VAE written as the keras-io example (Sampling layer,
    train_step with summed BCE + analytic KL, numpy arrays into fit): the
    baseline;
  * the tfvae conv VAE with the SAME layers: compile() defaults (whose
    optimizer is tfvae.optimizers.FusedAdam), Keras' Adam, cached tf.data,
    steps_per_execution, XLA, mixed_bfloat16; and the tfvae mlp VAE;
  * the kernel floor: forward + backward of the same layers alone (and with
    Keras' Adam or FusedAdam) in one compiled loop. Every training step on these
    layers runs at least their forward and backward ops, so with TF's
    kernels "forward+backward only" / baseline is the ceiling for any
    speed-up on the same layers. The rows with an optimizer are indicative,
    not bounds: Keras' own fit loop can schedule the update better.

Every configuration runs one epoch in turn, --rounds times, so a slow spell of
a shared machine hits all alike; each reports its best epoch (and median).

FLOPs are counted analytically from the layer shapes: a Dense/Conv MAC is 2
FLOPs, a training step is ≈ 3× the forward pass (forward + two backward
matmuls), element-wise ops ignored. Peak is the best fp32 GEMM measured here
(numpy and tf.matmul, n=4096, 2n³ FLOPs, best of 5, before and after the runs).
bfloat16 rows can exceed 100% of the fp32 peak (CPUs with AVX512_BF16/AMX run
bf16 dot products faster than fp32).
"""

import argparse

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import gemm_peak, load_images, provenance, timed

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

import tfvae

BATCH = 128
LATENT = 2


## The keras-io VAE (https://keras.io/examples/generative/vae/), tfvae conv layers

class KerasIoSampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def keras_io_vae():
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    z_mean = layers.Dense(LATENT, name="z_mean")(x)
    z_log_var = layers.Dense(LATENT, name="z_log_var")(x)
    z = KerasIoSampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = keras.Input(shape=(LATENT,))
    x = layers.Dense(256, activation="relu")(latent_inputs)
    x = layers.Dense(7 * 7 * 64, activation="relu")(x)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    model = KerasIoVAE(encoder, decoder)
    model.compile(optimizer=keras.optimizers.Adam())
    return model


class KerasIoVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(ops.sum(
                keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}


## FLOPs

def forward_macs(model):
    """MACs per example of every Dense/Conv2D/Conv2DTranspose in `model`."""
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, layers.Conv2DTranspose):
            h, w = layer.input.shape[1:3]
            total += h * w * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, layers.Conv2D):
            h, w = layer.output.shape[1:3]
            total += h * w * int(np.prod(layer.kernel.shape))
    return total


def _leaf_layers(layer):
    children = [c for c in getattr(layer, "_layers", [])]
    if not children:
        return [layer]
    return [leaf for c in children for leaf in _leaf_layers(c)]


## The kernel floor: the same layers with nothing else

def layer_floor(x, optimizer=None):
    """An epoch function that runs only forward + backward of the keras-io
    layers (and, with an `optimizer`, its update) over `x` in one compiled
    loop: no loss, no metrics, no input pipeline, no per-step Python. Every
    training step with these layers and TF's kernels runs at least the
    forward and backward ops, so without an optimizer this bounds the
    speed-up any implementation can reach."""
    nets = keras_io_vae()
    encoder, decoder = nets.encoder, nets.decoder
    weights = encoder.trainable_weights + decoder.trainable_weights
    if optimizer is not None:
        optimizer.build(weights)
    usable = len(x) // BATCH * BATCH
    batches = tf.constant(x[:usable, ..., None].reshape(-1, BATCH, 28, 28, 1))

    @tf.function
    def epoch():
        total = tf.constant(0.0)
        for i in tf.range(tf.shape(batches)[0]):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = encoder(batches[i])
                # Reductions of every output, so the backward pass is the
                # full one of the VAE.
                loss = (tf.reduce_sum(decoder(z)) + tf.reduce_sum(z_mean)
                        + tf.reduce_sum(z_log_var))
            grads = tape.gradient(loss, weights)
            if optimizer is not None:
                optimizer.apply_gradients(zip(grads, weights))
            else:
                # Consume the gradients so none is pruned from the graph.
                loss += tf.add_n([tf.reduce_sum(g) for g in grads])
            total += loss
        return total

    return lambda: epoch().numpy(), usable


## The optimizer update alone

UPDATE_STEPS = 100

def update_loop(weights, optimizer, steps=UPDATE_STEPS):
    """A function that applies fixed gradients to `weights` `steps` times in
    one compiled loop, so that only the optimizer's update is timed."""
    optimizer.build(weights)
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.standard_normal(w.shape).astype("float32") * 1e-3)
             for w in weights]

    @tf.function
    def run():
        for _ in tf.range(steps):
            optimizer.apply_gradients(zip(grads, weights))
        return optimizer.iterations

    return lambda: run().numpy()


def optimizer_rows(rounds):
    """Best ms per update of Keras' Adam and FusedAdam on copies of the conv
    and mlp VAEs' weights, interleaved, and each model's number of weights."""
    configs, params = {}, {}
    for arch, kwargs in (("conv", {"hidden_units": (256,)}), ("mlp", {})):
        for name, optimizer in (("keras Adam", keras.optimizers.Adam()),
                                ("FusedAdam", tfvae.optimizers.FusedAdam())):
            vae = tfvae.VAE((28, 28), LATENT, architecture=arch, seed=0, **kwargs)
            configs[(arch, name)] = (update_loop(vae.trainable_weights, optimizer),
                                     UPDATE_STEPS, None)
        params[arch] = sum(int(np.prod(w.shape)) for w in vae.trainable_weights)
    rates = interleaved(configs, rounds)
    return {key: (1e3 / best, params[key[0]]) for key, (best, _) in rates.items()}


## Measurement

def fit_epoch(model, data, **fit_kwargs):
    return lambda: model.fit(data, epochs=1, verbose=0, **fit_kwargs)


def interleaved(configs, rounds):
    """samples/s of every configuration, measured one epoch each in turn,
    `rounds` times (after a warm-up epoch that traces): a slow spell of a
    shared machine then hits every configuration alike. Returns the best and
    the median per configuration: the best, because other processes only
    ever slow a run down."""
    for run, _, _ in configs.values():
        run()
    times = {name: [] for name in configs}
    for _ in range(rounds):
        for name, (run, n, _) in configs.items():
            times[name].append(n / timed(run))
    return {name: (max(v), float(np.median(v))) for name, v in times.items()}


def tfvae_conv(dtype=None, **compile_kwargs):
    """tfvae's conv VAE with the keras-io layers, compiled with tfvae's
    defaults (`tfvae.optimizers.FusedAdam`) unless told otherwise."""
    vae = tfvae.VAE((28, 28), LATENT, architecture="conv", hidden_units=(256,), seed=0,
                    dtype=dtype)
    vae.compile(**compile_kwargs)
    return vae


BASELINE = "keras-io VAE, same layers (numpy into fit)"
FLOOR = "same layers, forward+backward only"
FLOOR_ADAM = "same layers, forward+backward+Adam"
FLOOR_FUSED = "same layers, forward+backward+FusedAdam"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="folder of Fashion-MNIST IDX files, or a tfvae.datasets name "
                             "(default: the embedded subset)")
    parser.add_argument("--examples", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=6,
                        help="timed epochs per configuration, interleaved")
    parser.add_argument("--quick", action="store_true",
                        help="only the baseline, the floors and the main tfvae rows")
    args = parser.parse_args()
    x, source = load_images(args.data)
    x = x[:args.examples]
    n = len(x)

    peak_np, peak_tf = gemm_peak()
    plain = tf.data.Dataset.from_tensor_slices(x).batch(BATCH)
    fast = tf.data.Dataset.from_tensor_slices(x).cache().batch(BATCH).prefetch(tf.data.AUTOTUNE)
    baseline = keras_io_vae()
    conv_flops = 6 * forward_macs(baseline)
    mlp = tfvae.VAE((28, 28), LATENT, architecture="mlp", seed=0)
    mlp.compile()
    mlp_adam = tfvae.VAE((28, 28), LATENT, architecture="mlp", seed=0)
    mlp_adam.compile(optimizer=keras.optimizers.Adam())
    floor, floor_n = layer_floor(x)
    floor_adam, _ = layer_floor(x, keras.optimizers.Adam())
    floor_fused, _ = layer_floor(x, tfvae.optimizers.FusedAdam())

    configs = {
        BASELINE: (fit_epoch(baseline, x[..., None], batch_size=BATCH), n, conv_flops),
        FLOOR: (floor, floor_n, conv_flops),
        FLOOR_ADAM: (floor_adam, floor_n, conv_flops),
        FLOOR_FUSED: (floor_fused, floor_n, conv_flops),
        "tfvae conv, compile() defaults": (
            fit_epoch(tfvae_conv(), x, batch_size=BATCH), n, conv_flops),
        "tfvae conv, keras.optimizers.Adam": (
            fit_epoch(tfvae_conv(optimizer=keras.optimizers.Adam()), x, batch_size=BATCH), n,
            conv_flops),
        "tfvae conv, tf.data cache+prefetch": (fit_epoch(tfvae_conv(), fast), n, conv_flops),
        "tfvae conv, tf.data cache+prefetch, spe=8": (
            fit_epoch(tfvae_conv(steps_per_execution=8), fast), n, conv_flops),
        "tfvae conv, mixed_bfloat16 + tf.data + spe=8": (
            fit_epoch(tfvae_conv("mixed_bfloat16", steps_per_execution=8), fast), n, conv_flops),
    }
    if not args.quick:
        configs.update({
            "tfvae conv, steps_per_execution=8": (
                fit_epoch(tfvae_conv(steps_per_execution=8), x, batch_size=BATCH), n,
                conv_flops),
            "tfvae conv, steps_per_execution=32": (
                fit_epoch(tfvae_conv(steps_per_execution=32), x, batch_size=BATCH), n,
                conv_flops),
            "tfvae conv, jit_compile=True": (
                fit_epoch(tfvae_conv(jit_compile=True), x, batch_size=BATCH), n, conv_flops),
            "tfvae conv, jit + spe=32": (
                fit_epoch(tfvae_conv(jit_compile=True, steps_per_execution=32), x,
                          batch_size=BATCH), n, conv_flops),
            "tfvae conv, mixed_bfloat16": (
                fit_epoch(tfvae_conv("mixed_bfloat16"), x, batch_size=BATCH), n, conv_flops),
            "tfvae conv, tf.data, no cache/prefetch": (fit_epoch(tfvae_conv(), plain), n,
                                                        conv_flops),
            "tfvae mlp (512, 256)": (fit_epoch(mlp, x, batch_size=BATCH), n,
                                     6 * forward_macs(mlp)),
            "tfvae mlp (512, 256), keras.optimizers.Adam": (
                fit_epoch(mlp_adam, x, batch_size=BATCH), n, 6 * forward_macs(mlp)),
        })
    results = interleaved(configs, args.rounds)
    updates = optimizer_rows(args.rounds)

    peak_np2, peak_tf2 = gemm_peak()  # again: the machine may be shared
    peak_np, peak_tf = max(peak_np, peak_np2), max(peak_tf, peak_tf2)
    peak = max(peak_np, peak_tf)
    base = results[BASELINE][0]
    print(f"data: {source}, {n} examples, batch {BATCH}, latent {LATENT}")
    print(f"fp32 peak (best 4096² GEMM): numpy {peak_np / 1e9:.1f} GFLOP/s, "
          f"tf.matmul {peak_tf / 1e9:.1f} GFLOP/s")
    print(f"training FLOPs/example (6·MACs): conv {conv_flops / 1e6:.2f} MFLOP, "
          f"mlp {6 * forward_macs(mlp) / 1e6:.2f} MFLOP")
    print(f"{args.rounds} rounds, one epoch per configuration per round; best (median) samples/s")
    print(f"{'configuration':46s} {'samples/s':>16s} {'× keras-io':>10s} {'% fp32 peak':>11s}")
    for name, (best, median) in results.items():
        flops = configs[name][2]
        ratio = f"{best / base:9.2f}×" if "mlp" not in name else f"{'':10s}"
        print(f"{name:46s} {best:7.0f} ({median:6.0f}) {ratio} {100 * best * flops / peak:10.1f}%")
    print("optimizer update alone (fixed gradients, compiled loop of 100), best ms per step:")
    for arch in ("conv", "mlp"):
        adam, params = updates[(arch, "keras Adam")]
        fused, _ = updates[(arch, "FusedAdam")]
        print(f"  {arch} ({params:,} weights): keras Adam {adam:.2f} ms, FusedAdam {fused:.2f} ms "
              f"({adam / fused:.1f}× faster)")
    floor_rate = results[FLOOR][0]
    best_tfvae = max(v[0] for k, v in results.items()
                     if k.startswith("tfvae conv") and "bfloat16" not in k)
    print(f"ceiling for any float32 step on these layers (forward+backward only): "
          f"{floor_rate / base:.2f}× keras-io, {100 * floor_rate * conv_flops / peak:.1f}% of "
          f"peak; best float32 tfvae row: {best_tfvae / base:.2f}×, "
          f"{100 * best_tfvae / floor_rate:.0f}% of the floor")
    provenance(__file__)


if __name__ == "__main__":
    main()
