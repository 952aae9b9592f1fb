"""`make demo` in a quick mode: the Makefile's commands, every promised file, verified exports."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_FILES = ("config.json", "data.json", "model.keras", "samples.png", "reconstructions.png",
              "manifold.png", "latent_scatter.png", "training_curves.png", "metrics.json",
              "decoder_savedmodel", "decoder.tflite", "decoder_int8.tflite")


def make_demo(run):
    # -o: take the install stamp as up to date (the tests run inside that install);
    # TFVAE: this interpreter's `tfvae`, as `python -m tfvae.cli`.
    done = subprocess.run(
        ["make", "-s", "-o", ".venv/.tfvae-installed", "demo", f"RUN={run}", "EPOCHS=1",
         "DEMO_FLAGS=--max-train-examples 256", f"TFVAE={sys.executable} -m tfvae.cli"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_quick_demo_writes_every_file_and_replaces_only_its_own(tmp_path):
    run = tmp_path / "demo"
    printed = make_demo(run)
    for name in DEMO_FILES:
        path = run / name
        assert path.exists() and (path.is_dir() or path.stat().st_size > 0), name
    config = json.loads((run / "config.json").read_text())
    # examples/demo.yaml, then the quick-mode flags.
    assert (config["latent_dim"], config["epochs"], config["max_train_examples"]) == (2, 1, 256)
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("loss", "elbo", "reconstruction", "kl"):
        assert math.isfinite(metrics[key]), key
    assert metrics["elbo"] < 0 and metrics["kl"] >= 0
    assert printed.count("passed True") == 3 and "size_bytes" in printed and "test: " in printed
    # Re-running replaces the demo's files and leaves anything else alone.
    (run / "notes.txt").write_text("mine")
    before = {name: (run / name).stat().st_mtime_ns for name in ("model.keras", "decoder.tflite")}
    make_demo(run)
    assert (run / "notes.txt").read_text() == "mine"
    for name, mtime in before.items():
        assert (run / name).stat().st_mtime_ns != mtime, name
