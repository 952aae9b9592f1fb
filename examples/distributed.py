"""
Title: Data-parallel training with MirroredStrategy
Description: Create the VAE inside `strategy.scope()`, fit with the global
batch, save, and reload — on CPU, by splitting it into logical devices.

`MirroredStrategy` keeps one copy of the model per device and all-reduces the
gradients each step. tfvae's `train_step` averages the loss over the *global*
batch (`tf.nn.compute_average_loss`), so N replicas with global batch B take
the same step as one device with batch B: only the batch is split.

Without GPUs the script splits the CPU into `--devices` logical CPUs. This must
happen before TensorFlow initialises its runtime (the first op or device query
that creates a context), which is why it sits right after `import tensorflow`
and before anything builds a model. Logical CPUs share the same cores, so it
demonstrates and tests the mechanics; it is not a speed-up.

Usage:
    python examples/distributed.py --devices 2 --output-dir distributed_output
"""

## Setup: configure devices first, before TensorFlow starts its runtime
import argparse
import os

import tensorflow as tf

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
parser.add_argument("--devices", type=int, default=2, help="logical CPUs without a GPU")
parser.add_argument("--output-dir", default="distributed_output")
args = parser.parse_args()

gpus = tf.config.list_physical_devices("GPU")
if not gpus:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args.devices)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfvae  # noqa: E402
from tfvae import distribute  # noqa: E402

os.makedirs(args.output_dir, exist_ok=True)
keras.utils.set_random_seed(0)

## The strategy: all GPUs if present, else all the logical CPUs
strategy = distribute.get_strategy("mirrored")
replicas = strategy.num_replicas_in_sync
print(f"replicas in sync: {replicas}")

## Data: batched by the GLOBAL batch size; Keras gives each replica a slice
per_replica_batch = 64
global_batch = distribute.global_batch_size(per_replica_batch, strategy)
x_train = tfvae.datasets.load("default", split="train")
x_test = tfvae.datasets.load("default", split="test")
if args.quick:
    x_train, x_test = x_train[:512], x_test[:256]
# Remainders are dropped: every step splits evenly across the replicas.
train = distribute.distributed_dataset(x_train, per_replica_batch, strategy, seed=0)
test = tfvae.datasets.make_dataset(x_test, batch_size=global_batch, shuffle=False)

## Model and optimizer variables are created under the scope, so mirrored
with strategy.scope():
    model = tfvae.VAE((28, 28), 8, hidden_units=(256, 128), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
print(f"global batch {global_batch} = {per_replica_batch} per replica x {replicas}")
model.fit(train, epochs=1 if args.quick else 15, verbose=2)
elbo = model.evaluate(test, verbose=0, return_dict=True)["elbo"]
print(f"test ELBO {elbo:.1f} nats/image")

## Save, and reload under the strategy to keep training distributed
path = os.path.join(args.output_dir, "vae.keras")
model.save(path)
with strategy.scope():
    reloaded = keras.saving.load_model(path)
same = np.allclose(keras.ops.convert_to_numpy(reloaded.reconstruct(x_test[:64])),
                   keras.ops.convert_to_numpy(model.reconstruct(x_test[:64])), atol=1e-5)
print(f"reloaded {path}: same reconstructions: {same}")
reloaded.fit(train.take(2), epochs=1, verbose=0)  # training resumes on all replicas
print("resumed training on the reloaded model")
