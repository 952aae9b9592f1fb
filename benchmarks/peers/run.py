"""tfvae against its PyTorch twin: training samples/s and held-out −ELBO at
equal wall time, side by side on this machine.

    make bench-peers                       # makes .venv-peers (CPU torch), runs this
    .venv/bin/python benchmarks/peers/run.py --data ../shared/data/binarized_mnist.npz \
        --torch-python .venv-peers/bin/python --rounds 3 --seconds 30

Two models, each trained by tfvae with its defaults (tfvae_side.py) and by a
PyTorch twin with the same layers, initialisation, loss, optimizer and batch
(torch_side.py):

  * mlp: Burda et al.'s 784-200-200-50 tanh VAE, Bernoulli, batch 100, Adam
    1e-3, on the fixed binarization of MNIST (--data: .npz with 'train' and
    'valid'); −ELBO on all of 'valid';
  * conv: tfvae's built-in conv VAE (latent 2), batch 128, on Fashion-MNIST
    statically binarized (--prepare-conv in tfvae_side.py); −ELBO on 'test'.

Each run is its own process (torch in its venv, tfvae in its own), so neither
framework's thread pools or allocator touch the other. A run takes
--warmup-steps steps (timed apart: tracing on the tfvae side), then trains for
--seconds of wall time, then evaluates −ELBO = −(log p(x|z) − KL) per held-out
example at ONE z ~ q(z|x) — the estimator both sides train on — reported as its
mean ± standard error. The two sides alternate, and which goes first alternates
by round, --rounds times (seed = --seed + round), so a busy spell of a shared
machine hits both; every run also records how many cores other processes kept
busy meanwhile (from /proc/stat and the child's rusage). Prints per model the
per-round samples/s, the tfvae/torch ratio, min/median/max, and writes --out.
"""

import argparse
import datetime
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODELS = {
    "mlp": "784-200-200-50 tanh MLP (Burda et al.), Bernoulli, batch 100, Adam lr 1e-3 eps 1e-7",
    "conv": "tfvae built-in conv (Conv2D 32/64 3x3 s2 relu, Dense 256, latent 2, mirrored), "
            "Bernoulli, batch 128, Adam lr 1e-3 eps 1e-7",
}
SIDES = {"tfvae": "tfvae_side.py", "torch": "torch_side.py"}


def busy_seconds():
    """CPU-seconds all processes have spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_side(python, script, args):
    """Runs one side; returns its JSON line plus `others_cores`: the mean
    number of cores other processes kept busy while it ran."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, start = busy_seconds(), time.perf_counter()
    proc = subprocess.run([python, str(HERE / script), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    wall, busy = time.perf_counter() - start, busy_seconds() - busy
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{script} {shlex.join(args)} failed (exit {proc.returncode}):\n"
                 f"{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    own = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["others_cores"] = max(0.0, (busy - own) / wall)
    return result


def spread(values):
    return min(values), statistics.median(values), max(values)


def table(model, description, source, runs, seconds):
    tf_runs, torch_runs = runs["tfvae"], runs["torch"]
    rows = [
        ("tfvae samples/s", [r["samples_per_s"] for r in tf_runs], "{:,.0f}"),
        ("torch samples/s", [r["samples_per_s"] for r in torch_runs], "{:,.0f}"),
        ("ratio tfvae/torch", [a["samples_per_s"] / b["samples_per_s"]
                               for a, b in zip(tf_runs, torch_runs)], "{:.2f}x"),
        ("tfvae held-out -ELBO", [r["heldout_neg_elbo"] for r in tf_runs], "{:.2f}"),
        ("torch held-out -ELBO", [r["heldout_neg_elbo"] for r in torch_runs], "{:.2f}"),
        ("-ELBO tfvae - torch", [a["heldout_neg_elbo"] - b["heldout_neg_elbo"]
                                 for a, b in zip(tf_runs, torch_runs)], "{:+.2f}"),
        ("tfvae epochs", [r["epochs"] for r in tf_runs], "{:.2f}"),
        ("torch epochs", [r["epochs"] for r in torch_runs], "{:.2f}"),
        (f"tfvae warm-up s ({tf_runs[0]['warmup_steps']} steps)",
         [r["warmup_s"] for r in tf_runs], "{:.2f}"),
        (f"torch warm-up s ({torch_runs[0]['warmup_steps']} steps)",
         [r["warmup_s"] for r in torch_runs], "{:.2f}"),
        ("others' cores, tfvae run", [r["others_cores"] for r in tf_runs], "{:.2f}"),
        ("others' cores, torch run", [r["others_cores"] for r in torch_runs], "{:.2f}"),
    ]
    n = len(tf_runs)
    width = 30
    lines = [f"## {model}: {description}",
             f"data: {source}; {tf_runs[0]['train_n']:,} train, "
             f"{tf_runs[0]['heldout_n']:,} held-out; {seconds:g} s of training per run",
             f"{'':{width}}" + "".join(f"{f'round {i + 1}':>10}" for i in range(n))
             + f"{'min':>10}{'median':>10}{'max':>10}"]
    for label, values, fmt in rows:
        cells = list(values) + list(spread(values))
        lines.append(f"{label:{width}}" + "".join(f"{fmt.format(v):>10}" for v in cells))
    se = max(r["heldout_se"] for r in tf_runs + torch_runs)
    lines.append(f"(-ELBO: mean over held-out examples of -(log p(x|z) - KL) at one "
                 f"z ~ q(z|x); standard error <= {se:.2f} nats)")
    return "\n".join(lines)


def side_args(args, model, path, side, round_index):
    threads = ["--threads", str(args.torch_threads)] \
        if side == "torch" and args.torch_threads else []
    precision = ["--precision", args.tfvae_precision] if side == "tfvae" else []
    return ["--model", model, "--data", path, "--seconds", str(args.seconds),
            "--warmup-steps", str(args.warmup_steps), "--seed", str(args.seed + round_index),
            *threads, *precision]


def prepare_data(model, args, tmp):
    if model == "mlp":
        return args.data, f"{args.data} (fixed binarization; held-out = 'valid')"
    path = Path(tmp) / "conv.npz"
    info = run_side(args.tfvae_python, SIDES["tfvae"], ["--prepare-conv", str(path)])
    return str(path), info["source"] + "; held-out = 'test'"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="binarized MNIST .npz (uint8 'train', 'valid'); "
                        "needed for the mlp")
    parser.add_argument("--models", default="mlp,conv", help="comma-separated: mlp, conv")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="wall time of training per run, after the warm-up")
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tfvae-python", default=sys.executable)
    parser.add_argument("--tfvae-precision", default="float32",
                        choices=("float32", "mixed_bfloat16", "mixed_float16"),
                        help="tfvae's Keras dtype policy (the twin stays float32)")
    parser.add_argument("--torch-python", default=str(ROOT / ".venv-peers/bin/python"))
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads of the twin; default: the usable cores")
    parser.add_argument("--out", default="runs/bench-peers.json", help="JSON of every run")
    args = parser.parse_args()
    models = args.models.split(",")
    if any(m not in MODELS for m in models):
        parser.error(f"Unrecognized models={args.models!r}. Supported models are: "
                     f"{list(MODELS)}.")
    if args.rounds < 1 or args.seconds <= 0 or args.warmup_steps < 1:
        parser.error("--rounds and --warmup-steps must be >= 1 and --seconds > 0. Received: "
                     f"rounds={args.rounds}, seconds={args.seconds}, "
                     f"warmup_steps={args.warmup_steps}")
    if "mlp" in models and not (args.data and Path(args.data).is_file()):
        parser.error(f"--data {args.data!r} is not a file (binarized_mnist.npz)")
    if not Path(args.torch_python).exists():
        parser.error(f"--torch-python {args.torch_python!r} does not exist; "
                     "`make bench-peers` creates .venv-peers with the CPU build of torch")

    report = {"seconds": args.seconds, "models": {},
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp:
        data = {m: prepare_data(m, args, tmp) for m in models}
        runs = {m: {"tfvae": [], "torch": []} for m in models}
        for r in range(args.rounds):
            for model in models:
                order = ("tfvae", "torch") if r % 2 == 0 else ("torch", "tfvae")
                for side in order:
                    python = args.tfvae_python if side == "tfvae" else args.torch_python
                    result = run_side(python, SIDES[side],
                                      side_args(args, model, data[model][0], side, r))
                    runs[model][side].append(result)
                    print(f"round {r + 1}/{args.rounds} {model:4s} {side:5s} "
                          f"{result['samples_per_s']:9,.0f} samples/s  -ELBO "
                          f"{result['heldout_neg_elbo']:.2f}  others' cores "
                          f"{result['others_cores']:.2f}", file=sys.stderr, flush=True)

    for model in models:
        print(table(model, MODELS[model], data[model][1], runs[model], args.seconds))
        print()
        report["models"][model] = {"description": MODELS[model], "data": data[model][1],
                                   **runs[model]}
    first = runs[models[0]]
    print(f"{first['tfvae'][0]['version']}; {first['torch'][0]['version']}, "
          f"{first['torch'][0]['threads']} threads; started {report['date']}; "
          f"all runs in {args.out}")
    # Imported only now: it loads TensorFlow, which the driver needs for
    # nothing but the machine line.
    sys.path.insert(0, str(HERE.parent))
    from _common import command, machine
    report.update(machine=machine(), command=command(__file__))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"machine: {report['machine']}")
    print(f"$ {report['command']}")


if __name__ == "__main__":
    main()
