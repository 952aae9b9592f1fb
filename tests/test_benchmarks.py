"""The throughput benchmarks run end to end and print what the README quotes.

Smoke tests only: they check that each script runs on the embedded default data
and that its numbers are finite and positive, never how fast anything is
(speed is measured by running the scripts, not by tests).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_script(name, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *args],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


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


@pytest.mark.slow
def test_layer_kernels_times_every_layer():
    out = run_script("layer_kernels.py", "--repeats", "1")
    rows = re.findall(r"^(encoder|decoder) .*?\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+"
                      r"([\d.]+)%$", out, re.M)
    assert len(rows) == 7
    shares = [float(r[5]) for r in rows]
    assert sum(shares) == pytest.approx(100, abs=0.5)
    assert all(float(v) > 0 for r in rows for v in r[1:5])
