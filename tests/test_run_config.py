"""RunConfig: defaults, files, merge precedence, refusals, round trips."""

import dataclasses
import json

import pytest

from tfvae import atomic, callbacks, distribute, likelihoods, networks, objectives
from tfvae import pipeline, posteriors, priors
from tfvae.run_config import KEYS, PRECISIONS, RunConfig, check_field

# The settings of a run as documented (README, `tfvae train --help`), written
# out here rather than read from the code under test.
DOCUMENTED_DEFAULTS = {
    "data": "default", "architecture": "mlp", "latent_dim": 2, "likelihood": "bernoulli",
    "prior": "standard_normal", "num_pseudo_inputs": 500, "posterior": "gaussian",
    "flow_steps": 2, "flow_hidden_units": [320, 320],
    "hidden_units": [512, 256], "filters": [32, 64], "epochs": 20, "batch_size": 128,
    "learning_rate": 1e-3, "beta": 1.0, "warmup_epochs": 0, "warmup_schedule": "linear",
    "objective": "elbo", "num_samples": 1, "free_bits": 0.0, "binarization": "none",
    "strategy": "default", "seed": 0, "max_train_examples": None, "conditional": False,
    "precision": "float32",
    "jit_compile": False, "steps_per_execution": None,
}


def test_defaults():
    config = RunConfig()
    assert config.to_dict() == DOCUMENTED_DEFAULTS
    assert list(KEYS) == list(DOCUMENTED_DEFAULTS)
    assert config.hidden_units == (512, 256)  # stored as tuples: frozen and hashable
    assert hash(config) == hash(RunConfig())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    for field in dataclasses.fields(RunConfig):
        assert field.metadata["help"], field.name


def test_allow_lists_are_the_owners():
    choices = {f.name: f.metadata["choices"] for f in dataclasses.fields(RunConfig)}
    assert choices["architecture"] is networks.ARCHITECTURES
    assert choices["likelihood"] is likelihoods.NAMES
    assert choices["warmup_schedule"] is callbacks.SCHEDULE_MODES
    assert choices["objective"] is objectives.OBJECTIVES
    assert choices["strategy"] is distribute.STRATEGIES
    assert choices["binarization"] is pipeline.BINARIZATIONS
    assert choices["precision"] is PRECISIONS
    assert choices["prior"] is priors.NAMES
    assert choices["posterior"] is posteriors.NAMES


@pytest.mark.parametrize("suffix, text, units", [
    (".json", json.dumps({"latent-dim": 8, "hidden_units": [64], "beta": 0.5}), (64,)),
    (".yaml", "latent-dim: 8\nhidden_units: [64]\nbeta: 0.5\n", (64,)),
    (".yml", "latent_dim: 8\nhidden-units: 64,32\nbeta: 0.5\n", (64, 32)),  # as the flag
])
def test_from_file_json_and_yaml(tmp_path, suffix, text, units):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    config = RunConfig.from_file(path)
    assert (config.latent_dim, config.hidden_units, config.beta) == (8, units, 0.5)
    assert config.epochs == DOCUMENTED_DEFAULTS["epochs"]


def test_from_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        RunConfig.from_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{latent_dim: 3")
    with pytest.raises(ValueError, match="Could not parse.*bad.json"):
        RunConfig.from_file(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping.*list"):
        RunConfig.from_file(listed)
    # YAML reads 1e-3 (no dot) as a string; a number field takes it as the number.
    sci = tmp_path / "sci.yaml"
    sci.write_text("learning_rate: 1e-3\n")
    assert RunConfig.from_file(sci).learning_rate == 0.001


def test_merge_precedence_and_none():
    base = RunConfig.from_dict({"epochs": 7, "latent_dim": 8, "seed": None})
    assert base.seed is None  # from_dict keeps an explicit null
    merged = base.merge({"epochs": 3, "beta": None, "seed": None})
    # overrides > base > defaults; None never overrides.
    assert (merged.epochs, merged.latent_dim, merged.beta, merged.seed) == (3, 8, 1.0, None)
    assert base.epochs == 7  # merge returns a new config
    assert base.merge(None) is base
    with pytest.raises(ValueError, match="overrides"):
        base.merge(["epochs", 3])


def test_unknown_keys_list_the_known_ones():
    for make in (lambda: RunConfig.from_dict({"latnet_dim": 3}),
                 lambda: RunConfig().merge({"latnet_dim": 3})):
        with pytest.raises(ValueError, match=r"Unknown config key.*latnet_dim") as info:
            make()
        for key in KEYS:
            assert key in str(info.value)


@pytest.mark.parametrize("key, value", [
    ("architecture", "rnn"), ("likelihood", "poisson"), ("warmup_schedule", "cosine"),
    ("objective", "wake-sleep"), ("strategy", "horovod"), ("binarization", "otsu"),
    ("precision", "float8"),
])
def test_every_allow_list_refusal_names_the_value(key, value):
    with pytest.raises(ValueError, match=rf"Unrecognized {key}={value!r}.*Supported"):
        RunConfig().merge({key: value})


@pytest.mark.parametrize("key, value", [
    ("latent_dim", 0), ("epochs", -1), ("batch_size", 2.5), ("num_samples", True),
    ("steps_per_execution", "8"), ("max_train_examples", 0), ("learning_rate", 0.0),
    ("beta", -0.1), ("free_bits", float("nan")), ("warmup_epochs", -2), ("seed", 1.5),
    ("hidden_units", []), ("filters", "a,b"), ("jit_compile", "yes"), ("data", ""),
])
def test_bad_values_name_the_argument_and_value(key, value):
    with pytest.raises(ValueError, match=rf"`{key}`.*Received: {key}="):
        RunConfig().merge({key: value})


def test_normalised_values():
    config = RunConfig(hidden_units="128,64", filters=[16], warmup_epochs=0,
                       max_train_examples=None, learning_rate=1)
    assert config.hidden_units == (128, 64) and config.filters == (16,)
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert check_field("latent_dim", 4) == 4
    with pytest.raises(ValueError, match="Unknown config key"):
        check_field("latnet_dim", 4)


def test_round_trip_through_a_json_file(tmp_path):
    config = RunConfig(data="x.npz", latent_dim=16, hidden_units=(64, 32), seed=None,
                       binarization="dynamic", max_train_examples=100, jit_compile=True)
    assert RunConfig.from_dict(config.to_dict()) == config
    path = atomic.write_json(tmp_path / "config.json", config.to_dict())
    assert json.loads((tmp_path / "config.json").read_text()) == config.to_dict()
    assert RunConfig.from_file(path) == config
    with pytest.raises(FileExistsError):
        atomic.write_json(path, {})
    atomic.write_json(path, {"epochs": 2}, overwrite=True)
    assert RunConfig.from_file(path) == RunConfig(epochs=2)
