"""A training run: a `RunConfig` in, a run folder out (what `tfvae train` and `make demo` call).

A run folder holds everything needed to inspect, rerun or continue a run:

    config.json          the run's `RunConfig` (rerun with `tfvae train --config`)
    data.json            the data it trained and was tested on: source, splits, sizes
                         (and the classes of a conditional run)
    model.keras          the trained model (`keras.models.load_model`)
    history.csv          one row per completed epoch (keras.callbacks.CSVLogger)
    logs/                TensorBoard logs (`tensorboard --logdir RUN/logs`)
    backup/              the last completed epoch's state (for `--resume`)
    metrics.json         test-split loss / elbo / reconstruction / kl
    samples.png          decoded prior samples (a conditional run: a class × sample grid)
    reconstructions.png  training_curves.png
    manifold.png  latent_scatter.png     (2-d latents only)

Every file is written atomically (`tfvae.atomic`), so a killed run never
leaves a half-written model or config. The epoch state is backed up after
every epoch: `train(..., resume=True)` continues from the last completed one.
The other verbs read config.json beside a model to score it on the data it
was trained on (`examples_for`).

Example:
```python
from tfvae import runs
from tfvae.run_config import RunConfig

result = runs.train(RunConfig(latent_dim=2, epochs=5), "runs/example")
result["metrics"]["elbo"]
```
"""

import dataclasses
import math
import os
import shutil
import time

import keras
import numpy as np

from tfvae import atomic, datasets
from tfvae.run_config import RunConfig

TRAIN_SPLIT, TEST_SPLIT = "train", "test"

# Files and folders a run writes; `overwrite=True` removes only these, so a
# mistyped --out never deletes anything else.
RUN_FILES = ("config.json", "data.json", "model.keras", "history.csv", "metrics.json",
             "samples.png", "reconstructions.png", "training_curves.png", "manifold.png",
             "latent_scatter.png", "logs", "backup")


# ---- run folders -----------------------------------------------------------------


def default_run_dir(root="runs"):
    """A fresh folder name under `root`: runs/YYYYmmdd-HHMMSS (suffixed if taken)."""
    base = os.path.join(root, time.strftime("%Y%m%d-%H%M%S"))
    path, i = base, 1
    while os.path.exists(path):
        path, i = f"{base}-{i}", i + 1
    return path


def read_run_config(run_dir):
    """The `RunConfig` a run folder was trained with (its config.json)."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"Run folder not found: {run_dir}")
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is not a run folder: it has no config.json.")
    return RunConfig.from_file(path)


def run_config_of(model_path):
    """The `RunConfig` of the run folder a model file sits in, or None."""
    run_dir = os.path.dirname(os.path.abspath(os.fspath(model_path)))
    if not os.path.isfile(os.path.join(run_dir, "config.json")):
        return None
    return read_run_config(run_dir)


def load_model(path):
    """Loads a `.keras` model, turning every failure into one clear ValueError."""
    import zipfile

    # Registers the tfvae classes with Keras (the CLI imports tfvae lazily).
    from tfvae import layers, likelihoods, optimizers, posteriors, priors, vae  # noqa: F401

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


# ---- the data a model is scored on -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Examples:
    """Examples to score or draw, and where they came from."""

    x: np.ndarray
    data: str
    split: str
    binarized: bool
    seed: int
    y: np.ndarray = None    # the labels, when asked for

    def describe(self):
        binarized = f", binarized with seed {self.seed}" if self.binarized else ""
        return (f"{self.data} ({self.split}, {len(self.x)} examples, "
                f"{int(np.prod(self.x.shape[1:]))} dims{binarized})")


def examples_for(model_paths, data_shape, data=None, split=TEST_SPLIT, binarize=None,
                 seed=None, max_examples=None, labels=False):
    """The examples models are scored on: by default, those their runs were tested on.

    A model saved in a run folder (config.json beside it) is scored on its
    run's data, and binarized (once, with `seed`) when the run binarized its
    data, since a Bernoulli log-likelihood needs 0/1 data. Explicit arguments
    win; models from runs that disagree need them.

    Args:
        model_paths: list of `.keras` paths.
        data_shape: the models' example shape; the data must match it.
        data: None (the runs' data, else "default") or a name or path for
            `tfvae.datasets.load`.
        split: "train" or "test".
        binarize: None (as the runs did, else no), True or False.
        seed: None (the runs' seed, else 0) or the binarization seed.
        max_examples: None or the number of leading examples to keep.
        labels: bool, also load the labels (for conditional models); a
            dataset without labels is then a ValueError.

    Returns:
        `Examples`.
    """
    configs = [c for c in (run_config_of(p) for p in model_paths) if c is not None]
    if data is None:
        data = _agreed({c.data for c in configs}, "data", "--data", "default")
    if binarize is None:
        binarize = _agreed({c.binarization != "none" for c in configs}, "binarization",
                           "--binarize or --no-binarize", False)
    if seed is None:
        # Models compared are often trained with different seeds: then a fixed one.
        seeds = {c.seed for c in configs} - {None}
        seed = seeds.pop() if len(seeds) == 1 else 0
    x, y = datasets.load(data, split, labels=True) if labels else (datasets.load(data, split),
                                                                     None)
    if labels and y is None:
        raise ValueError(f"The data {data!r} has no labels, and a conditional model is "
                         "scored on (x, y) pairs; use a labelled dataset (--data).")
    if max_examples:
        x, y = x[:max_examples], (None if y is None else y[:max_examples])
    if tuple(x.shape[1:]) != tuple(data_shape):
        raise ValueError(f"The data {data!r} has examples of shape {x.shape[1:]}; "
                         f"the model expects {tuple(data_shape)}.")
    if binarize:
        x = datasets.binarize(x, seed=seed)
    return Examples(x=x, data=data, split=split, binarized=bool(binarize), seed=seed, y=y)


def _agreed(values, what, flag, default):
    """The one value the runs agree on, `default` without runs."""
    if len(values) > 1:
        raise ValueError(f"The models come from runs with different {what} "
                         f"({sorted(map(str, values))}); choose explicitly ({flag}).")
    return values.pop() if values else default


# ---- the run ----------------------------------------------------------------------


def build_model(config, data_shape, num_classes=None, class_names=None, steps_per_epoch=None):
    """The `tfvae.VAE` a `RunConfig` describes, compiled with (fused) Adam.

    `num_classes` and `class_names` make it conditional (`config.conditional`).
    With a cyclical warm-up and no `steps_per_execution` in the config,
    `steps_per_epoch` (batches per epoch) caps the steps per call so that
    each cycle sets beta several times (`callbacks.cycle_steps_per_execution`).
    """
    from tfvae import posteriors, priors
    from tfvae.callbacks import CYCLES, cycle_steps_per_execution
    from tfvae.optimizers import FusedAdam
    from tfvae.trainer import default_steps_per_execution
    from tfvae.vae import VAE

    prior = config.prior
    if config.prior == "vamp":
        prior = priors.VampPrior(config.num_pseudo_inputs, seed=config.seed)
    elif config.prior == "maf":
        prior = priors.MAF(config.flow_steps, config.flow_hidden_units)
    posterior = posteriors.IAF(config.flow_steps, config.flow_hidden_units) \
        if config.posterior == "iaf" else config.posterior
    model = VAE(data_shape, config.latent_dim, architecture=config.architecture,
                likelihood=config.likelihood, prior=prior, posterior=posterior,
                beta=config.beta, hidden_units=config.hidden_units, filters=config.filters,
                seed=config.seed, objective=config.objective,
                num_samples=config.num_samples, num_classes=num_classes,
                class_names=class_names, dtype=config.precision)
    steps_per_execution = config.steps_per_execution
    if (steps_per_execution is None and steps_per_epoch and config.warmup_epochs
            and config.warmup_schedule == "cyclical"):
        steps_per_execution = min(default_steps_per_execution(model.distribute_strategy),
                                  cycle_steps_per_execution(config.warmup_epochs, steps_per_epoch,
                                                            cycles=CYCLES))
    # mixed_float16 gets Keras' LossScaleOptimizer from compile (auto_scale_loss).
    model.compile(optimizer=FusedAdam(config.learning_rate), jit_compile=config.jit_compile,
                  steps_per_execution=steps_per_execution)
    return model


def train(config, run_dir, resume=False, overwrite=False, verbose=1):
    """Trains the model a `RunConfig` describes and fills the run folder.

    Args:
        config: `RunConfig`.
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
        "files" (name -> path written).
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"Received an invalid value for `config`, expected a "
                         f"tfvae.run_config.RunConfig. Received: config={config!r}")
    run_dir = os.fspath(run_dir)
    non_empty = _check_folder(run_dir, resume, overwrite)
    # Data errors surface before anything touches the run folder.
    x_train, y_train = (datasets.load(config.data, TRAIN_SPLIT, labels=True)
                        if config.conditional else (datasets.load(config.data, TRAIN_SPLIT), None))
    x_train = x_train[:config.max_train_examples]
    x_test, y_test = datasets.load(config.data, TEST_SPLIT, labels=True)
    classes = _classes(config, y_train, y_test)
    if classes is not None:
        y_train = y_train[:config.max_train_examples]
    if not resume and non_empty:
        _clear_run(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    files = {"config": atomic.write_json(os.path.join(run_dir, "config.json"),
                                         config.to_dict(), overwrite=True),
             "data": _write_data_record(run_dir, config, x_train, x_test, classes)}
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)

    from tfvae import distribute, pipeline

    with distribute.get_strategy(config.strategy).scope():
        model = build_model(config, x_train.shape[1:], *(classes or (None, None)),
                            steps_per_epoch=math.ceil(len(x_train) / config.batch_size))
    if config.prior == "vamp":
        # Pseudo-inputs start as training examples (a resumed run then
        # restores its own from the backup).
        model.prior.initialize_from(x_train, seed=config.seed)
    binarization = config.binarization
    train_ds = pipeline.make_dataset(x_train, config.batch_size, shuffle=True,
                                     binarization=binarization, seed=config.seed,
                                     labels=y_train if classes else None)
    test_ds = pipeline.make_dataset(x_test, config.batch_size, shuffle=False,
                                    binarization=binarization, seed=config.seed,
                                    labels=y_test if classes else None)
    callbacks, initial_epoch = _callbacks(config, run_dir, resume)
    # The test split doubles as validation data: val_* curves cost ~1 s/epoch
    # and nothing is selected on them.
    model.fit(train_ds, epochs=config.epochs, callbacks=callbacks, verbose=verbose,
              validation_data=test_ds, shuffle=False)
    files["history"] = os.path.join(run_dir, "history.csv")
    files["model"] = atomic.write_with(os.path.join(run_dir, "model.keras"),
                                       lambda tmp: model.save(tmp, overwrite=True),
                                       overwrite=True, suffix=".keras")
    metrics = {k: float(v) for k, v in model.evaluate(test_ds, verbose=0,
                                                      return_dict=True).items()}
    metrics.update(num_test_examples=int(len(x_test)), epochs=int(config.epochs))
    files["metrics"] = atomic.write_json(os.path.join(run_dir, "metrics.json"), metrics,
                                         overwrite=True)
    files.update(_figures(model, run_dir, x_test, y_test, datasets.class_names(config.data)))
    return {"run_dir": run_dir, "model": model, "metrics": metrics,
            "initial_epoch": initial_epoch, "files": files}


def _check_folder(run_dir, resume, overwrite):
    """Whether run_dir holds files; refuses what would lose someone's work."""
    non_empty = os.path.isdir(run_dir) and bool(os.listdir(run_dir))
    if resume and not os.path.isfile(os.path.join(run_dir, "config.json")):
        raise FileNotFoundError(f"Cannot resume {run_dir}: it has no config.json.")
    if not resume and non_empty and not overwrite:
        raise FileExistsError(f"The run folder {run_dir} exists and is not empty; pass "
                              "--overwrite to replace it or --resume to continue it.")
    return non_empty


def _classes(config, y_train, y_test):
    """(num_classes, class names or None) of a conditional run, else None."""
    if not config.conditional:
        return None
    if y_train is None or y_test is None:
        raise ValueError(f"--conditional needs a labelled dataset, and {config.data!r} has no "
                         "labels: use a named dataset, IDX files with labels, an .npz with "
                         "y_train/y_test, or a folder of images with one sub-folder per class.")
    names = datasets.class_names(config.data)
    num_classes = len(names) if names else int(max(y_train.max(), y_test.max())) + 1
    return num_classes, (list(names) if names else None)


def _write_data_record(run_dir, config, x_train, x_test, classes=None):
    record = {"data": config.data, "train_split": TRAIN_SPLIT, "test_split": TEST_SPLIT,
              "num_train_examples": int(len(x_train)), "num_test_examples": int(len(x_test)),
              "data_shape": list(x_train.shape[1:]), "binarization": config.binarization,
              "binarization_seed": config.seed}
    if classes is not None:
        record.update(num_classes=classes[0], class_names=classes[1])
    return atomic.write_json(os.path.join(run_dir, "data.json"), record, overwrite=True)


def _callbacks(config, run_dir, resume):
    from tfvae import callbacks as callbacks_lib
    from tfvae import resume as resume_lib

    history_path = os.path.join(run_dir, "history.csv")
    initial_epoch = resume_lib.completed_epochs(run_dir) if resume else 0
    if resume:
        resume_lib.truncate_history(history_path, initial_epoch)
    callbacks = [resume_lib.AtomicBackupAndRestore(os.path.join(run_dir, "backup"),
                                                   delete_checkpoint=False),
                 keras.callbacks.CSVLogger(history_path, append=resume),
                 keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), histogram_freq=0,
                                             write_graph=False, update_freq="epoch")]
    if config.warmup_epochs:
        # First, so that the `beta` it adds to the epoch logs reaches the CSV.
        # Its `end` is the model's beta, config.beta.
        callbacks.insert(0, callbacks_lib.KLWarmup(epochs=config.warmup_epochs,
                                                   mode=config.warmup_schedule,
                                                   cycles=callbacks_lib.CYCLES))
    if config.free_bits:
        callbacks.append(callbacks_lib.FreeBits(config.free_bits))
    return callbacks, initial_epoch


def _figures(model, run_dir, x_test, y_test, class_names):
    from tfvae import plots

    def path(name):
        return os.path.join(run_dir, name)

    conditional = model.condition is not None
    labels = y_test if conditional else None
    files = {
        "samples": plots.save_class_grid(model, path("samples.png"), seed=0, overwrite=True)
        if conditional else plots.save_sample_grid(model, path("samples.png"), seed=0,
                                                   overwrite=True),
        "reconstructions": plots.save_reconstructions(
            model, x_test[:10], path("reconstructions.png"), overwrite=True,
            labels=None if labels is None else labels[:10]),
        "training_curves": plots.save_training_curves(path("history.csv"),
                                                      path("training_curves.png"),
                                                      overwrite=True)}
    if model.latent_dim == 2 and not conditional:
        files["manifold"] = plots.save_latent_manifold(model, path("manifold.png"),
                                                       overwrite=True)
    if model.latent_dim == 2:
        files["latent_scatter"] = plots.save_latent_scatter(
            model, x_test, y_test, path("latent_scatter.png"), class_names=class_names,
            overwrite=True)
    return files


def _clear_run(run_dir):
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
