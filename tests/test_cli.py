"""The `tfvae` command line: flags, config merging, user errors, verbs, resume, start-up."""

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tests.helpers import run_cli
from tfvae import cli, datasets, evaluation, runs
from tfvae.run_config import KEYS, RunConfig

TINY = ["--max-train-examples", "256", "--latent-dim", "2", "--hidden-units", "32,16",
        "--batch-size", "64"]


run_main = run_cli


def assert_one_line_error(code, err, expected_code, pattern):
    assert code == expected_code
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("tfvae: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err


# ---- help and flags ----------------------------------------------------------------


def test_help_lists_every_verb_and_flag(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    for verb in ("train", "evaluate", "sample", "reconstruct", "export", "compare"):
        assert verb in out
    code, out, _ = run_main(["train", "--help"], capsys)
    assert code == 0
    for flag in ("--data", "--architecture", "--latent-dim", "--likelihood", "--epochs",
                 "--batch-size", "--beta", "--warmup-epochs", "--strategy", "--binarization",
                 "--learning-rate", "--out", "--config", "--resume", "--quiet", "--verbose",
                 "--seed", "--max-train-examples", "--overwrite", "--objective",
                 "--num-samples", "--free-bits", "--warmup-schedule", "--precision",
                 "--jit-compile", "--steps-per-execution", "--prior", "--num-pseudo-inputs",
                 "--posterior", "--flow-steps", "--flow-hidden-units"):
        assert flag in out
    # Every flag of every verb has help text.
    for action in cli.build_parser()._subparsers._group_actions[0].choices.values():
        for flag in action._actions:
            assert flag.help, (action.prog, flag.option_strings)


def test_only_given_flags_override_the_config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("latent-dim: 8\nepochs: 7\nbeta: 0.5\n")
    args = cli.build_parser().parse_args(["train", "--config", str(path), "--epochs", "3"])
    flags = {k: v for k, v in vars(args).items() if k in KEYS}
    assert flags == {"epochs": 3}  # defaults are suppressed, not passed as values
    config = RunConfig.from_file(path).merge(flags)
    assert config.epochs == 3 and config.latent_dim == 8 and config.beta == 0.5
    assert config.batch_size == RunConfig().batch_size
    # The flags' defaults shown in --help are the RunConfig's.
    train = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    assert "(default: 512,256)" in train._option_string_actions["--hidden-units"].help
    assert f"(default: {RunConfig().epochs})" in train._option_string_actions["--epochs"].help


# ---- user errors: one line, exit 2 for usage, 1 otherwise -----------------------------


def test_bad_flag_values_are_usage_errors(capsys):
    # The message is RunConfig's own check of the field.
    assert_one_line_error(*run_main(["train", "--latent-dim", "0"], capsys)[::2], 2,
                          r"--latent-dim.*positive integer.*latent_dim=0")
    assert_one_line_error(*run_main(["train", "--latent-dim", "two"], capsys)[::2], 2,
                          r"--latent-dim.*integer.*'two'")
    assert_one_line_error(*run_main(["train", "--learning-rate", "-1"], capsys)[::2], 2,
                          r"--learning-rate")
    assert_one_line_error(*run_main(["train", "--architecture", "rnn"], capsys)[::2], 2,
                          r"rnn")
    assert_one_line_error(*run_main(["frobnicate"], capsys)[::2], 2, r"frobnicate")


def test_user_errors_print_one_line(tmp_path, capsys):
    assert_one_line_error(*run_main(["train", "--data", "no_such_dataset", "--out",
                                     str(tmp_path / "r")], capsys)[::2], 1, r"no_such_dataset")
    assert not (tmp_path / "r").exists()  # nothing written for a failed start
    assert_one_line_error(*run_main(["evaluate", "--model", str(tmp_path / "missing.keras")],
                                    capsys)[::2], 1, r"not found.*missing\.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"this is not a zip archive")
    assert_one_line_error(*run_main(["sample", "--model", str(corrupt), "--out",
                                     str(tmp_path / "s.png")], capsys)[::2], 1,
                          r"corrupt\.keras.*not a valid \.keras")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert_one_line_error(*run_main(["train", "--out", str(busy)], capsys)[::2], 1,
                          r"not empty.*--overwrite.*--resume")
    assert (busy / "notes.txt").read_text() == "mine"
    bad_config = tmp_path / "bad.json"
    bad_config.write_text(json.dumps({"latent_dim": 0}))
    assert_one_line_error(*run_main(["train", "--config", str(bad_config)], capsys)[::2], 1,
                          r"latent_dim=0")
    bad_config.write_text(json.dumps({"latnet_dim": 3}))
    assert_one_line_error(*run_main(["train", "--config", str(bad_config)], capsys)[::2], 1,
                          r"Unknown config key.*latnet_dim")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        cli.main(["evaluate", "--model", str(tmp_path / "missing.keras"), "--debug"])


# ---- a real (tiny) run and the verbs on its model ---------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    code = cli.main(["train", *TINY, "--epochs", "2", "--warmup-epochs", "2", "--beta", "0.8",
                     "--out", str(run), "--quiet"])
    assert code == 0
    return run


@pytest.mark.slow
def test_train_writes_a_complete_run_folder(tiny_run):
    for name in ("model.keras", "config.json", "history.csv", "metrics.json", "samples.png",
                 "reconstructions.png", "training_curves.png", "manifold.png",
                 "latent_scatter.png"):
        assert (tiny_run / name).stat().st_size > 0, name
    config = json.loads((tiny_run / "config.json").read_text())
    assert config == RunConfig.from_dict(config).to_dict()  # complete: enough to rerun
    assert config["latent_dim"] == 2 and config["hidden_units"] == [32, 16]
    assert runs.read_run_config(tiny_run) == RunConfig.from_dict(config)
    record = json.loads((tiny_run / "data.json").read_text())
    assert (record["data"], record["train_split"], record["test_split"],
            record["binarization"]) == ("default", "train", "test", "none")
    assert (record["num_train_examples"], record["num_test_examples"]) == (256, 1000)
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("loss", "elbo", "reconstruction", "kl"):
        assert math.isfinite(metrics[key])
    assert metrics["elbo"] == pytest.approx(metrics["reconstruction"] - metrics["kl"], rel=1e-4)
    with open(tiny_run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    # --warmup-epochs 2 --beta 0.8: beta goes 0 -> 0.4 over the two epochs.
    assert [float(r["beta"]) for r in rows] == pytest.approx([0.0, 0.4])
    model = keras.models.load_model(tiny_run / "model.keras")
    assert model.latent_dim == 2
    assert not [n for n in os.listdir(tiny_run) if n.startswith(".")]  # no temp files
    events = [f for _, _, files in os.walk(tiny_run / "logs") for f in files]
    assert any(f.startswith("events.out.tfevents") for f in events), events


@pytest.mark.slow
def test_sample_reconstruct_evaluate_compare(tiny_run, tmp_path, capsys):
    model = str(tiny_run / "model.keras")
    code, out, _ = run_main(["sample", "--model", model, "--n", "16",
                             "--out", str(tmp_path / "s.png")], capsys)
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0
    code, out, _ = run_main(["reconstruct", "--model", model, "--n", "4", "--out",
                             str(tmp_path / "r.png")], capsys)
    assert code == 0 and (tmp_path / "r.png").stat().st_size > 0
    # A Bernoulli model's log p(x) of grey levels is not a likelihood: refused.
    for verb in (["evaluate", "--model", model], ["compare", model, model]):
        assert_one_line_error(*run_main([*verb, "--max-examples", "40", "--num-samples", "20"],
                                        capsys)[::2], 1,
                              r"not binary.*binarize.*continuous_bernoulli.*--binarize")
    code, out, _ = run_main(["evaluate", "--model", model, "--max-examples", "40",
                             "--num-samples", "20", "--iwae-k", "5", "--binarize",
                             "--seed", "3"], capsys)
    assert code == 0, out
    values = {key: float(re.search(rf"^{key}[^\n]*?\s(-?\d+\.\d+)", out, re.M).group(1))
              for key in ("ELBO", "IWAE", "IS-NLL")}
    # ELBO ≤ IWAE_k ≈ −NLL (up to Monte Carlo noise on 40 examples)
    assert values["ELBO"] < values["IWAE"] + 2.0
    assert abs(values["IWAE"] + values["IS-NLL"]) < 5.0
    # The printed figures are the library's, on the data binarized with --seed.
    loaded = runs.load_model(model)
    x = datasets.binarize(datasets.load("default", "test")[:40], seed=3)
    log_px = evaluation.log_marginal_likelihood(loaded, x, num_samples=20, seed=3)
    nll, stderr = -log_px.mean(), log_px.std(ddof=1) / math.sqrt(40)
    line = re.search(r"^IS-NLL \(K=20\)\s+(\S+) ± (\S+) nats\s+(\S+) bits/dim$", out, re.M)
    assert line, out
    assert float(line.group(1)) == pytest.approx(nll, abs=1e-3)
    assert float(line.group(2)) == pytest.approx(stderr, abs=1e-3)
    assert float(line.group(3)) == pytest.approx(nll / (784 * math.log(2)), abs=1e-4)
    assert re.search(r"active units\s+\d / 2", out)
    code, out, _ = run_main(["compare", model, model, "--names", "a,b", "--max-examples",
                             "30", "--num-samples", "10", "--binarize"], capsys)
    assert code == 0 and "Preferred:" in out and "| a |" in out and "| b |" in out
    assert_one_line_error(*run_main(["compare", model, model, "--names", "a,a", "--binarize"],
                                    capsys)[::2], 1, r"`names` must be 2 distinct.*'a', 'a'")


@pytest.mark.slow
def test_export_prints_parity_and_size(tiny_run, tmp_path, capsys):
    out_path = tmp_path / "decoder.tflite"
    code, out, err = run_main(["export", "--model", str(tiny_run / "model.keras"), "--format",
                               "tflite", "--out", str(out_path)], capsys)
    assert code == 0, err
    assert f"size_bytes {out_path.stat().st_size}" in out
    errors = [float(v) for v in re.findall(r"error\S* (\S+)", out)]
    assert errors and max(errors) <= 1e-5, out  # float32 TFLite vs the Keras decoder


@pytest.mark.slow
def test_train_on_a_local_npz_of_vectors_with_dynamic_binarization(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "vectors.npz"
    np.savez(path, train=rng.integers(0, 2, (200, 64), dtype=np.uint8),
             test=rng.integers(0, 2, (40, 64), dtype=np.uint8))
    assert datasets.load(path, "test").max() == 1.0  # 0/1 kept, not /255
    run = tmp_path / "run"
    code, out, err = run_main(["train", "--data", str(path), "--epochs", "1", "--latent-dim",
                               "3", "--hidden-units", "16", "--binarization", "dynamic",
                               "--out", str(run), "--quiet"], capsys)
    assert code == 0, err
    model = keras.models.load_model(run / "model.keras")
    assert model.data_shape == (64,) and model.latent_dim == 3
    assert json.loads((run / "metrics.json").read_text())["num_test_examples"] == 40
    assert not (run / "manifold.png").exists()  # drawn for 2-d latents only


@pytest.mark.slow
@pytest.mark.parametrize("steps_per_execution, k", [(2, 2), (None, 1)])
def test_iwae_cyclical_warmup_and_free_bits_from_flags(tmp_path, capsys, steps_per_execution, k):
    run = tmp_path / "run"
    # 384 examples in batches of 64: 6 batches an epoch, run k at a time: 2 as
    # asked, or, left to `tfvae train`, 1 (a cycle of 6 batches has fewer than 8).
    flags = [] if steps_per_execution is None else ["--steps-per-execution",
                                                    str(steps_per_execution)]
    code, _, err = run_main(["train", *TINY, "--max-train-examples", "384", "--epochs", "5",
                             "--objective", "iwae", "--num-samples", "3", "--beta", "2.0",
                             "--warmup-epochs", "4", "--warmup-schedule", "cyclical",
                             "--free-bits", "0.25", *flags,
                             "--out", str(run), "--quiet"], capsys)
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert (config["objective"], config["num_samples"], config["warmup_schedule"],
            config["free_bits"], config["steps_per_execution"]) == (
                "iwae", 3, "cyclical", 0.25, steps_per_execution)
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))

    def cyclical(t):
        # Fu et al. 2019 over 4 epochs: 4 cycles of 1 epoch, β rising from 0 to
        # --beta over each cycle's first half, then --beta once the warm-up is over.
        return 2.0 if t >= 4 else 2.0 * min(1.0, (t - math.floor(t)) / 0.5)

    # β is set when each execution of k batches starts; the history logs its
    # mean over the epoch's 6 batches.
    expected = [np.mean([cyclical(epoch + (b - b % k) / 6) for b in range(6)])
                for epoch in range(5)]
    assert min(expected) > 0.0
    assert [float(r["beta"]) for r in rows] == pytest.approx(expected)
    assert "iwae" in rows[0] and all(math.isfinite(float(r["iwae"])) for r in rows)
    model = keras.models.load_model(run / "model.keras")
    assert model.objective == "iwae" and model.num_samples == 3
    assert float(model.free_bits.numpy()) == 0.25


@pytest.mark.parametrize("settings, steps_per_epoch, expected", [
    ({"warmup_epochs": 4, "warmup_schedule": "cyclical"}, 32, 4),     # 32-batch cycles
    ({"warmup_epochs": 10, "warmup_schedule": "cyclical"}, 32, 10),   # 80-batch cycles
    ({"warmup_epochs": 20, "warmup_schedule": "cyclical"}, 469, 50),  # compile's default is less
    ({"warmup_epochs": 4, "warmup_schedule": "cyclical", "steps_per_execution": 7}, 32, 7),
    ({"warmup_epochs": 4, "warmup_schedule": "linear"}, 32, 50),      # beta set per epoch
    ({}, 32, 50),
])
def test_a_cyclical_warmup_caps_the_default_steps_per_call(settings, steps_per_epoch, expected):
    config = RunConfig().merge({"hidden_units": (16,), "latent_dim": 2, **settings})
    model = runs.build_model(config, (28, 28), steps_per_epoch=steps_per_epoch)
    assert model.steps_per_execution == expected


def test_prior_and_posterior_flags_build_the_model_they_name(capsys):
    args = cli.build_parser().parse_args([
        "train", "--prior", "vamp", "--num-pseudo-inputs", "30", "--posterior", "iaf",
        "--flow-steps", "3", "--flow-hidden-units", "24,12"])
    config = RunConfig().merge({k: v for k, v in vars(args).items() if k in KEYS})
    model = runs.build_model(config, (28, 28))
    assert type(model.prior).__name__ == "VampPrior" and model.prior.num_pseudo_inputs == 30
    assert model.prior.pseudo_inputs.shape == (30, 28, 28)
    assert type(model.posterior).__name__ == "IAF"
    assert (model.posterior.num_steps, model.posterior.hidden_units) == (3, (24, 12))
    assert model.kl_mode == "mc"
    args = cli.build_parser().parse_args([
        "train", "--prior", "maf", "--flow-steps", "3", "--flow-hidden-units", "24,12"])
    config = RunConfig().merge({k: v for k, v in vars(args).items() if k in KEYS})
    model = runs.build_model(config, (28, 28))
    assert (type(model.prior).__name__, type(model.posterior).__name__) == (
        "MAF", "DiagonalGaussian")
    assert (model.prior.num_steps, model.prior.hidden_units) == (3, (24, 12))
    for argv, pattern in [(["--prior", "uniform"], r"uniform"),
                          (["--posterior", "realnvp"], r"realnvp"),
                          (["--num-pseudo-inputs", "0"], r"num_pseudo_inputs=0"),
                          (["--flow-steps", "-1"], r"flow_steps=-1"),
                          (["--flow-hidden-units", "32,x"], r"flow_hidden_units='32,x'")]:
        assert_one_line_error(*run_main(["train", *argv], capsys)[::2], 2, pattern)


@pytest.mark.slow
def test_vamp_prior_and_iaf_posterior_runs_resume_evaluate_and_compare(tiny_run, tmp_path,
                                                                      capsys):
    run = tmp_path / "vamp_iaf"
    code, _, err = run_main(["train", *TINY, "--epochs", "1", "--prior", "vamp",
                             "--num-pseudo-inputs", "16", "--posterior", "iaf",
                             "--flow-steps", "2", "--flow-hidden-units", "16,16",
                             "--binarization", "static", "--out", str(run), "--quiet"], capsys)
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert (config["prior"], config["num_pseudo_inputs"], config["posterior"],
            config["flow_steps"], config["flow_hidden_units"]) == ("vamp", 16, "iaf", 2, [16, 16])
    model = runs.load_model(run / "model.keras")
    assert (model.prior.num_pseudo_inputs, model.posterior.num_steps) == (16, 2)
    # The pseudo-inputs started as training examples: 4 Adam steps of 1e-3 later,
    # each is still within 0.01 of one of the 256 images it trained on.
    x_train = datasets.load("default", "train")[:256]
    distance = np.abs(model.prior.pseudo_inputs.numpy()[:, None] - x_train[None]).max(axis=(2, 3))
    assert distance.min(axis=1).max() < 0.01
    code, _, err = run_main(["train", "--resume", str(run), "--epochs", "2", "--quiet"], capsys)
    assert code == 0, err
    with open(run / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1]
    resumed = runs.load_model(run / "model.keras")
    assert (resumed.prior.num_pseudo_inputs, resumed.posterior.hidden_units) == (16, (16, 16))
    assert np.abs(resumed.prior.pseudo_inputs.numpy() - model.prior.pseudo_inputs.numpy()).max() > 0
    model_path = str(run / "model.keras")
    code, out, err = run_main(["evaluate", "--model", model_path, "--max-examples", "40",
                               "--num-samples", "20", "--iwae-k", "5"], capsys)
    assert code == 0, err
    assert re.search(r"^KL\s+\d+\.\d+ nats", out, re.M) and "active units" in out, out
    code, out, err = run_main(["compare", model_path, str(tiny_run / "model.keras"),
                               "--names", "vamp,gaussian", "--max-examples", "30",
                               "--num-samples", "10", "--binarize"], capsys)
    assert code == 0 and "| vamp |" in out and "Preferred:" in out, err


@pytest.mark.slow
def test_bfloat16_run_saves_and_loads(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_main(["train", *TINY, "--epochs", "1", "--precision", "mixed_bfloat16",
                             "--out", str(run), "--quiet"], capsys)
    assert code == 0, err
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    model = keras.models.load_model(run / "model.keras")
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.encoder.layers[-1].compute_dtype == "bfloat16"
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["elbo"]) and metrics["elbo"] < 0


def test_bad_values_of_the_objective_and_speed_flags(capsys):
    for argv, pattern in ((["--objective", "wake-sleep"], r"wake-sleep"),
                          (["--num-samples", "0"], r"--num-samples"),
                          (["--free-bits", "-0.5"], r"--free-bits"),
                          (["--warmup-schedule", "cosine"], r"cosine"),
                          (["--precision", "float8"], r"float8"),
                          (["--steps-per-execution", "0"], r"--steps-per-execution")):
        assert_one_line_error(*run_main(["train", *argv], capsys)[::2], 2, pattern)
    with pytest.raises(ValueError, match=r"jit_compile"):
        RunConfig().merge({"jit_compile": "yes"})


# ---- resume after SIGKILL -----------------------------------------------------------


def _history_epochs(path):
    if not path.exists():
        return []
    with open(path) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)
                if row.get("epoch", "").isdigit() and row.get("val_loss")]


@pytest.mark.slow
def test_resume_after_sigkill_continues_the_history(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "tfvae.cli", "train"]
    total = 30
    first = subprocess.Popen(command + [*TINY, "--max-train-examples", "512", "--epochs",
                                        str(total), "--out", str(run)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.time() + 60
        while not _history_epochs(run / "history.csv"):
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "no epoch completed within 60 s"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        first.stderr.close()
    assert first.returncode == -signal.SIGKILL
    done_before = _history_epochs(run / "history.csv")
    assert 1 <= len(done_before) < total
    assert not (run / "model.keras").exists()

    second = subprocess.run(command + ["--resume", str(run), "--verbose"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    # The resumed fit starts after the last backed-up epoch, not at epoch 1.
    first_epoch = int(re.search(r"Epoch (\d+)/%d" % total, second.stdout).group(1))
    assert 1 < first_epoch <= len(done_before) + 1
    assert _history_epochs(run / "history.csv") == list(range(total))
    model = keras.models.load_model(run / "model.keras")
    x = np.zeros((1, 28, 28), "float32")
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(model(x))))
    assert json.loads((run / "metrics.json").read_text())["epochs"] == total


# ---- the verbs default to the data a model was trained on -------------------------


@pytest.mark.slow
def test_evaluate_defaults_to_the_runs_data_split_and_binarization(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "grey.npz"
    x_test = rng.integers(0, 256, (30, 36), dtype=np.uint8)
    np.savez(path, x_train=rng.integers(0, 256, (200, 36), dtype=np.uint8), x_test=x_test)
    run = tmp_path / "run"
    assert cli.main(["train", "--data", str(path), "--binarization", "static", "--epochs", "1",
                     "--latent-dim", "2", "--hidden-units", "16", "--seed", "5",
                     "--out", str(run), "--quiet"]) == 0
    code, out, err = run_main(["evaluate", "--model", str(run / "model.keras"),
                               "--num-samples", "10", "--iwae-k", "3"], capsys)
    assert code == 0, err
    # The run's test split, grey levels / 255, binarized once with the run's seed.
    expected_x = (np.random.default_rng(5).random(x_test.shape, dtype=np.float32)
                  < x_test / np.float32(255)).astype("float32")
    log_px = evaluation.log_marginal_likelihood(runs.load_model(run / "model.keras"),
                                                expected_x, num_samples=10, seed=5)
    line = re.search(r"^IS-NLL \(K=10\)\s+(\S+) ± (\S+) nats", out, re.M)
    assert line, out
    assert float(line.group(1)) == pytest.approx(-log_px.mean(), abs=1e-3)
    assert f"on {path} (test, 30 examples, 36 dims, binarized with seed 5)" in out
    # Explicit flags still win: --no-binarize scores grey levels, which a
    # Bernoulli model cannot.
    assert_one_line_error(*run_main(["evaluate", "--model", str(run / "model.keras"),
                                     "--no-binarize"], capsys)[::2], 1, r"not binary")


def write_class_folders(root, image_shape):
    """root/circle and root/square, ten random uint8 PNGs of `image_shape` each."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("circle", "square"):
        (root / label).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, image_shape, dtype=np.uint8)).save(
                root / label / f"{i}.png")


@pytest.mark.slow
def test_train_on_a_folder_of_images_and_reconstruct_from_it(tmp_path, capsys):
    write_class_folders(tmp_path / "images", (8, 8, 3))
    run = tmp_path / "run"
    code, _, err = run_main(["train", "--data", str(tmp_path / "images"), "--epochs", "1",
                             "--hidden-units", "16", "--likelihood", "continuous_bernoulli",
                             "--out", str(run), "--quiet"], capsys)
    assert code == 0, err
    model = runs.load_model(run / "model.keras")
    assert model.data_shape == (8, 8, 3)
    assert json.loads((run / "data.json").read_text())["num_train_examples"] == 18
    assert (run / "latent_scatter.png").stat().st_size > 0
    code, out, err = run_main(["reconstruct", "--model", str(run / "model.keras"), "--n", "2",
                               "--out", str(tmp_path / "r.png")], capsys)
    assert code == 0, err
    assert (tmp_path / "r.png").stat().st_size > 0


@pytest.mark.slow
def test_conditional_run_draws_a_named_class_and_scores_log_px_given_y(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_main(["train", *TINY, "--epochs", "1", "--conditional", "--binarization",
                             "dynamic", "--out", str(run), "--quiet"], capsys)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["conditional"] is True
    record = json.loads((run / "data.json").read_text())
    assert record["num_classes"] == 10 and record["class_names"][1] == "Trouser"
    model = runs.load_model(run / "model.keras")
    assert model.condition.num_classes == 10 and model.class_names[7] == "Sneaker"
    assert (run / "samples.png").stat().st_size > 0 and not (run / "manifold.png").exists()
    path = str(run / "model.keras")
    by_name, by_id, grid = (tmp_path / f"{n}.png" for n in ("name", "id", "grid"))
    for label, out in (("trouser", by_name), ("1", by_id)):
        assert run_main(["sample", "--model", path, "--label", label, "--n", "4", "--out",
                         str(out)], capsys)[0] == 0
    assert by_name.read_bytes() == by_id.read_bytes()       # the same class, drawn alike
    assert run_main(["sample", "--model", path, "--out", str(grid)], capsys)[0] == 0
    assert_one_line_error(*run_main(["sample", "--model", path, "--label", "pants", "--out",
                                     str(tmp_path / "x.png")], capsys)[::2], 1,
                          r"Unknown label='pants'. Known classes are: \['T-shirt/top'")
    code, out, err = run_main(["evaluate", "--model", path, "--max-examples", "30",
                               "--num-samples", "10", "--iwae-k", "2"], capsys)
    assert code == 0, err
    assert "log p(x | y) given the labels" in out
    x, y = datasets.load("default", "test", labels=True)
    log_px_y = evaluation.log_marginal_likelihood(model, datasets.binarize(x[:30], seed=0), 10,
                                                  seed=0, labels=y[:30])
    nll = float(re.search(r"^IS-NLL \(K=10\)\s+(\S+)", out, re.M).group(1))
    assert nll == pytest.approx(-log_px_y.mean(), abs=1e-3)
    assert run_main(["reconstruct", "--model", path, "--n", "3", "--out",
                     str(tmp_path / "r.png")], capsys)[0] == 0
    code, out, err = run_main(["export", "--model", path, "--format", "tflite", "--out",
                               str(tmp_path / "d.tflite")], capsys)
    assert code == 0, err
    written = json.loads((tmp_path / "d.metadata.json").read_text())
    assert written["inputs"]["label"] == {"shape": [None], "dtype": "int32"}
    assert written["class_names"] == list(datasets.FASHION_MNIST_CLASSES)


@pytest.mark.slow
def test_conditional_run_on_class_folders_and_unlabelled_data(tmp_path, capsys):
    write_class_folders(tmp_path / "images", (8, 8))
    run = tmp_path / "run"
    code, _, err = run_main(["train", "--data", str(tmp_path / "images"), "--conditional",
                             "--epochs", "1", "--hidden-units", "16", "--likelihood",
                             "continuous_bernoulli", "--out", str(run), "--quiet"], capsys)
    assert code == 0, err
    assert runs.load_model(run / "model.keras").class_names == ("circle", "square")
    assert run_main(["sample", "--model", str(run / "model.keras"), "--label", "square",
                     "--out", str(tmp_path / "s.png")], capsys)[0] == 0
    np.save(tmp_path / "plain.npy", np.random.default_rng(0).random((50, 8, 8)).astype("float32"))
    assert_one_line_error(*run_main(["train", "--data", str(tmp_path / "plain.npy"),
                                     "--conditional", "--out", str(tmp_path / "r2")],
                                    capsys)[::2], 1, r"--conditional needs a labelled dataset")
    assert not (tmp_path / "r2").exists()


def test_models_from_runs_on_different_data_need_an_explicit_choice(tmp_path):
    paths = []
    for name, data in (("a", "default"), ("b", "fashion_mnist")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"data": data}))
        paths.append(tmp_path / name / "model.keras")
    with pytest.raises(ValueError, match=r"different data.*--data"):
        runs.examples_for(paths, (28, 28))
    examples = runs.examples_for(paths, (28, 28), data="default", max_examples=5)
    np.testing.assert_array_equal(examples.x, datasets.load("default", "test")[:5])
    alone = runs.examples_for([tmp_path / "elsewhere" / "model.keras"], (28, 28),
                              max_examples=3)
    assert (alone.data, alone.split, alone.binarized, alone.seed) == ("default", "test",
                                                                     False, 0)


# ---- evaluate's report: the library's, checked against closed forms ----------------


def test_evaluation_report_matches_ppca_closed_forms():
    from tests.test_evaluation import exact_log_px, ppca, ppca_data

    sigma = 0.5
    model, w, b = ppca(sigma=sigma)              # q(z|x) is the exact posterior
    x = ppca_data(w, b, sigma, 200)
    report = evaluation.report(model, x, num_samples=4, iwae_k=2, seed=0)
    exact = exact_log_px(x, w, b, sigma)
    # With the exact posterior every importance weight is p(x): IWAE and the
    # IS estimate are log p(x) for any K, the ELBO is in expectation.
    assert report.nll == pytest.approx(-exact.mean(), abs=2e-3)
    assert report.iwae == pytest.approx(exact.mean(), abs=2e-3)
    assert report.elbo == pytest.approx(exact.mean(), abs=0.15)
    assert report.nll_stderr == pytest.approx(exact.std(ddof=1) / math.sqrt(200), rel=1e-3)
    assert report.bits_per_dim == pytest.approx(-exact.mean() / (x.shape[1] * math.log(2)),
                                                abs=1e-3)
    # KL(N(μ, s²) ‖ N(0, 1)) per dimension, from the posterior's closed form.
    m = w.T @ w + sigma ** 2 * np.eye(w.shape[1])
    mu = (x - b) @ w @ np.linalg.inv(m)
    var = sigma ** 2 / np.diag(m)
    kl = 0.5 * (mu ** 2 + var - 1 - np.log(var)).mean(axis=0)
    np.testing.assert_allclose(report.kl_per_latent, kl, rtol=1e-3)
    assert report.active_units == int(np.sum(mu.var(axis=0) > 0.01))
    text = report.to_text()
    assert "IS-NLL (K=4)" in text and f"/ {w.shape[1]}" in text


# ---- start-up: quiet, and without TensorFlow for help and argument errors --------

_PROBE = """
import sys
sys.argv = ["tfvae", *sys.argv[1:]]
from tfvae.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print("EXIT", code, "tensorflow" in sys.modules)
"""
_TF_NOISE = re.compile(r"oneDNN|cuda|absl", re.I)


def _probe(*argv):
    # Without TF_CPP_MIN_LOG_LEVEL, as a user's shell runs it (level 2 still
    # lets TensorFlow's loading messages through).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True,
                          text=True, env=env, timeout=300)
    exit_line = re.search(r"^EXIT (\S+) (True|False)$", done.stdout, re.M)
    assert exit_line, done.stdout + done.stderr
    return int(exit_line.group(1)), exit_line.group(2) == "True", done.stdout, done.stderr


@pytest.mark.slow
def test_help_and_argument_errors_start_without_tensorflow():
    for argv in (["--help"], ["evaluate", "--help"], ["sample", "--help"],
                 ["reconstruct", "--help"], ["export", "--help"], ["compare", "--help"],
                 ["evaluate"], ["export", "--model", "m.keras", "--format", "zip"],
                 ["frobnicate"]):
        code, imported, out, err = _probe(*argv)
        assert code == (0 if "--help" in argv else 2), (argv, err)
        assert not imported, f"`tfvae {' '.join(argv)}` imported TensorFlow"
        assert not _TF_NOISE.search(err), err
    code, _, out, _ = _probe("evaluate", "--help")
    assert "--binarize" in out and "--no-binarize" in out


@pytest.mark.slow
def test_tensorflow_log_lines_stay_hidden():
    # train's flags need the allow-lists, so its help imports TensorFlow: quietly.
    code, imported, out, err = _probe("train", "--help")
    assert code == 0 and imported and "--latent-dim" in out
    assert not _TF_NOISE.search(err), err
    script = os.path.join(os.path.dirname(sys.executable), "tfvae")
    if os.path.exists(script):  # the installed console script
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        done = subprocess.run([script, "sample", "--model", "missing.keras", "--out", "s.png"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            "tfvae: error: Model file not found: missing.keras"], done.stderr
