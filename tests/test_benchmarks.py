"""The benchmarks run end to end and print what the README quotes.

The script runs are smoke tests: they check that each script runs on the
embedded default data, that its numbers are finite and positive and that it
says how to reproduce it, never how fast anything is (speed is measured by
running the scripts, not by tests). The shared helpers (`benchmarks/_common.py`)
and the NLL benchmark's training data are checked against numpy.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def import_script(name, monkeypatch):
    """A benchmark script as a module, with `benchmarks/` importable as when run."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name.replace('/', '_')}",
                                                  BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *args],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_export_reports_every_signature_and_mode():
    out = run_script("export.py", "--signatures-only", "--architecture", "mlp", "--epochs", "1",
                     "--calls", "3", "--num-samples", "2")
    sizes = re.findall(r"^\| (float32|float16|dynamic|int8) \| (\d+) \| ([\d.]+)% \|", out, re.M)
    assert [s[0] for s in sizes] == ["float32", "float16", "dynamic", "int8"]
    rows = re.findall(r"^\| ((?:TF|LiteRT) [^|]+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$",
                      out, re.M)
    assert len(rows) == 2 + 4 * 2 and all(int(v) > 0 for row in rows for v in row[1:])
    assert re.search(r"score \(k=2\) on LiteRT .*: [\d.]+×", out)
    assert re.search(r"score \(k=1\) on LiteRT .*: [\d.]+×", out)
    assert_provenance(out, "export.py --signatures-only --architecture mlp --epochs 1 "
                           "--calls 3 --num-samples 2")


@pytest.mark.slow
def test_train_throughput_quick_reports_the_floor_and_every_row():
    out = run_script("train_throughput.py", "--quick", "--rounds", "1", "--examples", "512")
    assert "data: embedded default, 512 examples" in out
    rows = re.findall(r"^(.+?)\s+(\d+) \(\s*(\d+)\)\s+([\d.]+)×\s+([\d.]+)%$", out, re.M)
    names = [r[0].strip() for r in rows]
    assert names[:4] == ["keras-io VAE, same layers (numpy into fit)",
                         "same layers, forward+backward only",
                         "same layers, forward+backward+Adam",
                         "same layers, forward+backward+FusedAdam"]
    assert len(rows) == 9
    for _, best, median, ratio, percent in rows:
        assert int(best) >= int(median) > 0
        assert float(ratio) > 0 and float(percent) > 0
    assert rows[0][3] == "1.00"
    updates = re.findall(r"^  (conv|mlp) \(([\d,]+) weights\): keras Adam ([\d.]+) ms, "
                         r"FusedAdam ([\d.]+) ms", out, re.M)
    assert [u[0] for u in updates] == ["conv", "mlp"]
    assert all(float(u[2]) > 0 and float(u[3]) > 0 for u in updates)
    ceiling = re.search(r"ceiling .*: ([\d.]+)× keras-io, ([\d.]+)% of peak", out)
    assert ceiling and float(ceiling.group(1)) > 0
    assert_provenance(out, "train_throughput.py --quick --rounds 1 --examples 512")


@pytest.mark.slow
def test_step_profile_reports_every_stage(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "bin.npz", **{split: (rng.random((300, 784)) < 0.3).astype("uint8")
                                      for split in ("train", "valid", "test")})
    out = run_script("step_profile.py", "--data", str(tmp_path / "bin.npz"), "--steps", "2",
                     "--rounds", "1", "--examples", "300")
    rows = re.findall(r"^(layers|\+ ELBO|\+ update|fit)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)\s+"
                      r"(-?\d+)%$", out, re.M)
    assert [r[0] for r in rows] == ["layers", "+ ELBO", "+ update", "fit"]
    assert all(float(r[1]) > 0 and float(r[2]) >= float(r[1]) for r in rows)
    assert re.search(r"^fit: [\d,]+ samples/s", out, re.M)
    assert_provenance(out, f"step_profile.py --data {tmp_path / 'bin.npz'} --steps 2 "
                           "--rounds 1 --examples 300")
    out = run_script("step_profile.py", "--model", "conv", "--steps", "2", "--rounds", "1",
                     "--examples", "256")
    rows = re.findall(r"^(layers|\+ ELBO|\+ update|fit)\s+([\d.]+)\s", out, re.M)
    assert [r[0] for r in rows] == ["layers", "+ ELBO", "+ update", "fit"]
    assert "conv VAE" in out and "batch 128" in out
    assert_provenance(out, "step_profile.py --model conv --steps 2 --rounds 1 --examples 256")


def assert_provenance(out, script_and_args):
    """The run ends with the machine line and the command that reproduces it."""
    machine, cmd = out.strip().splitlines()[-2:]
    assert re.fullmatch(r"machine: .+; avx512_bf16 (yes|no), amx_bf16 (yes|no); \d+ cores usable; "
                        r"TF [\d.]+, Keras [\d.]+; \d{4}-\d\d-\d\d", machine), machine
    assert cmd == f"$ python benchmarks/{script_and_args}"


@pytest.mark.slow
def test_layer_kernels_times_every_layer():
    out = run_script("layer_kernels.py", "--repeats", "1")
    rows = re.findall(r"^(encoder|decoder) .*?\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+"
                      r"([\d.]+)%$", out, re.M)
    assert len(rows) == 7
    shares = [float(r[5]) for r in rows]
    assert sum(shares) == pytest.approx(100, abs=0.5)
    assert all(float(v) > 0 for r in rows for v in r[1:5])
    assert_provenance(out, "layer_kernels.py --repeats 1")


@pytest.mark.slow
def test_conditional_quick_reports_every_figure():
    args = ("--quick", "--data", "default", "--minutes", "0.05", "--judge-epochs", "1",
            "--samples-per-class", "3", "--classify-examples", "5", "--classify-samples", "2",
            "--eval-examples", "5", "--num-samples", "3", "--curve")
    out = run_script("conditional.py", *args)
    rows = re.findall(r"^(conditional|unconditional)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+) "
                      r"(−log p\(x\|y\)|−log p\(x\))\s+([\d.]+)$", out, re.M)
    assert [r[0] for r in rows] == ["conditional", "unconditional"], out
    assert [r[5] for r in rows] == ["−log p(x|y)", "−log p(x)"]
    assert all(int(r[1]) >= 1 and float(r[4]) > 0 for r in rows)
    gap = float(re.search(r"NLL gap.*: (-?[\d.]+) nats on 5 test images", out).group(1))
    assert gap == pytest.approx(float(rows[1][4]) - float(rows[0][4]), abs=0.011)
    for pattern in (r"judge .*test accuracy [\d.]+%; on the conditional model's reconstructions "
                    r"of 5 test images [\d.]+%", r"labelled as asked: [\d.]+% \(3 per class",
                    r"per class: T-shirt/top \d+%", r"K=2: test accuracy [\d.]+% on 5 images"):
        assert re.search(pattern, out), (pattern, out)
    curve = re.findall(r"^\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)%\s+([\d.]+)%$", out, re.M)
    assert [int(c[0]) for c in curve] == list(range(1, int(rows[0][1]) + 1)), out
    # The last point is the final model: the same figures as the report's.
    final = re.search(r"labelled as asked: ([\d.]+)%", out).group(1)
    assert curve[-1][1] == final
    assert_provenance(out, "conditional.py " + " ".join(args))


def epochs_of(ds, n):
    """`n` passes over `ds`, each as one array (a new iterator per pass, as `fit` makes)."""
    return [np.concatenate([batch.numpy() for batch in ds]) for _ in range(n)]


def test_nll_training_data_is_binarized_afresh_each_epoch_from_its_seed(monkeypatch):
    import keras

    nll = import_script("nll", monkeypatch)
    grey = np.random.default_rng(1).random((300, 784)).astype("float32")

    def two_epochs(seed):
        keras.utils.set_random_seed(7)  # as nll.run does, the same for every pipeline
        return epochs_of(nll.training_data(grey, 100, dynamic=True, seed=seed), 2)

    first, second = two_epochs(0)
    again, _ = two_epochs(0)
    other, _ = two_epochs(1)
    np.testing.assert_array_equal(first, again)
    # `seed` chooses the pixels, and each epoch draws new ones: the per-pixel
    # counts of ones over an epoch change with either.
    assert not np.array_equal(first.sum(axis=0), other.sum(axis=0))
    assert not np.array_equal(first.sum(axis=0), second.sum(axis=0))
    # Bernoulli(grey) pixels: the count of ones is within 5 standard
    # deviations of sum(p), the standard deviation being sqrt(sum p(1 - p)).
    p = grey.astype("float64")
    for epoch in (first, second):
        assert set(np.unique(epoch)) == {0.0, 1.0}
        assert abs(epoch.sum() - p.sum()) < 5 * np.sqrt(np.sum(p * (1 - p)))


def test_nll_fixed_binarization_is_passed_through(monkeypatch):
    nll = import_script("nll", monkeypatch)
    binary = (np.random.default_rng(2).random((250, 784)) < 0.3).astype("float32")
    first, second = epochs_of(nll.training_data(binary, 100, dynamic=False, seed=0), 2)
    # Only shuffled: the same multiset of rows each epoch.
    for epoch in (first, second):
        assert epoch.shape == binary.shape
        np.testing.assert_array_equal(np.sort(epoch, axis=0), np.sort(binary, axis=0))
        np.testing.assert_array_equal(epoch.sum(axis=0), binary.sum(axis=0))


def test_load_binarized_mnist_returns_the_stored_splits_as_float_rows(monkeypatch, tmp_path):
    common = import_script("_common", monkeypatch)
    rng = np.random.default_rng(3)
    stored = {"train": rng.integers(0, 2, (6, 784), dtype=np.uint8),
              "valid": rng.integers(0, 2, (4, 28, 28), dtype=np.uint8),
              "test": rng.integers(0, 2, (5, 784), dtype=np.uint8)}
    np.savez(tmp_path / "bin.npz", **stored)
    splits = common.load_binarized_mnist(tmp_path / "bin.npz")
    assert sorted(splits) == ["test", "train", "valid"]
    for name, x in stored.items():
        assert splits[name].dtype == np.float32
        np.testing.assert_array_equal(splits[name], x.reshape(len(x), 784))


@pytest.mark.parametrize("arrays, message", [
    ({"train": np.zeros((2, 784)), "test": np.zeros((2, 784))}, "lacks \\['valid'\\]"),
    ({"train": np.full((2, 784), 0.5), "valid": np.zeros((2, 784)), "test": np.zeros((2, 784))},
     "'train' has shape \\(2, 784\\) and values in \\[0.5, 0.5\\]"),
    ({"train": np.zeros((2, 10)), "valid": np.zeros((2, 784)), "test": np.zeros((2, 784))},
     "'train' has shape \\(2, 10\\)"),
])
def test_load_binarized_mnist_refuses_other_files(monkeypatch, tmp_path, arrays, message):
    common = import_script("_common", monkeypatch)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message + ".*Received: path="):
        common.load_binarized_mnist(tmp_path / "bad.npz")


def test_command_reproduces_the_arguments_from_the_repository_root(monkeypatch):
    import shlex

    common = import_script("_common", monkeypatch)
    argv = ["--data", "my data/x.npz", "--epochs", "3"]
    line = common.command(BENCHMARKS / "nll.py", argv)
    assert shlex.split(line) == ["python", "benchmarks/nll.py", *argv]


def test_peers_table_reads_every_tfvae_arm_against_every_twin(monkeypatch):
    run = import_script("peers/run", monkeypatch)
    speeds = {"tfvae": [300.0, 330.0], "tfvae spe 10": [270.0, 280.0],
              "torch": [200.0, 220.0], "torch fused-adam": [250.0, 300.0],
              "torch tuned-malloc": [240.0, 230.0]}
    runs = {arm: [{"samples_per_s": v, "heldout_neg_elbo": 100.0 + v / 100, "heldout_se": 0.3,
                   "epochs": 1.0, "seconds": 30.0, "warmup_s": 1.0, "warmup_steps": 20,
                   "others_cores": 0.0, "train_n": 1000, "heldout_n": 100,
                   "side": arm.split()[0]} for v in values]
            for arm, values in speeds.items()}
    text = run.table("mlp", "a model", "data", runs, 30)
    rows = {label: cells for label, *cells in
            (re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[3:-1])}
    expected = {("tfvae", "torch"), ("tfvae spe 10", "torch"), ("tfvae", "torch fused-adam"),
                ("tfvae spe 10", "torch fused-adam"), ("tfvae", "torch tuned-malloc"),
                ("tfvae spe 10", "torch tuned-malloc"), ("tfvae spe 10", "tfvae"),
                ("torch fused-adam", "torch"), ("torch tuned-malloc", "torch")}
    ratios = {tuple(label[len("ratio "):].split("/"))
              for label in rows if label.startswith("ratio")}
    assert ratios == expected
    for a, b in expected:
        per_round = [f"{x / y:.2f}x" for x, y in zip(speeds[a], speeds[b])]
        assert rows[f"ratio {a}/{b}"][:2] == per_round
        gaps = [f"{(x - y) / 100:+.2f}" for x, y in zip(speeds[a], speeds[b])]
        assert rows[f"-ELBO {a} - {b}"][:2] == gaps


def test_peers_arm_options_refuse_unknown_and_repeated_values(monkeypatch, capsys):
    run = import_script("peers/run", monkeypatch)
    parser = argparse.ArgumentParser(prog="run.py")
    assert run.choices(parser, "torch-malloc", "tuned,default", run.MALLOCS) == ["tuned", "default"]
    for bad in ("fused,fused", "fused,slow"):
        with pytest.raises(SystemExit):
            run.choices(parser, "torch-adam", bad, run.ADAMS)
        assert f"--torch-adam {bad!r}" in capsys.readouterr().err
