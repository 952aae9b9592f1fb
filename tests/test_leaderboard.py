"""benchmarks/leaderboard.py: its flags, its table, and a killed run that resumes where it stopped.

Everything runs on tiny synthetic 0/1 data written to a temporary folder; the
benchmark's own data file (binarized_mnist.npz) is never read here.
"""

import dataclasses
import fcntl
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def leaderboard():
    """The script as a module, with `benchmarks/` importable as when it runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        spec = importlib.util.spec_from_file_location("benchmarks_leaderboard",
                                                      BENCHMARKS / "leaderboard.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module


@pytest.fixture
def tiny_npz(tmp_path):
    """An .npz shaped like binarized_mnist.npz: train/valid/test 0/1 rows of 784 pixels."""
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, **{name: (rng.random((n, 784)) < 0.2).astype("uint8")
                      for name, n in (("train", 200), ("valid", 100), ("test", 40))})
    return str(path)


@pytest.mark.parametrize("flags, message", [
    (["--rows", "vae,nope"], "`--rows`.*Received: rows='vae,nope'"),
    (["--rows", ","], "`--rows`.*Received: rows=','"),
    (["--budget-minutes", "0"], "`--budget-minutes`.*Received: budget_minutes=0.0"),
    (["--is-samples", "-5"], "`--is-samples`.*Received: is_samples=-5"),
    (["--epochs", "0"], "`--epochs`.*Received: epochs=0"),
    (["--train-on", "test"], "`--train-on`.*Received: train_on='test'"),
    (["--train-on", "train+test"], "`--train-on`.*Received: train_on='train\\+test'"),
])
def test_bad_flags_are_refused_naming_the_flag_and_the_value(leaderboard, tiny_npz, flags,
                                                              message):
    args = leaderboard.build_parser().parse_args(["--data", tiny_npz, *flags])
    with pytest.raises(ValueError, match=message):
        leaderboard.check_args(args)


def test_a_missing_data_file_stops_the_command_line_with_one_line(leaderboard, tmp_path,
                                                                 capsys):
    with pytest.raises(SystemExit) as stop:
        leaderboard.main(["--data", str(tmp_path / "absent.npz"), "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert "`--data`" in capsys.readouterr().err
    assert not (tmp_path / "vae").exists()


def test_the_test_subset_covers_every_digit_of_the_sorted_split(leaderboard):
    # The test split is sorted by digit: its first images are all zeros.
    labels = np.repeat(np.arange(10), 100)
    x = np.eye(10, dtype="float32")[labels]
    subset = leaderboard.test_subset(x, 50)
    assert np.bincount(subset.argmax(axis=1), minlength=10).tolist() == [5] * 10
    assert leaderboard.test_subset(x, 5000) is x


def write_row(out, key, nll, stderr, num_samples, num_images, history=None):
    run = Path(out) / key
    run.mkdir(parents=True)
    history = history or [{"seconds": s} for s in (9.0, 2.0, 3.0)]
    (run / "state.json").write_text(json.dumps({"epochs": len(history), "best_epoch": 2,
                                                "history": history}))
    (run / f"nll-K{num_samples}-n{num_images}.json").write_text(json.dumps(
        {"nll": nll, "stderr": stderr, "eval_seconds": 90.0}))


def test_the_table_is_a_leaderboard_only_at_5000_samples_on_10000_images(leaderboard,
                                                                        tmp_path):
    write_row(tmp_path, "vae", 90.123, 0.251, 5000, 10000)
    write_row(tmp_path, "iwae5", 150.0, 1.0, 50, 500)
    full = leaderboard.table(tmp_path, 5000, 10000, 60)
    assert "SMOKE" not in full
    assert "| VAE | Burda MLP, ELBO | 3 (2) | 3.0 | 1.5 | 90.12 ± 0.25 | 89.78 ᵃ | 86.76 ᵇ |" \
        in full
    # A row without a result at these settings is shown as not run, not as another run's number.
    assert "| IWAE k=5 | Burda MLP, IWAE k=5 | not run | | | — | — | 85.54 ᵇ |" in full
    for samples, images in ((50, 500), (4999, 10000), (5000, 9999)):
        assert "SMOKE RUN, NOT A LEADERBOARD" in leaderboard.table(tmp_path, samples, images, 1)


def test_a_late_rows_seconds_per_epoch_are_given_per_phase(leaderboard, tmp_path):
    history = ([{"objective": "elbo", "seconds": s} for s in (2.0, 9.0, 3.0)]
               + [{"objective": "iwae", "seconds": s} for s in (40.0, 82.0)])
    write_row(tmp_path, "iwae50_late", 87.05, 0.23, 5000, 10000, history)
    # One median over all five epochs would be 9.0, the cost of neither phase.
    assert "| 5 (2) | 3.0 then 61.0 | 1.5 | 87.05 ± 0.23 |" in leaderboard.table(
        tmp_path, 5000, 10000, 60)


def test_every_row_is_described_in_the_scripts_table_of_rows(leaderboard):
    described = {line.split("`")[1] for line in leaderboard.__doc__.splitlines()
                 if line.startswith("| `")}
    assert described == set(leaderboard.ROWS)


@pytest.mark.slow
def test_every_row_builds_the_same_model_from_the_same_seed(leaderboard):
    x_train = (np.random.default_rng(0).random((600, 784)) < 0.2).astype("float32")
    for row in leaderboard.ROWS.values():
        first, second, other = (leaderboard.build_model(row, seed, x_train).get_weights()
                                for seed in (3, 3, 4))
        assert len(first) == len(second)
        for w1, w2 in zip(first, second):
            np.testing.assert_array_equal(w1, w2)
        assert any(not np.array_equal(w1, w3) for w1, w3 in zip(first, other))


def kill_before_the_state_of_epoch(epoch, leaderboard, monkeypatch):
    """Makes `write_state` raise at `epoch`, whose checkpoint is then written and its state not.

    Returns the real `write_state`.
    """
    write_state = leaderboard.write_state

    def killed(run_dir, state):
        if state["epochs"] == epoch:
            raise KeyboardInterrupt
        write_state(run_dir, state)

    monkeypatch.setattr(leaderboard, "write_state", killed)
    return write_state


def weights(path):
    import keras

    return keras.models.load_model(path).get_weights()


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_result_of_an_uninterrupted_one(leaderboard, tiny_npz,
                                                                    tmp_path, monkeypatch,
                                                                    capsys):
    # Three slices of test images, so that an evaluation can be killed between two.
    monkeypatch.setattr(leaderboard, "EVAL_SLICE", 16)
    flags = ["--data", tiny_npz, "--rows", "vae", "--epochs", "3", "--is-samples", "20",
             "--test-images", "40"]
    leaderboard.main(flags + ["--out", str(tmp_path / "a")])
    a, b = tmp_path / "a" / "vae", tmp_path / "b" / "vae"

    # Killed after epoch 2's checkpoint was written, before the state that names it.
    write_state = kill_before_the_state_of_epoch(2, leaderboard, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        leaderboard.main(flags + ["--out", str(tmp_path / "b")])
    assert (b / "last-00002.keras").is_file()
    state = json.loads((b / "state.json").read_text())
    assert state["epochs"] == 1
    # Reading the state back drops the checkpoint it does not name.
    leaderboard.read_state(b, state["recipe"])
    assert sorted(p.name for p in b.glob("*.keras")) == ["best-00001.keras", "last-00001.keras"]

    # Rerun: epochs 2 and 3 again, then an evaluation killed after its first slice.
    monkeypatch.setattr(leaderboard, "write_state", write_state)
    log_px = leaderboard.evaluation.log_marginal_likelihood
    calls = []

    def killed_at_slice_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the tracing call on one image, slice 1, slice 2
            raise KeyboardInterrupt
        return log_px(*args, **kwargs)

    monkeypatch.setattr(leaderboard.evaluation, "log_marginal_likelihood", killed_at_slice_2)
    with pytest.raises(KeyboardInterrupt):
        leaderboard.main(flags + ["--out", str(tmp_path / "b")])
    assert len(np.load(b / "log_px-K20-n40.partial.npy")) == 16

    # Rerun: training is not repeated, the evaluation continues at image 16.
    calls.clear()

    def counted(*args, **kwargs):
        calls.append(len(args[1]))
        return log_px(*args, **kwargs)

    monkeypatch.setattr(leaderboard.evaluation, "log_marginal_likelihood", counted)
    capsys.readouterr()
    leaderboard.main(flags + ["--out", str(tmp_path / "b")])
    assert "vae: trained (3 epochs), not retrained" in capsys.readouterr().out
    assert calls == [1, 16, 8]  # the tracing call, then images 16-31 and 32-39

    state = json.loads((b / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]
    assert sorted(p.name for p in b.glob("*.keras")) == sorted(p.name for p in a.glob("*.keras"))
    for name in (state["last"], state["best"]):
        for wa, wb in zip(weights(a / name), weights(b / name), strict=True):
            np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(np.load(a / "log_px-K20-n40.npy"),
                                  np.load(b / "log_px-K20-n40.npy"))
    assert not (b / "log_px-K20-n40.partial.npy").exists()
    result = json.loads((b / "nll-K20-n40.json").read_text())
    assert result["nll"] == pytest.approx(-np.load(a / "log_px-K20-n40.npy").mean(), rel=1e-12)

    # Other settings in the same folder are refused, and so is a second run at once.
    with pytest.raises(ValueError, match="other settings.*'seed': \\(0, 1\\)"):
        leaderboard.main(flags + ["--out", str(tmp_path / "b"), "--seed", "1"])
    with open(tmp_path / "b" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(SystemExit, match="Another leaderboard run"):
            leaderboard.main(flags + ["--out", str(tmp_path / "b")])


def test_a_folder_saved_before_train_on_iwae_from_prior_from_reads_as_their_defaults(
        leaderboard, tmp_path):
    state = {"recipe": {"seed": 0}, "epochs": 3, "last": None, "best": None}
    (tmp_path / "state.json").write_text(json.dumps(state))
    recipe = {"seed": 0, "train_on": "train", "iwae_from": 0.0, "prior_from": 0.0}
    assert leaderboard.read_state(tmp_path, recipe)["epochs"] == 3
    with pytest.raises(ValueError, match="'train_on': \\('train', 'train\\+valid'\\)"):
        leaderboard.read_state(tmp_path, {**recipe, "train_on": "train+valid"})
    with pytest.raises(ValueError, match="'iwae_from': \\(0.0, 0.5\\)"):
        leaderboard.read_state(tmp_path, {**recipe, "iwae_from": 0.5})
    with pytest.raises(ValueError, match="'prior_from': \\(0.0, 0.1\\)"):
        leaderboard.read_state(tmp_path, {**recipe, "prior_from": 0.1})


@pytest.mark.slow
def test_train_plus_valid_trains_on_both_splits_and_scores_the_last_epoch(leaderboard,
                                                                        tiny_npz, tmp_path):
    flags = ["--data", tiny_npz, "--rows", "vae", "--epochs", "2", "--is-samples", "5",
             "--test-images", "8"]
    leaderboard.main(flags + ["--out", str(tmp_path / "a")])
    leaderboard.main(flags + ["--out", str(tmp_path / "b"), "--train-on", "train+valid"])
    import keras

    # 200 train (+ 100 valid) images in batches of 100: 2 (3) steps per epoch.
    for run, steps, val in (("a", 4, True), ("b", 6, False)):
        state = json.loads((tmp_path / run / "vae" / "state.json").read_text())
        model = keras.models.load_model(tmp_path / run / "vae" / state["last"])
        assert int(model.optimizer.iterations.numpy()) == steps
        assert all((h["val_elbo"] is not None) == val for h in state["history"])
    assert state["recipe"]["train_on"] == "train+valid"
    assert state["best_epoch"] == 2 and state["best"] == "best-00002.keras"
    result = json.loads((tmp_path / "b" / "vae" / "nll-K5-n8.json").read_text())
    assert result["checkpoint"] == "best-00002.keras"
    assert "ELBO, trained on train+valid" in leaderboard.table(tmp_path / "b", 5, 8, 60)


@pytest.mark.slow
def test_a_late_iwae_row_trains_the_elbo_first_then_iwae(leaderboard, tiny_npz, tmp_path,
                                                         monkeypatch):
    # The late row beside the same networks trained on the ELBO throughout and on IWAE throughout.
    iwae = leaderboard.ROWS["iwae5"]
    rows = {"late": dataclasses.replace(iwae, key="late", iwae_from=0.5),
            "elbo": dataclasses.replace(iwae, key="elbo", objective="elbo"),
            "iwae": dataclasses.replace(iwae, key="iwae")}
    monkeypatch.setattr(leaderboard, "ROWS", rows)
    weights_after = {key: [] for key in rows}
    save_epoch = leaderboard.save_epoch

    def recording(model, run_dir, state):
        weights_after[run_dir.name].append(model.get_weights())
        save_epoch(model, run_dir, state)

    monkeypatch.setattr(leaderboard, "save_epoch", recording)
    leaderboard.main(["--data", tiny_npz, "--rows", "late,elbo,iwae", "--epochs", "4",
                      "--is-samples", "5", "--test-images", "8", "--out", str(tmp_path)])

    def same(a, b):
        return all(np.array_equal(wa, wb) for wa, wb in zip(a, b, strict=True))

    late, elbo, iwae = (weights_after[key] for key in rows)
    # Epochs 1-2 (schedule fractions 0 and 1/4) are the ELBO row's, exactly; 3-4 are not.
    assert same(late[0], elbo[0]) and same(late[1], elbo[1])
    assert not same(late[0], iwae[0])
    assert not same(late[2], elbo[2]) and not same(late[3], elbo[3])
    state = json.loads((tmp_path / "late" / "state.json").read_text())
    assert [h["objective"] for h in state["history"]] == ["elbo", "elbo", "iwae", "iwae"]
    # The bound that chooses the scored epoch is IWAE-5 in both halves.
    assert all(h["val_iwae"] is not None for h in state["history"])
    assert "ELBO, then IWAE k=5 from 50% of the schedule" in leaderboard.table(tmp_path, 5, 8, 60)


@pytest.mark.slow
def test_a_held_prior_keeps_its_initial_weights_then_trains_also_after_a_resume(
        leaderboard, tiny_npz, tmp_path, monkeypatch):
    row = dataclasses.replace(leaderboard.ROWS["iaf_maf"], key="held", prior_from=0.5)
    monkeypatch.setattr(leaderboard, "ROWS", {"held": row})
    flags = ["--data", tiny_npz, "--rows", "held", "--epochs", "4", "--is-samples", "5",
             "--test-images", "8"]
    priors_after = {"a": [], "b": []}
    save_epoch, write_state = leaderboard.save_epoch, leaderboard.write_state

    def recording(model, run_dir, state):
        priors_after[run_dir.parent.name].append([w.numpy() for w in model.prior.weights])
        save_epoch(model, run_dir, state)

    monkeypatch.setattr(leaderboard, "save_epoch", recording)
    leaderboard.main(flags + ["--out", str(tmp_path / "a")])
    x_train = np.load(tiny_npz)["train"].reshape(-1, 784)
    initial = [w.numpy() for w in leaderboard.build_model(row, 0, x_train).prior.weights]

    def same(a, b):
        return all(np.array_equal(wa, wb) for wa, wb in zip(a, b, strict=True))

    # Epochs 1-2 (schedule fractions 0 and 1/4) hold the prior at N(0, I); 3-4 train it.
    held, trained = priors_after["a"][:2], priors_after["a"][2:]
    assert all(same(p, initial) for p in held)
    assert not same(trained[0], initial) and not same(trained[1], trained[0])

    # Killed in epoch 2: the run resumes from epoch 1's checkpoint (saved with the prior
    # trainable, so that its optimizer holds the prior's slots), holds the prior for
    # epoch 2 again and ends where `a` ended.
    kill_before_the_state_of_epoch(2, leaderboard, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        leaderboard.main(flags + ["--out", str(tmp_path / "b")])
    monkeypatch.setattr(leaderboard, "write_state", write_state)
    leaderboard.main(flags + ["--out", str(tmp_path / "b")])
    assert same(priors_after["b"][-3], initial)          # epoch 2, after the resume
    state = json.loads((tmp_path / "b" / "held" / "state.json").read_text())
    for wa, wb in zip(weights(tmp_path / "a" / "held" / state["last"]),
                      weights(tmp_path / "b" / "held" / state["last"]), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert "prior held for the first 50%" in leaderboard.table(tmp_path / "a", 5, 8, 60)
