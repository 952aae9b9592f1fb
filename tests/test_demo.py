"""`make demo` in a quick mode: every promised file, finite metrics, verified exports."""

import json
import math

import pytest

from tfvae import demo


@pytest.mark.slow
def test_quick_demo_writes_every_file(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--epochs", "1", "--max-train-examples", "256"]) == 0
    for name in ("model.keras", "samples.png", "reconstructions.png", "manifold.png",
                 "latent_scatter.png", "training_curves.png", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("loss", "elbo", "reconstruction", "kl"):
        assert math.isfinite(metrics[key]), key
    assert metrics["elbo"] < 0 and metrics["kl"] >= 0
    for name, _, _ in demo.EXPORTS:
        assert (out / name).exists(), name
    printed = capsys.readouterr().out
    assert "size_bytes" in printed and "test ELBO" in printed
    # Re-running replaces the demo's own folder instead of refusing.
    assert demo.main(["--out", str(out), "--epochs", "1", "--max-train-examples", "256",
                      "--no-export"]) == 0
