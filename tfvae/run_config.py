"""The typed run configuration of a training run: defaults, checks, files and merging.

`RunConfig` is the one place the settings of `tfvae train` and their defaults
live: the command line generates its `train` flags from the fields (each
field's `metadata` holds its help text), and a run folder's `config.json` is
`RunConfig.to_dict()`. Options are checked against the allow-list of the
module that owns them (`tfvae.networks.ARCHITECTURES`, `tfvae.likelihoods.NAMES`,
...), so a new option needs no edit here.

Precedence, lowest first: the defaults, a config file, explicit overrides.

Example:
```python
from tfvae.run_config import RunConfig

config = RunConfig.from_file("examples/demo.yaml").merge({"epochs": 1})
config.to_dict()["latent_dim"]
```
"""

import dataclasses
import json
import numbers
import os
from collections.abc import Mapping

from tfvae import (callbacks, distribute, likelihoods, networks, objectives, pipeline,
                   posteriors, priors)
from tfvae.validation import (check_choice, check_int_tuple, check_number,
                              check_positive_int)

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


# ---- checks: each returns the value to store or raises ValueError ----------------


def _choice(allowed):
    def check(value, name):
        return check_choice(value, name, allowed)
    check.choices = allowed
    return check


def _data(value, name):
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"Received an invalid value for `{name}`, expected a dataset name "
                         f"or a path. Received: {name}={value!r}")
    return value


def _int_tuple(value, name):
    if isinstance(value, str):  # "512,256", as a flag or a YAML scalar
        try:
            value = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            pass
    return check_int_tuple(value, name)


def _number(minimum, strict=False):
    def check(value, name):
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        return check_number(value, name, minimum=minimum, strict=strict)
    return check


def _count(value, name):
    """An integer >= 0."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value == 0:
        return 0
    try:
        return check_positive_int(value, name)
    except ValueError:
        raise ValueError(f"Received an invalid value for `{name}`, expected an integer "
                         f">= 0. Received: {name}={value!r}") from None


def _optional(check):
    return lambda value, name: None if value is None else check(value, name)


def _bool(value, name):
    if not isinstance(value, bool):
        raise ValueError(f"Received an invalid value for `{name}`, expected true or false. "
                         f"Received: {name}={value!r}")
    return value


def _field(default, check, help, metavar=None):
    return dataclasses.field(default=default, metadata={
        "check": check, "help": help, "metavar": metavar,
        "choices": getattr(check, "choices", None)})


# ---- the configuration ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every setting of a training run, checked on construction.

    Construct it with keyword arguments, `from_dict`, `from_file`, or
    `merge` an existing one; every way runs the same checks. Lists such as
    `hidden_units` are stored as tuples (the object is immutable and hashable).
    """

    data: str = _field("default", _data, "dataset name (default, mnist, fashion_mnist) or a "
                       "local .npy/.npz file, IDX folder or folder of images", "NAME|PATH")
    architecture: str = _field("mlp", _choice(networks.ARCHITECTURES),
                               "built-in encoder/decoder")
    latent_dim: int = _field(2, check_positive_int,
                             "size of z; 2 also draws manifold figures", "D")
    likelihood: str = _field("bernoulli", _choice(likelihoods.NAMES),
                             "decoder distribution p(x|z)")
    prior: str = _field("standard_normal", _choice(priors.NAMES),
                        "prior p(z); vamp: a mixture of the encoder's posteriors at learned "
                        "pseudo-inputs (Tomczak & Welling 2018); maf: a masked autoregressive "
                        "flow of N(0, I) (Papamakarios et al. 2017)")
    num_pseudo_inputs: int = _field(500, check_positive_int,
                                    "pseudo-inputs of the vamp prior (--prior vamp)", "K")
    posterior: str = _field("gaussian", _choice(posteriors.NAMES),
                            "approximate posterior q(z|x): diagonal Gaussian, or an inverse "
                            "autoregressive flow of it (Kingma et al. 2016)")
    flow_steps: int = _field(2, check_positive_int, "steps of each flow: the iaf posterior "
                             "(--posterior iaf), the maf prior (--prior maf)", "N")
    flow_hidden_units: tuple = _field((320, 320), _int_tuple, "widths of each flow step's "
                                      "MADE (--posterior iaf, --prior maf)", "N,N")
    hidden_units: tuple = _field((512, 256), _int_tuple, "widths of the mlp layers", "N,N")
    filters: tuple = _field((32, 64), _int_tuple, "channels of the conv layers", "N,N")
    epochs: int = _field(20, check_positive_int, "total epochs, counting resumed ones", "N")
    batch_size: int = _field(128, check_positive_int, "global batch size", "N")
    learning_rate: float = _field(1e-3, _number(0, strict=True), "Adam learning rate", "LR")
    beta: float = _field(1.0, _number(0), "weight of the KL term, 1 = ELBO", "B")
    warmup_epochs: int = _field(0, _count, "anneal beta from 0 over N epochs, 0 = off", "N")
    warmup_schedule: str = _field("linear", _choice(callbacks.SCHEDULE_MODES),
                                  "shape of the warm-up: linear, or cyclical (4 cycles, each "
                                  "rising over its first half)")
    objective: str = _field("elbo", _choice(objectives.OBJECTIVES),
                            "train on the ELBO or on the IWAE bound with --num-samples "
                            "importance samples")
    num_samples: int = _field(1, check_positive_int,
                              "samples of z per example in the training objective", "K")
    free_bits: float = _field(0.0, _number(0), "free-bits floor on each latent dimension's "
                              "KL, 0 = off (ELBO objective only)", "NATS")
    binarization: str = _field("none", _choice(pipeline.BINARIZATIONS),
                               "binarize the data: once (static), every epoch (dynamic) or not")
    strategy: str = _field("default", _choice(distribute.STRATEGIES),
                           "tf.distribute strategy")
    seed: int | None = _field(0, _optional(_count),
                              "seed for weights, sampling, shuffling and binarization", "S")
    max_train_examples: int | None = _field(
        None, _optional(check_positive_int),
        "train on the first N examples only, for quick runs (default: all)", "N")
    conditional: bool = _field(False, _bool, "a conditional VAE of p(x | y) on the class labels "
                               "of --data (a labelled dataset: named, IDX with labels, or "
                               "class sub-folders)")
    precision: str = _field("float32", _choice(PRECISIONS),
                            "Keras dtype policy of the networks; the likelihood, KL and ELBO "
                            "stay float32. Mixed precision pays on GPUs/TPUs")
    jit_compile: bool = _field(False, _bool, "compile the train step with XLA; measured "
                               "slower on CPU")
    steps_per_execution: int | None = _field(
        None, _optional(check_positive_int),
        "train steps per call into TensorFlow (default: VAE.compile's: 50, or 1 with "
        "several replicas; with a cyclical warm-up at most a cycle's batches / 8)", "N")

    def __post_init__(self):
        for field in dataclasses.fields(self):
            # Frozen: the checked (normalised) value replaces the given one.
            object.__setattr__(self, field.name, check_field(field.name,
                                                             getattr(self, field.name)))

    @classmethod
    def from_dict(cls, values):
        """A `RunConfig` from a mapping of settings (dashes or underscores).

        Unlike `merge`, a None value is kept (e.g. `seed: null`); missing
        keys take their defaults.

        Raises:
            ValueError: unknown keys (the message lists the known ones) or
                invalid values.
        """
        return cls(**_known(values))

    @classmethod
    def from_file(cls, path):
        """A `RunConfig` from a JSON or YAML (`.yaml`, `.yml`) file of settings.

        Raises:
            FileNotFoundError: no such file.
            ValueError: unparsable, not a mapping, unknown keys, bad values.
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
        if not isinstance(values, Mapping):
            raise ValueError(f"The config file {path} must hold a mapping of settings; "
                             f"it holds a {type(values).__name__}.")
        return cls.from_dict(values)

    def merge(self, overrides):
        """A new `RunConfig` with `overrides` applied; None values are ignored.

        Args:
            overrides: a mapping of settings (dashes or underscores), e.g.
                the flags given on the command line.

        Raises:
            ValueError: unknown keys or invalid values.
        """
        if overrides is None:
            return self
        if not isinstance(overrides, Mapping):
            raise ValueError(f"Received an invalid value for `overrides`, expected a mapping "
                             f"of settings. Received: overrides={overrides!r}")
        changes = {k: v for k, v in _known(overrides).items() if v is not None}
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The settings as a JSON-able dict (tuples as lists)."""
        values = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


KEYS = tuple(f.name for f in dataclasses.fields(RunConfig))


def check_field(name, value):
    """The checked value of one setting, or a ValueError naming it and the value."""
    field = next((f for f in dataclasses.fields(RunConfig) if f.name == name), None)
    if field is None:
        raise ValueError(f"Unknown config key {name!r}. Known keys are: {list(KEYS)}.")
    return field.metadata["check"](value, name)


def _known(values):
    if not isinstance(values, Mapping):
        raise ValueError(f"Expected a mapping of settings. Received: {values!r}")
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise ValueError(f"Unknown config key(s) {unknown}. Known keys are: {sorted(KEYS)}.")
    return values
