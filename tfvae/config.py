"""Training runs: a config dict in, a run folder out (what `tfvae train` and `make demo` call).

A run folder holds everything needed to inspect, rerun or continue a run:

    config.json          the merged run config (rerun with `tfvae train --config`)
    model.keras          the trained model (`keras.models.load_model`)
    history.csv          one row per completed epoch (keras.callbacks.CSVLogger)
    logs/                TensorBoard logs (`tensorboard --logdir RUN/logs`)
    backup/              the last completed epoch's state (for `--resume`)
    metrics.json         test-split loss / elbo / reconstruction / kl
    samples.png  reconstructions.png  training_curves.png
    manifold.png  latent_scatter.png     (2-d latents only)

Every file is written to a temporary name and moved into place with
`os.replace`, so a killed run never leaves a half-written model or config.
The epoch state is backed up after every epoch (`keras.callbacks.BackupAndRestore`):
`train(..., resume=True)` continues from the last completed epoch.

Example:
```python
from tfvae import config as run_config

cfg = run_config.resolve({"latent_dim": 2, "epochs": 5})
result = run_config.train(cfg, "runs/example")
result["metrics"]["elbo"]
```
"""

import csv
import json
import math
import os
import shutil
import time

import keras
import numpy as np

from tfvae import atomic

DEFAULTS = {
    "data": "default",
    "architecture": "mlp",
    "latent_dim": 2,
    "likelihood": "bernoulli",
    "hidden_units": [512, 256],
    "filters": [32, 64],
    "epochs": 20,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "beta": 1.0,
    "warmup_epochs": 0,
    "warmup_schedule": "linear",
    "objective": "elbo",
    "num_samples": 1,
    "free_bits": 0.0,
    "binarization": "none",
    "strategy": "default",
    "seed": 0,
    "max_train_examples": None,
    "precision": "float32",
    "jit_compile": False,
    # Measured in benchmarks/train_throughput.py: 8 steps per call were
    # 1.05-1.4x faster than 1 on this 2-core CPU; XLA was 0.47-0.84x.
    "steps_per_execution": 8,
}

BINARIZATIONS = ("none", "static", "dynamic")
ARCHITECTURES = ("mlp", "conv")
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
OBJECTIVES = ("elbo", "iwae")
WARMUP_SCHEDULES = ("linear", "cyclical")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")

# Files and folders a run writes; `overwrite=True` removes only these, so a
# mistyped --out never deletes anything else.
RUN_FILES = ("config.json", "model.keras", "history.csv", "metrics.json", "samples.png",
             "reconstructions.png", "training_curves.png", "manifold.png",
             "latent_scatter.png", "logs", "backup")


# ---- config ----------------------------------------------------------------------


def load_config(path):
    """Reads a run config from a JSON or YAML file.

    Args:
        path: str, a `.json`, `.yaml` or `.yml` file holding a mapping whose
            keys are `DEFAULTS` keys (dashes or underscores).

    Returns:
        dict.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    with open(path) as f:
        text = f.read()
    try:
        if path.lower().endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as e:  # yaml and json raise unrelated error types
        raise ValueError(f"Could not parse the config file {path}: {e}") from e
    if not isinstance(values, dict):
        raise ValueError(f"The config file {path} must hold a mapping of settings; "
                         f"it holds a {type(values).__name__}.")
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def resolve(overrides=None, base=None):
    """Merges DEFAULTS <- base <- overrides and validates the result.

    Args:
        overrides: dict or None, settings that win (e.g. flags the user gave).
        base: dict or None, e.g. a config file's or a resumed run's settings.

    Returns:
        A new, validated config dict with every `DEFAULTS` key.
    """
    config = dict(DEFAULTS)
    for source in (base or {}, overrides or {}):
        unknown = sorted(set(source) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"Unknown config key(s) {unknown}. Known keys are: "
                             f"{sorted(DEFAULTS)}.")
        config.update({k: v for k, v in source.items() if v is not None})
    _validate(config)
    return config


def _validate(c):
    def positive_int(key, allow_none=False):
        v = c[key]
        if allow_none and v is None:
            return
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"Received an invalid value for `{key}`, expected a positive "
                             f"integer. Received: {key}={v!r}")

    for key in ("latent_dim", "epochs", "batch_size", "num_samples", "steps_per_execution"):
        positive_int(key)
    positive_int("max_train_examples", allow_none=True)
    for key in ("beta", "learning_rate", "free_bits"):
        v = c[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0 or (key == "learning_rate" and v == 0):
            raise ValueError(f"Received an invalid value for `{key}`, expected a "
                             f"{'positive' if key == 'learning_rate' else 'non-negative'} "
                             f"number. Received: {key}={v!r}")
    v = c["warmup_epochs"]
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError("Received an invalid value for `warmup_epochs`, expected an "
                         f"integer >= 0. Received: warmup_epochs={v!r}")
    for key, allowed in (("architecture", ARCHITECTURES), ("binarization", BINARIZATIONS),
                         ("strategy", STRATEGIES), ("objective", OBJECTIVES),
                         ("warmup_schedule", WARMUP_SCHEDULES), ("precision", PRECISIONS)):
        if c[key] not in allowed:
            raise ValueError(f"Unrecognized {key}={c[key]!r}. Supported values are: "
                             f"{list(allowed)}.")
    from tfvae import likelihoods

    names = getattr(likelihoods, "NAMES", None)
    if names is not None and c["likelihood"] not in names:
        raise ValueError(f"Unrecognized likelihood={c['likelihood']!r}. Supported "
                         f"likelihoods are: {list(names)}.")
    for key in ("hidden_units", "filters"):
        v = c[key]
        if isinstance(v, str):
            v = [int(u) for u in v.split(",") if u.strip()]
        if not isinstance(v, (list, tuple)) or not v or any(
                isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in v):
            raise ValueError(f"Received an invalid value for `{key}`, expected a list of "
                             f"positive integers. Received: {key}={c[key]!r}")
        c[key] = list(v)
    if not isinstance(c["jit_compile"], bool):
        raise ValueError("Received an invalid value for `jit_compile`, expected true or "
                         f"false. Received: jit_compile={c['jit_compile']!r}")
    if c["seed"] is not None and (isinstance(c["seed"], bool) or not isinstance(c["seed"], int)):
        raise ValueError(f"Received an invalid value for `seed`, expected an integer. "
                         f"Received: seed={c['seed']!r}")
    if not isinstance(c["data"], str) or not c["data"]:
        raise ValueError(f"Received an invalid value for `data`, expected a dataset name "
                         f"or a path. Received: data={c['data']!r}")


# ---- data --------------------------------------------------------------------------


def load_data(data, split="train", labels=False):
    """Loads a data split by dataset name or local path, scaled to [0, 1] float32.

    Args:
        data: str, a name in `tfvae.datasets.DATASETS` ("default", "mnist",
            "fashion_mnist"), or a path: a `.npy` array, a `.npz` with
            `x_train`/`x_test` (Keras style) or `train`/`test` arrays (e.g.
            binarized MNIST, 784-vectors), or a folder of MNIST-style IDX
            files. uint8 grey levels are divided by 255; uint8 0/1 and float
            data are used as they are.
        split: "train" or "test". A `.npy` file, or an `.npz` with a single
            array, has no test split: its last 10% serves as one.
        labels: bool, also return integer labels (None when there are none).

    Returns:
        x, or (x, y) when `labels` is True.
    """
    if split not in ("train", "test"):
        raise ValueError(f"Unrecognized split={split!r}. Supported splits are: "
                         "['train', 'test'].")
    from tfvae import datasets

    names = datasets.DATASETS
    if os.path.isdir(data):
        x, y = datasets.load("fashion_mnist", split=split, path=data, labels=True)
    elif os.path.isfile(data):
        x, y = _load_file(data, split)
    elif data in names:
        x, y = datasets.load(data, split=split, labels=True)
    else:
        raise FileNotFoundError(f"Unknown dataset or missing file: {data!r}. Pass a path "
                                f"to an existing .npy/.npz file or IDX folder, or one of "
                                f"{list(names)}.")
    x = np.asarray(x)
    # uint8 grey levels are scaled; uint8 0/1 (binarized MNIST) and floats are not.
    if x.dtype == np.uint8 and x.size and x.max() > 1:
        x = x / 255.0
    x = x.astype("float32")
    return (x, y) if labels else x


def _load_file(path, split):
    if path.endswith(".npy"):
        arrays = {"x": np.load(path, allow_pickle=False)}
    elif path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    else:
        raise ValueError(f"Unsupported data file {path!r}: expected a .npy or .npz file, "
                         "or a folder of IDX files.")
    for x_key, y_key in ((f"x_{split}", f"y_{split}"), (split, None)):
        if x_key in arrays:
            return arrays[x_key], arrays.get(y_key)
    if len(arrays) == 1:
        x = next(iter(arrays.values()))
        cut = len(x) - max(1, len(x) // 10)
        return (x[:cut] if split == "train" else x[cut:]), None
    raise ValueError(f"{path} holds arrays {sorted(arrays)}; expected 'x_{split}' or "
                     f"'{split}' (or a single array).")


def _dataset(x, config, shuffle, seed):
    from tfvae import datasets

    binarization = None if config["binarization"] == "none" else config["binarization"]
    return datasets.make_dataset(x, batch_size=config["batch_size"], shuffle=shuffle,
                                 binarization=binarization, seed=seed)


# ---- the run ----------------------------------------------------------------------


def default_run_dir(root="runs"):
    """A fresh folder name under `root`: runs/YYYYmmdd-HHMMSS (suffixed if taken)."""
    base = os.path.join(root, time.strftime("%Y%m%d-%H%M%S"))
    path, i = base, 1
    while os.path.exists(path):
        path, i = f"{base}-{i}", i + 1
    return path


def read_run_config(run_dir):
    """The config a run folder was trained with (its config.json)."""
    path = os.path.join(os.fspath(run_dir), "config.json")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"Run folder not found: {run_dir}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is not a run folder: it has no config.json.")
    return load_config(path)


def build_model(config, data_shape):
    """The `tfvae.VAE` a config describes, compiled with (fused) Adam."""
    from tfvae.optimizers import FusedAdam
    from tfvae.vae import VAE

    model = VAE(data_shape, config["latent_dim"], architecture=config["architecture"],
                likelihood=config["likelihood"], beta=config["beta"],
                hidden_units=tuple(config["hidden_units"]), filters=tuple(config["filters"]),
                seed=config["seed"], objective=config["objective"],
                num_samples=config["num_samples"], dtype=config["precision"])
    # mixed_float16 gets Keras' LossScaleOptimizer from compile (auto_scale_loss).
    model.compile(optimizer=FusedAdam(config["learning_rate"]),
                  jit_compile=config["jit_compile"],
                  steps_per_execution=config["steps_per_execution"])
    return model


def train(config, run_dir, resume=False, overwrite=False, verbose=1):
    """Trains the model a config describes and fills the run folder.

    Args:
        config: dict, from `resolve` (validated, every key present).
        run_dir: str, the run folder. It must not exist or be empty unless
            `overwrite` (which removes the run files listed in `RUN_FILES`
            and nothing else) or `resume`.
        resume: bool, continue from the last completed epoch found in
            run_dir/backup; history.csv is appended to.
        overwrite: bool, start afresh in a non-empty run folder.
        verbose: 0, 1 (progress bar) or 2 (one line per epoch), for `fit`.

    Returns:
        dict with "run_dir", "model" (the trained VAE), "metrics" (dict of
        floats), "initial_epoch" (epochs already done before this call) and
        "files" (paths written).
    """
    from tfvae import callbacks as callbacks_lib
    from tfvae import plots

    run_dir = os.fspath(run_dir)
    non_empty = os.path.isdir(run_dir) and bool(os.listdir(run_dir))
    if resume and not os.path.isfile(os.path.join(run_dir, "config.json")):
        raise FileNotFoundError(f"Cannot resume {run_dir}: it has no config.json.")
    if not resume and non_empty and not overwrite:
        raise FileExistsError(f"The run folder {run_dir} exists and is not empty; pass "
                              "--overwrite to replace it or --resume to continue it.")
    # Data errors surface before anything touches the run folder.
    x_train = load_data(config["data"], "train")
    if config["max_train_examples"]:
        x_train = x_train[:config["max_train_examples"]]
    x_test, y_test = load_data(config["data"], "test", labels=True)
    if not resume and non_empty:
        _clear_run(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    _write_json(os.path.join(run_dir, "config.json"), config)

    if config["seed"] is not None:
        keras.utils.set_random_seed(config["seed"])

    from tfvae import distribute

    strategy = distribute.get_strategy(config["strategy"])
    with strategy.scope():
        model = build_model(config, x_train.shape[1:])
    train_ds = _dataset(x_train, config, shuffle=True, seed=config["seed"])
    test_ds = _dataset(x_test, config, shuffle=False, seed=config["seed"])

    history_path = os.path.join(run_dir, "history.csv")
    backup = _AtomicBackupAndRestore(os.path.join(run_dir, "backup"), delete_checkpoint=False)
    initial_epoch = _completed_epochs(run_dir) if resume else 0
    if resume:
        _truncate_history(history_path, initial_epoch)
    callbacks = [backup,
                 keras.callbacks.CSVLogger(history_path, append=resume)]
    callbacks.append(keras.callbacks.TensorBoard(
        os.path.join(run_dir, "logs"), histogram_freq=0, write_graph=False,
        update_freq="epoch"))
    if config["warmup_epochs"]:
        # First, so that the `beta` it adds to the epoch logs reaches the CSV.
        # Its `end` is the model's beta, config["beta"].
        callbacks.insert(0, callbacks_lib.KLWarmup(epochs=config["warmup_epochs"],
                                                   mode=config["warmup_schedule"]))
    if config["free_bits"]:
        callbacks.append(callbacks_lib.FreeBits(config["free_bits"]))
    # The test split doubles as validation data: val_* curves cost ~1 s/epoch
    # and nothing is selected on them.
    model.fit(train_ds, epochs=config["epochs"], callbacks=callbacks, verbose=verbose,
              validation_data=test_ds, shuffle=False)

    files = {"config": os.path.join(run_dir, "config.json"), "history": history_path}
    files["model"] = _save_model(model, os.path.join(run_dir, "model.keras"))
    metrics = {k: float(v) for k, v in model.evaluate(test_ds, verbose=0,
                                                      return_dict=True).items()}
    metrics["num_test_examples"] = int(len(x_test))
    metrics["epochs"] = int(config["epochs"])
    files["metrics"] = _write_json(os.path.join(run_dir, "metrics.json"), metrics)
    figure = lambda name: os.path.join(run_dir, name)  # noqa: E731
    files["samples"] = plots.save_sample_grid(model, figure("samples.png"), seed=0,
                                              overwrite=True)
    files["reconstructions"] = plots.save_reconstructions(
        model, x_test[:10], figure("reconstructions.png"), overwrite=True)
    files["training_curves"] = plots.save_training_curves(
        history_path, figure("training_curves.png"), overwrite=True)
    if model.latent_dim == 2:
        files["manifold"] = plots.save_latent_manifold(model, figure("manifold.png"),
                                                       overwrite=True)
        files["latent_scatter"] = plots.save_latent_scatter(
            model, x_test, y_test, figure("latent_scatter.png"), overwrite=True,
            class_names=(plots.FASHION_MNIST_CLASSES
                         if config["data"] in ("default", "fashion_mnist") else None))
    return {"run_dir": run_dir, "model": model, "metrics": metrics,
            "initial_epoch": initial_epoch, "files": files}


class _AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose two files are each replaced atomically.

    Keras writes latest.weights.h5 in place; a SIGKILL during that write would
    leave a corrupt backup and lose the whole run, not one epoch.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        atomic.write_with(self._weights_path,
                          lambda tmp: self.model.save_weights(tmp, overwrite=True),
                          overwrite=True, suffix=".weights.h5")
        _write_json(self._training_metadata_path,
                    {"epoch": self._current_epoch, "batch": self._last_batch_seen})


def _completed_epochs(run_dir):
    path = os.path.join(run_dir, "backup", "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


def _truncate_history(path, epochs):
    # A kill between the backup and the CSV row (or during a half-written
    # row) must not leave rows for epochs that will be trained again.
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    keep = [r for r in body if len(r) == len(header) and r[0].isdigit() and int(r[0]) < epochs]
    atomic.write_file(path, lambda f: csv.writer(f, lineterminator="\n").writerows([header] + keep),
                      overwrite=True, newline="")


def _clear_run(run_dir):
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def _write_json(path, values):
    return atomic.write_file(path, lambda f: json.dump(values, f, indent=2, sort_keys=True),
                             overwrite=True)


def _save_model(model, path):
    return atomic.write_with(path, lambda tmp: model.save(tmp, overwrite=True),
                             overwrite=True, suffix=".keras")


def load_model(path):
    """Loads a `.keras` model, turning every failure into one clear ValueError."""
    import zipfile

    import tfvae  # noqa: F401  registers the tfvae classes

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file not found: {path}")
    if not path.endswith(".keras"):
        raise ValueError(f"Expected a .keras model file. Received: {path!r}")
    try:
        return keras.models.load_model(path)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"Could not load the model {path}: it is not a valid .keras file "
                         f"({type(e).__name__}: {e})") from e
