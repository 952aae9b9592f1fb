"""Test NLL leaderboard on statically binarized MNIST, beside Pythae's reproductions and the papers.

Each row is trained for a CPU budget (`--budget-minutes`, per row), saved, and
scored by importance sampling: NLL = −mean log p(x) with K = 5000 samples on
all 10,000 test images, ± its standard error over the images
(`tfvae.evaluation.log_marginal_likelihood`). Runs with fewer samples or
images print as smoke runs, not as a leaderboard.

| row          | networks                              | objective | prior     | posterior |
|--------------|---------------------------------------|-----------|-----------|-----------|
| `vae`        | Burda MLP 784-200-200-50 (tanh)       | ELBO      | N(0, I)   | Gaussian  |
| `iwae5`      | Burda MLP                             | IWAE k=5  | N(0, I)   | Gaussian  |
| `iwae50`     | Burda MLP                             | IWAE k=50 | N(0, I)   | Gaussian  |
| `vamp`       | gated MLP 784-300-300-40 (Tomczak)    | ELBO      | VampPrior | Gaussian  |
| `vae_iaf`    | Burda MLP                             | ELBO      | N(0, I)   | IAF, 2 steps, MADE 320-320 |
| `iwae5_vamp` | gated MLP                             | IWAE k=5  | VampPrior | Gaussian  |
| `vamp_iaf`   | gated MLP                             | ELBO      | VampPrior | IAF, 2 steps, MADE 320-320 |
| `iwae5_vamp_late` | gated MLP                        | ELBO, then IWAE k=5 | VampPrior | Gaussian |
| `iwae50_late` | Burda MLP                            | ELBO, then IWAE k=50 | N(0, I) | Gaussian |
| `iwae50_late30` | Burda MLP                          | ELBO, then IWAE k=50 from 30% | N(0, I) | Gaussian |
| `iwae50_late70` | Burda MLP                          | ELBO, then IWAE k=50 from 70% | N(0, I) | Gaussian |
| `iaf_maf`    | Burda MLP                             | ELBO      | MAF ᶠ     | IAF ᶠ     |

Networks are those of the row's reference, except the VAE's: Pythae's VAE
row used a smaller 784-400-40 ReLU MLP; here the VAE is Burda et al.'s, the
IWAE rows' MLP, so that those rows differ in the objective alone; VampPrior +
IAF has no reference and takes the VampPrior row's networks, so that the two
differ in the posterior alone (the prior's components are then the flow's
Gaussian base at the pseudo-inputs, `tfvae.priors.VampPrior`).
`iwae5_vamp_late` is IWAE k=5 + VampPrior trained on the ELBO for the first
half of its schedule and on IWAE-5 for the second: an IWAE step decodes k
samples, so the first half takes about twice as many steps as IWAE throughout
would, and the tighter bound is trained where the learning rate is low. Its
`valid` bound is IWAE-5 in both halves. `iwae50_late` is the same schedule for
IWAE k=50, whose epochs cost some 15 ELBO epochs each; `iwae50_late30` and
`iwae50_late70` train IWAE-50 from 30% and 70% of the schedule instead of 50%.

ᶠ `iaf_maf` is `vae_iaf` with a learned prior, a masked autoregressive flow of
N(0, I) (`tfvae.priors.MAF`, 2 steps, MADE 320-320), whose weights are held at
their initial values (the flow is then the identity, the prior N(0, I)) for the
first 10% of the schedule (`Row.prior_from`). Trained from the first step, the
flow follows the aggregate of the untrained posteriors and the KL stays small
(measured with the Gaussian posterior on 20,000 images and β = 1 from the
start: a total KL of 2.7 nats after three epochs against 6.9 with N(0, I); in
8-minute runs side by side, not held, a `valid` ELBO of −136.6 after 25
epochs against VAE + IAF's −104.5 after 32).

The recipe is the same for every row and made for a budget of hours rather than the
references' 500-3,280 epochs:
- trained on `train` (50,000 images; see `--train-on`); the weights scored are those with the
  best bound on `valid` (10,000 images from MNIST's training set) at β = 1:
  the ELBO for ELBO rows, IWAE-k for IWAE rows. The test split is read only
  by the final evaluation;
- Adam (ε = 1e-4), batch 100, the learning rate on a half cosine from the
  row's rate to 1/100 of it over the budget (over `--epochs` when given);
- KL warm-up (`tfvae.callbacks.KLWarmup`): β from 0 to 1 over the first 10%
  of the epochs the budget allows (estimated from the first epoch).

`--train-on train+valid` is the second half of the usual protocol for a
model that overfits: once runs on `train` have shown where the best `valid`
bound falls in the schedule, the same recipe is trained again on all 60,000
training images (`train` and `valid`) and the weights at the end of the
schedule are scored. Nothing is then held out, so the run makes no choice by
a bound: use it only for a row whose best `valid` epoch came near the end of its
schedule (the VampPrior row: epoch 204 of 219). The test split is never
trained on.

Every row has a run folder OUT/ROW: state.json, the last epoch's checkpoint
and the best one (`.keras`, optimizer included), the test log p(x) per image
and the NLL. Every file is written atomically and state.json names the
checkpoints, so a kill at any moment leaves a consistent folder. The same
command again skips finished rows and evaluations, continues a killed row
from its last completed epoch with the budget it has left, and a killed
evaluation from its last finished slice of test images:

    nohup python benchmarks/leaderboard.py --data ../shared/data/binarized_mnist.npz \\
        >> leaderboard.log 2>&1 &

Smoke run (mechanics only):

    python benchmarks/leaderboard.py --data ../shared/data/binarized_mnist.npz \\
        --rows vae,iwae5 --budget-minutes 0.5 --is-samples 50 --test-images 500 \\
        --out runs/leaderboard-smoke
"""

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import resource
import time
from pathlib import Path

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import burda_mlp, load_binarized_mnist, provenance

import keras
import numpy as np

import tfvae
from tfvae import atomic, datasets, evaluation
from tfvae.callbacks import KLWarmup
from tfvae.optimizers import FusedAdam

FULL_SAMPLES, FULL_IMAGES = 5000, 10000
BATCH_SIZE = 100
TRAIN_SPLITS = {"train": ("train",), "train+valid": ("train", "valid")}  # never "test"
WARMUP_FRACTION = 0.1     # of the epochs the budget allows
LR_FLOOR = 0.01           # the cosine ends at this fraction of the row's rate
EVAL_SLICE = 500          # test images per saved piece of the evaluation
EVAL_BATCH, EVAL_CHUNK = 20, 250   # images × samples per decoder call

## Rows


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    label: str
    network: str                 # "burda" or "gated"
    objective: str               # "elbo" or "iwae"
    k: int = 1                   # importance samples when training
    prior: str = "standard"      # or "vamp", "maf"
    posterior: str = "gaussian"  # or "iaf"
    learning_rate: float = 1e-3
    iwae_from: float = 0.0       # an IWAE row trains on the ELBO before this fraction
    # The prior's weights are held before this fraction. Adam's step count is global,
    # so a prior joining late gets bias-corrected moments that start from zero: its
    # first hundred updates are 3-6.5 times the learning rate for a steady gradient.
    prior_from: float = 0.0
    pythae: str = "—"
    paper: str = "—"

    def recipe(self):
        """What the trained weights depend on (the reference numbers are not)."""
        return {f: getattr(self, f) for f in ("network", "objective", "k", "prior",
                                              "posterior", "learning_rate", "iwae_from",
                                              "prior_from")}

    def objective_at(self, fraction):
        """The objective trained at this fraction of the schedule."""
        return "elbo" if fraction < self.iwae_from else self.objective


# Pythae's and the papers' IWAE k=50 on this MNIST, the reference of every IWAE-50 schedule.
IWAE50_REFERENCES = {"pythae": "86.82 ᶜ", "paper": "84.78 ᵇ, 87.1 ᶜ"}

ROWS = {row.key: row for row in (
    Row("vae", "VAE", "burda", "elbo", pythae="89.78 ᵃ", paper="86.76 ᵇ"),
    Row("iwae5", "IWAE k=5", "burda", "iwae", k=5, paper="85.54 ᵇ"),
    Row("iwae50", "IWAE k=50", "burda", "iwae", k=50, **IWAE50_REFERENCES),
    Row("vamp", "VampPrior (K=500)", "gated", "elbo", prior="vamp", learning_rate=5e-4,
        pythae="85.79 ᵈ", paper="85.57 ᵈ"),
    Row("vae_iaf", "VAE + IAF", "burda", "elbo", posterior="iaf",
        paper="79.88 ᵉ, not comparable"),
    Row("iwae5_vamp", "IWAE k=5 + VampPrior", "gated", "iwae", k=5, prior="vamp",
        learning_rate=5e-4),
    Row("vamp_iaf", "VampPrior + IAF", "gated", "elbo", prior="vamp", posterior="iaf",
        learning_rate=5e-4),
    Row("iwae5_vamp_late", "IWAE k=5 + VampPrior, late", "gated", "iwae",
        k=5, prior="vamp", learning_rate=5e-4, iwae_from=0.5),
    Row("iwae50_late", "IWAE k=50, late", "burda", "iwae", k=50, iwae_from=0.5,
        **IWAE50_REFERENCES),
    Row("iwae50_late30", "IWAE k=50, from 30%", "burda", "iwae", k=50, iwae_from=0.3,
        **IWAE50_REFERENCES),
    Row("iwae50_late70", "IWAE k=50, from 70%", "burda", "iwae", k=50, iwae_from=0.7,
        **IWAE50_REFERENCES),
    Row("iaf_maf", "VAE + IAF, MAF prior", "burda", "elbo", prior="maf", posterior="iaf",
        prior_from=WARMUP_FRACTION),
)}
# What a folder saved before a recipe field existed was trained with.
RECIPE_DEFAULTS = {"train_on": "train", "iwae_from": 0.0, "prior_from": 0.0}
NETWORKS = {"burda": "Burda MLP", "gated": "gated MLP"}
LATENT_DIMS = {"burda": 50, "gated": 40}

NOTES = """\
ᵃ Pythae's VAE: one hidden layer of 400 ReLU units, latent 40, Adam 1e-4, 500 epochs, and NLL
  with 200 importance samples, not 5000; Pythae's ± is the spread of 5 repeated estimates, not a
  standard error over test images.
ᵇ Burda et al. 2016, table 1 (one stochastic layer, the Burda MLP, 3,280 epochs), on MNIST
  binarized afresh at every pass: a larger effective training set than this fixed binarization.
ᶜ The Burda MLP trained as an IWAE (k=50) on this fixed binarization: Burda et al. 2016 (87.1, the
  number Pythae cites) and Pythae (batch 20, Adam 1e-3 with Burda's decay, 3,280 epochs).
ᵈ Tomczak & Welling 2018 and Pythae's reproduction: gated MLP 300-300, latent 40, 500
  pseudo-inputs, β warm-up over 100 epochs; Pythae trained 2,000 epochs with RMSprop 1e-4.
ᵉ Kingma et al. 2016 report IAF only on a convolutional ResNet VAE; no MLP number exists."""


@keras.saving.register_keras_serializable(package="tfvae_benchmarks")
class GatedDense(keras.layers.Layer):
    """h(x) ⊙ sigmoid(g(x)), two affine maps: the hidden layer of Tomczak & Welling's networks."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.h = keras.layers.Dense(units, kernel_initializer="he_normal")
        self.g = keras.layers.Dense(units, kernel_initializer="he_normal")

    def build(self, input_shape):
        self.h.build(input_shape)
        self.g.build(input_shape)

    def call(self, x):
        return self.h(x) * keras.ops.sigmoid(self.g(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def gated_networks(latent_dim):
    encoder = keras.Sequential([keras.Input((784,)), GatedDense(300), GatedDense(300)],
                               name="encoder")
    decoder = keras.Sequential([keras.Input((latent_dim,)), GatedDense(300), GatedDense(300),
                                keras.layers.Dense(784, kernel_initializer="he_normal")],
                               name="decoder")
    return encoder, decoder


def _model_part(module, name, row):
    part = getattr(getattr(tfvae, module), name, None)
    if part is None:
        raise ValueError(f"The row {row.key!r} needs tfvae.{module}.{name}, which this tfvae "
                         f"does not have. Received: rows={row.key!r}")
    return part


def build_model(row, seed, x_train):
    """The row's VAE, initialised from `seed`, compiled with its optimizer."""
    keras.utils.set_random_seed(seed)
    extras = {}
    if row.prior == "vamp":
        extras["prior"] = _model_part("priors", "VampPrior", row)(num_pseudo_inputs=500,
                                                                  seed=seed)
    if row.prior == "maf":
        extras["prior"] = _model_part("priors", "MAF", row)(num_steps=2, hidden_units=(320, 320))
    if row.posterior == "iaf":
        extras["posterior"] = _model_part("posteriors", "IAF", row)(num_steps=2,
                                                                    hidden_units=(320, 320))
    if row.network == "burda":
        model = burda_mlp(row.objective, row.k, seed=seed)
        if extras:
            model = tfvae.VAE((784,), LATENT_DIMS["burda"], encoder=model.encoder,
                              decoder=model.decoder, objective=row.objective,
                              num_samples=row.k, seed=seed, **extras)
    else:
        encoder, decoder = gated_networks(LATENT_DIMS["gated"])
        model = tfvae.VAE((784,), LATENT_DIMS["gated"], encoder=encoder, decoder=decoder,
                          objective=row.objective, num_samples=row.k, seed=seed, **extras)
    if row.prior == "vamp":
        model.prior.initialize_from(x_train, seed=seed)
    model.compile(optimizer=FusedAdam(row.learning_rate, epsilon=1e-4))
    if row.prior_from:
        # Built with every weight, so that the prior can join later (and the saved
        # optimizer always holds the same variables).
        model.optimizer.build(model.trainable_variables)
    return model

## Run folders


def write_state(run_dir, state):
    atomic.write_json(run_dir / "state.json", state, overwrite=True)


def read_state(run_dir, recipe):
    """The row's saved state, or a fresh one; refuses a folder trained otherwise."""
    path = run_dir / "state.json"
    if not path.is_file():
        return {"recipe": recipe, "epochs": 0, "seconds": 0.0, "warmup_epochs": None,
                "last": None, "best": None, "best_epoch": None, "best_val": None,
                "seed_states": None, "history": [], "finished": False}
    state = read_json(path)
    state["recipe"] = {**RECIPE_DEFAULTS, **state["recipe"]}
    if state["recipe"] != recipe:
        changed = {k: (state["recipe"].get(k), v) for k, v in recipe.items()
                   if state["recipe"].get(k) != v}
        raise ValueError(f"Received an invalid value for `out`: {run_dir} holds a run trained "
                         f"with other settings (saved, requested: {changed}); use another "
                         f"--out. Received: out={str(run_dir.parent)!r}")
    # Files written after the last state (a kill between the two writes).
    keep = {state["last"], state["best"]}
    for path in run_dir.glob("*.keras"):
        if path.name not in keep:
            path.unlink()
    for path in run_dir.glob(".*.tmp-*"):
        atomic.remove(path)
    return state


def read_json(path):
    return json.loads(Path(path).read_text())


def save_checkpoint(model, run_dir, name):
    # A held prior is saved trainable: the optimizer holds its slots from the start,
    # and the loaded model must build the same optimizer (`train_epoch` holds it again).
    held = not model.prior.trainable
    model.prior.trainable = True
    try:
        atomic.write_with(run_dir / name, lambda tmp: model.save(tmp, overwrite=True),
                          overwrite=True, suffix=".keras")
    finally:
        model.prior.trainable = not held


def seed_states(model):
    """The sampling noise's position: `.keras` files do not keep SeedGenerator states."""
    return [np.asarray(v).tolist() for v in model.variables
            if v.path.endswith("seed_generator_state")]


def restore_seed_states(model, states):
    variables = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    for variable, value in zip(variables, states, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))


def load_checkpoint(run_dir, state):
    model = keras.models.load_model(run_dir / state["last"])
    restore_seed_states(model, state["seed_states"])
    return model

## Training


def progress(state, budget_s, max_epochs):
    """How far through its schedule the row is, in [0, 1]: by epochs when capped, else by time."""
    by_time = state["seconds"] / budget_s
    return max(by_time, state["epochs"] / max_epochs) if max_epochs else by_time


def learning_rate(row, fraction):
    cosine = 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))
    return row.learning_rate * (LR_FLOOR + (1 - LR_FLOOR) * cosine)


def train_row(row, args, splits, run_dir, data_sha):
    """Trains (or resumes) one row until its budget or `--epochs`; returns its state."""
    recipe = {**row.recipe(), "seed": args.seed, "budget_minutes": args.budget_minutes,
              "epochs": args.epochs, "batch_size": BATCH_SIZE, "train_on": args.train_on,
              "data_sha256": data_sha}
    run_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(run_dir, recipe)
    if state["finished"]:
        print(f"{row.key}: trained ({state['epochs']} epochs), not retrained", flush=True)
        return state
    budget_s = args.budget_minutes * 60
    x_train = np.concatenate([splits[name] for name in TRAIN_SPLITS[args.train_on]])
    if state["last"]:
        print(f"{row.key}: resuming after epoch {state['epochs']} "
              f"({state['seconds'] / 60:.1f} of {args.budget_minutes:g} min used)", flush=True)
        model = load_checkpoint(run_dir, state)
    else:
        model = build_model(row, args.seed, x_train)
    if args.epochs and state["warmup_epochs"] is None:
        state["warmup_epochs"] = max(1, round(WARMUP_FRACTION * args.epochs))
    # With `valid` trained on, no split is left to choose by: the last epoch is scored.
    valid = (datasets.make_dataset(splits["valid"], 500, shuffle=False)
             if "valid" not in TRAIN_SPLITS[args.train_on] else None)
    while progress(state, budget_s, args.epochs) < 1:
        train_epoch(model, row, args, x_train, valid, state, budget_s)
        save_epoch(model, run_dir, state)
    state["finished"] = True
    write_state(run_dir, state)
    return state


def train_epoch(model, row, args, x_train, valid, state, budget_s):
    """One epoch of `fit` and its validation, if any; appends them to the state's history."""
    epoch = state["epochs"]
    fraction = progress(state, budget_s, args.epochs)
    lr = learning_rate(row, fraction)
    model.optimizer.learning_rate = lr
    objective = row.objective_at(fraction)
    if model.objective != objective:
        model.objective = objective      # the next fit traces its step again
    if row.prior_from:
        # Set every epoch: checkpoints hold the prior trainable (`save_checkpoint`).
        trained = len(model.trainable_variables)
        model.prior.trainable = fraction >= row.prior_from
        if len(model.trainable_variables) != trained:
            model.make_train_function(force=True)
    # β(0) = 0 whatever the warm-up's length, which is known after this epoch.
    warmup = KLWarmup(epochs=state["warmup_epochs"] or 1)
    # A fresh seeded shuffle per epoch: a resumed run sees the batches it would have.
    seed = int(np.random.SeedSequence([args.seed, epoch]).generate_state(1)[0] % 2**31)
    train = datasets.make_dataset(x_train, BATCH_SIZE, seed=seed, cache=False)
    start = time.perf_counter()
    logs = model.fit(train, validation_data=valid, initial_epoch=epoch, epochs=epoch + 1,
                     callbacks=[warmup], verbose=0).history
    seconds = time.perf_counter() - start
    metric = "iwae" if row.objective == "iwae" else "elbo"
    val = float(logs[f"val_{metric}"][-1]) if valid is not None else None
    state["history"].append({"epoch": epoch + 1, "objective": objective,
                             "seconds": round(seconds, 3), "lr": lr,
                             "beta": float(logs["beta"][-1]),
                             "loss": float(logs["loss"][-1]), f"val_{metric}": val})
    state["epochs"] = epoch + 1
    state["seconds"] += seconds
    if state["warmup_epochs"] is None:
        state["warmup_epochs"] = max(1, round(WARMUP_FRACTION * budget_s / seconds))
    best = val is None or state["best_val"] is None or val > state["best_val"]
    if best:
        state["best_val"], state["best_epoch"] = val, epoch + 1
    scored = "no split held out" if val is None else f"val {metric} {val:.2f}"
    print(f"{row.key} epoch {epoch + 1}: {objective}, {seconds:.1f} s, lr {lr:.2e}, "
          f"β {logs['beta'][-1]:.2f}, loss {logs['loss'][-1]:.2f}, "
          f"{scored}{' (best)' if best and val is not None else ''}", flush=True)


def save_epoch(model, run_dir, state):
    """Checkpoints, then the state that names them, then removes what it replaced."""
    old = {state["last"], state["best"]}
    state["last"] = f"last-{state['epochs']:05d}.keras"
    save_checkpoint(model, run_dir, state["last"])
    if state["best_epoch"] == state["epochs"]:
        state["best"] = f"best-{state['epochs']:05d}.keras"
        # A second name for the same file: the next epoch replaces `last`, not this.
        try:
            os.link(run_dir / state["last"], run_dir / state["best"])
        except OSError:  # a filesystem without hard links
            save_checkpoint(model, run_dir, state["best"])
    state["seed_states"] = seed_states(model)
    write_state(run_dir, state)
    for name in old - {state["last"], state["best"], None}:
        atomic.remove(run_dir / name)

## Evaluation


def evaluate_row(row, args, x_test, run_dir, state):
    """IS-NLL of the row's best checkpoint on `x_test`, resumable slice by slice."""
    tag = f"K{args.is_samples}-n{len(x_test)}"
    result_path = run_dir / f"nll-{tag}.json"
    if result_path.is_file():
        return read_json(result_path)
    model = keras.models.load_model(run_dir / state["best"])
    partial = run_dir / f"log_px-{tag}.partial.npy"
    log_px = np.load(partial) if partial.is_file() else np.empty(0)
    # Trace the compiled estimator on one image, so the first slice times the work alone.
    estimate = dict(num_samples=args.is_samples, batch_size=EVAL_BATCH, chunk_size=EVAL_CHUNK)
    evaluation.log_marginal_likelihood(model, x_test[:1], seed=0, **estimate)
    timed_s = 0.0
    for start in range(len(log_px), len(x_test), EVAL_SLICE):
        piece = x_test[start:start + EVAL_SLICE]
        seed = int(np.random.SeedSequence([args.seed, start]).generate_state(1)[0] % 2**31)
        began = time.perf_counter()
        values = evaluation.log_marginal_likelihood(model, piece, seed=seed, **estimate)
        seconds = time.perf_counter() - began
        timed_s += seconds
        log_px = np.concatenate([log_px, values])
        atomic.write_with(partial, lambda tmp: np.save(tmp, log_px),
                          overwrite=True, suffix=".npy")
        if start == 0 or start + EVAL_SLICE >= len(x_test):
            print(f"{row.key}: IS-NLL at K={args.is_samples}: {len(piece)} images in "
                  f"{seconds:.1f} s ({1000 * seconds / len(piece):.0f} s per 1000 images; "
                  f"{len(x_test) * seconds / len(piece) / 60:.1f} min for {len(x_test)}, "
                  f"estimated); peak memory {peak_rss_gib():.2f} GiB", flush=True)
    atomic.write_with(run_dir / f"log_px-{tag}.npy",
                      lambda tmp: np.save(tmp, log_px), overwrite=True,
                      suffix=".npy")
    result = {"nll": float(-log_px.mean()),
              "stderr": float(log_px.std(ddof=1) / math.sqrt(len(log_px))),
              "num_samples": args.is_samples, "num_images": len(log_px),
              "checkpoint": state["best"], "eval_seconds": round(timed_s, 1),
              "peak_rss_gib": round(peak_rss_gib(), 2)}
    atomic.write_json(result_path, result, overwrite=True)
    atomic.remove(partial)
    return result


def peak_rss_gib():
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

## Table


def seconds_per_epoch(history):
    """Median seconds per epoch, per objective in the order trained: "3.5 then 82.1".

    An IWAE-50 epoch costs some 15 ELBO epochs, so one median over a late row's
    epochs would describe neither phase.
    """
    phases = {}
    for h in history:   # folders saved before epochs named their objective are one phase
        phases.setdefault(h.get("objective"), []).append(h["seconds"])
    return " then ".join(f"{np.median(s):.1f}" for s in phases.values())


def table(out, num_samples, num_images, budget_minutes):
    """The markdown leaderboard of every row with a result for (K, n) under `out`."""
    smoke = num_samples < FULL_SAMPLES or num_images < FULL_IMAGES
    lines = [f"Test NLL on statically binarized MNIST, nats (lower is better): K = "
             f"{num_samples} importance samples, {num_images} test images, "
             f"{budget_minutes:g} min of training per row."]
    if smoke:
        lines.append(f"SMOKE RUN, NOT A LEADERBOARD: a leaderboard needs K = {FULL_SAMPLES} "
                     f"samples on all {FULL_IMAGES} test images.")
    lines += ["", "| model | networks, objective | epochs (best) | s/epoch | IS eval min "
              "| ours: NLL ± s.e. | Pythae | paper |", "|---|---|---|---|---|---|---|---|"]
    for row in ROWS.values():
        run_dir = Path(out) / row.key
        result = run_dir / f"nll-K{num_samples}-n{num_images}.json"
        objective = "ELBO" if row.objective == "elbo" else f"IWAE k={row.k}"
        if row.iwae_from:
            objective = f"ELBO, then {objective} from {row.iwae_from:.0%} of the schedule"
        if row.prior_from:
            objective += f", prior held for the first {row.prior_from:.0%}"
        if result.is_file():
            state, res = read_json(run_dir / "state.json"), read_json(result)
            train_on = {**RECIPE_DEFAULTS, **state.get("recipe", {})}["train_on"]
            if train_on != "train":
                objective += f", trained on {train_on}"
            ours = (f"{state['epochs']} ({state['best_epoch']}) | "
                    f"{seconds_per_epoch(state['history'])} | "
                    f"{res['eval_seconds'] / 60:.1f} | {res['nll']:.2f} ± {res['stderr']:.2f}")
        else:
            ours = "not run | | | —"
        lines.append(f"| {row.label} | {NETWORKS[row.network]}, {objective} | {ours} | "
                     f"{row.pythae} | {row.paper} |")
    return "\n".join(lines + ["", NOTES])

## Main


@contextlib.contextmanager
def lock(out):
    """Holds OUT/.lock for the run; the kernel drops it however the process ends."""
    with open(out / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"Another leaderboard run is using {out}; wait for it or "
                             "choose another --out.") from None
        yield


def check_args(args):
    """Validates the flags; returns the rows to run. ValueError names the bad flag."""
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if not rows or unknown:
        raise ValueError(f"Received an invalid value for `--rows`, expected a comma-separated "
                         f"list of {list(ROWS)}. Received: rows={args.rows!r}")
    for name in ("budget_minutes", "is_samples", "test_images", "epochs"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise ValueError(f"Received an invalid value for `--{name.replace('_', '-')}`, "
                             f"expected a positive number. Received: {name}={value!r}")
    if args.train_on not in TRAIN_SPLITS:
        raise ValueError(f"Received an invalid value for `--train-on`, expected one of "
                         f"{list(TRAIN_SPLITS)}. Received: train_on={args.train_on!r}")
    if not os.path.isfile(args.data):
        raise ValueError(f"Received an invalid value for `--data`, expected the path of "
                         f"binarized_mnist.npz. Received: data={args.data!r}")
    return [ROWS[r] for r in rows]


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="the .npz with train/valid/test 0/1 arrays of 784 columns")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"any of {list(ROWS)}")
    parser.add_argument("--out", default="runs/leaderboard", help="one run folder per row")
    parser.add_argument("--budget-minutes", type=float, default=60.0,
                        help="training time per row (validation included)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="at most this many epochs; the schedules then follow epochs, "
                             "not time, so a rerun repeats the same steps")
    parser.add_argument("--train-on", default="train",
                        help=f"the splits trained on, one of {list(TRAIN_SPLITS)}; with "
                             "train+valid the last epoch is scored")
    parser.add_argument("--is-samples", type=int, default=FULL_SAMPLES)
    parser.add_argument("--test-images", type=int, default=FULL_IMAGES,
                        help="score this many test images, evenly spaced over the split")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def parse_args(argv):
    """`(args, rows)`; a bad flag stops the command with one line naming it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args, check_args(args)
    except ValueError as e:
        parser.error(str(e))


def test_subset(x_test, n):
    """n test images evenly spaced over the split (which is sorted by digit), or all of them."""
    if n >= len(x_test):
        return x_test
    return x_test[np.linspace(0, len(x_test) - 1, n).round().astype(int)]


def main(argv=None):
    args, rows = parse_args(argv)
    splits = load_binarized_mnist(args.data)
    with open(args.data, "rb") as f:
        data_sha = hashlib.sha256(f.read()).hexdigest()
    x_test = test_subset(splits["test"], args.test_images)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with lock(out):
        for row in rows:
            state = train_row(row, args, splits, out / row.key, data_sha)
            evaluate_row(row, args, x_test, out / row.key, state)
    print(table(out, args.is_samples, len(x_test), args.budget_minutes))
    provenance(__file__, argv)


if __name__ == "__main__":
    main()
