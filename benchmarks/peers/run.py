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
mean ± standard error. The sides alternate, and which goes first rotates by
round, --rounds times (seed = --seed + round), so a busy spell of a shared
machine hits all of them; every run also records how many cores other processes kept
busy meanwhile (from /proc/stat and the child's rusage). Prints per model the
per-round samples/s, the tfvae/torch ratio, min/median/max, and writes --out.

`--tfvae-precision float32,mixed_bfloat16` makes each tfvae policy an arm of
every round (the order rotates by round), so bfloat16 is read against float32
measured minutes apart, and both against the twin. `--tfvae-intra-op-threads
0,1` does the same for TensorFlow's intra-op thread pool (0: TensorFlow's
default, one thread per core; 1: each op on one thread, independent ops side by
side in the inter-op pool), a process-wide setting a library cannot make for
its user; each precision runs with each. `--tfvae-steps-per-execution 0,10`
likewise makes `VAE.compile`'s default (0) and 10 steps per call arms of each.
`--torch-adam default,fused` makes the twin's Adam an arm too: torch's default
(on CPU a loop of element-wise ops per tensor) and `fused=True` (one kernel per
tensor, as tfvae's `FusedAdam`); every tfvae arm is then read against each.
`--torch-malloc default,tuned` does the same for glibc's malloc in the twin's
process, as it comes or keeping freed memory for reuse (torch_side.py
`--malloc`: the conv twin's page faults); each Adam runs with each.
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
# tfvae.run_config.PRECISIONS, written out: importing it would load TensorFlow
# into this driver, which runs each side in its own process.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# torch_side.ADAMS, written out for the same reason (torch lives in its own venv).
ADAMS = ("default", "fused")
MALLOCS = ("default", "tuned")     # torch_side.MALLOCS


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


def arm_name(precision, intra_op_threads=0, steps_per_execution=0):
    """The label of a tfvae arm: "tfvae", then the policy if not float32, the
    intra-op threads and the steps per execution if set."""
    return " ".join(["tfvae", *([precision] if precision != "float32" else []),
                     *([f"intra-op {intra_op_threads}"] if intra_op_threads else []),
                     *([f"spe {steps_per_execution}"] if steps_per_execution else [])])


def twin_name(adam, malloc="default"):
    """The label of a twin arm: "torch", then its Adam and its malloc where not
    the defaults."""
    return " ".join(["torch", *([f"{adam}-adam"] if adam != "default" else []),
                     *([f"{malloc}-malloc"] if malloc != "default" else [])])


def table(model, description, source, runs, seconds):
    arms = [a for a in runs if runs[a][0]["side"] == "tfvae"]
    twins = [a for a in runs if runs[a][0]["side"] == "torch"]
    every = arms + twins

    def per_round(key, arm):
        return [r[key] for r in runs[arm]]

    # Each tfvae arm against each twin, then the other arms of either side
    # against that side's first.
    pairs = [(a, t) for t in twins for a in arms]
    pairs += [(a, arms[0]) for a in arms[1:]] + [(t, twins[0]) for t in twins[1:]]

    def against(measure, fmt, label):
        return [(label.format(a=a, b=b), [measure(x, y) for x, y in zip(runs[a], runs[b])], fmt)
                for a, b in pairs]

    rows = [(f"{arm} samples/s", per_round("samples_per_s", arm), "{:,.0f}") for arm in every]
    rows += against(lambda x, y: x["samples_per_s"] / y["samples_per_s"], "{:.2f}x",
                    "ratio {a}/{b}")
    rows += [(f"{arm} held-out -ELBO", per_round("heldout_neg_elbo", arm), "{:.2f}")
             for arm in every]
    rows += against(lambda x, y: x["heldout_neg_elbo"] - y["heldout_neg_elbo"], "{:+.2f}",
                    "-ELBO {a} - {b}")
    rows += [(f"{arm} epochs", per_round("epochs", arm), "{:.2f}") for arm in every]
    rows += [(f"{arm} seconds trained", per_round("seconds", arm), "{:.2f}") for arm in every]
    rows += [(f"{arm} warm-up s ({runs[arm][0]['warmup_steps']} steps)",
              per_round("warmup_s", arm), "{:.2f}") for arm in every]
    rows += [(f"others' cores, {arm} run", per_round("others_cores", arm), "{:.2f}")
             for arm in every]
    torch_runs = runs[twins[0]]
    n = len(torch_runs)
    width = max(30, max(len(label) for label, _, _ in rows) + 1)
    lines = [f"## {model}: {description}",
             f"data: {source}; {torch_runs[0]['train_n']:,} train, "
             f"{torch_runs[0]['heldout_n']:,} held-out; each run stops after the first call "
             f"past {seconds:g} s of training",
             f"{'':{width}}" + "".join(f"{f'round {i + 1}':>10}" for i in range(n))
             + f"{'min':>10}{'median':>10}{'max':>10}"]
    for label, values, fmt in rows:
        cells = list(values) + list(spread(values))
        lines.append(f"{label:{width}}" + "".join(f"{fmt.format(v):>10}" for v in cells))
    se = max(r["heldout_se"] for arm_runs in runs.values() for r in arm_runs)
    lines.append(f"(-ELBO: mean over held-out examples of -(log p(x|z) - KL) at one "
                 f"z ~ q(z|x); standard error <= {se:.2f} nats)")
    return "\n".join(lines)


def counts(parser, name, value):
    """Distinct counts >= 0 from the comma-separated option --`name`."""
    try:
        values = [int(t) for t in value.split(",")]
    except ValueError:
        values = [-1]
    if any(t < 0 for t in values) or len(set(values)) < len(values):
        parser.error(f"--{name} takes distinct counts >= 0, comma-separated. "
                     f"Received: {value!r}")
    return values


def choices(parser, name, value, allowed):
    """Distinct values of `allowed` from the comma-separated option --`name`."""
    values = value.split(",")
    if any(v not in allowed for v in values) or len(set(values)) < len(values):
        parser.error(f"Unrecognized or repeated --{name} {value!r}. "
                     f"Supported values are: {list(allowed)}.")
    return values


def side_args(args, model, path, side, round_index, setting=None):
    threads = ["--threads", str(args.torch_threads)] \
        if side == "torch" and args.torch_threads else []
    precision = ["--precision", setting[0], "--intra-op-threads", str(setting[1]),
                 "--steps-per-execution", str(setting[2])] if side == "tfvae" \
        else ["--adam", setting[0], "--malloc", setting[1]]
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
                        help="tfvae's Keras dtype policies, comma-separated: each is an arm "
                             f"of every round, interleaved with the rest; from {PRECISIONS} "
                             "(the twin stays float32)")
    parser.add_argument("--tfvae-intra-op-threads", default="0",
                        help="TensorFlow intra-op thread counts, comma-separated: each is an "
                             "arm of every round (with each precision); 0 = TensorFlow's "
                             "default")
    parser.add_argument("--tfvae-steps-per-execution", default="0",
                        help="steps per execution passed to `VAE.compile`, comma-separated: "
                             "each is an arm of every round (with each precision and thread "
                             "count); 0 = compile's default")
    parser.add_argument("--torch-python", default=str(ROOT / ".venv-peers/bin/python"))
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads of the twin; default: the usable cores")
    parser.add_argument("--torch-adam", default="default",
                        help=f"the twin's Adam, comma-separated: each is an arm of every round; "
                             f"from {ADAMS} (torch's default, or fused=True)")
    parser.add_argument("--torch-malloc", default="default",
                        help=f"glibc's malloc in the twin's process, comma-separated: each is "
                             f"an arm of every round (with each Adam); from {MALLOCS} (as it "
                             "comes, or keeping freed memory for reuse)")
    parser.add_argument("--out", default="runs/bench-peers.json", help="JSON of every run")
    args = parser.parse_args()
    models = args.models.split(",")
    if any(m not in MODELS for m in models):
        parser.error(f"Unrecognized models={args.models!r}. Supported models are: "
                     f"{list(MODELS)}.")
    precisions = choices(parser, "tfvae-precision", args.tfvae_precision, PRECISIONS)
    adams = choices(parser, "torch-adam", args.torch_adam, ADAMS)
    mallocs = choices(parser, "torch-malloc", args.torch_malloc, MALLOCS)
    intra = counts(parser, "tfvae-intra-op-threads", args.tfvae_intra_op_threads)
    spe = counts(parser, "tfvae-steps-per-execution", args.tfvae_steps_per_execution)
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
        # Arms: one per tfvae precision, thread count and steps per call, then one
        # per twin Adam and malloc; each round rotates which goes first, so a busy
        # spell of the machine hits all of them.
        arms = [(arm_name(p, t, k), "tfvae", (p, t, k))
                for p in precisions for t in intra for k in spe]
        arms += [(twin_name(a, m), "torch", (a, m)) for m in mallocs for a in adams]
        runs = {m: {arm: [] for arm, _, _ in arms} for m in models}
        for r in range(args.rounds):
            for model in models:
                shift = r % len(arms)
                for arm, side, setting in arms[shift:] + arms[:shift]:
                    python = args.tfvae_python if side == "tfvae" else args.torch_python
                    result = run_side(python, SIDES[side], side_args(
                        args, model, data[model][0], side, r, setting))
                    runs[model][arm].append(result)
                    print(f"round {r + 1}/{args.rounds} {model:4s} {arm:40s} "
                          f"{result['samples_per_s']:9,.0f} samples/s  -ELBO "
                          f"{result['heldout_neg_elbo']:.2f}  others' cores "
                          f"{result['others_cores']:.2f}", file=sys.stderr, flush=True)

    for model in models:
        print(table(model, MODELS[model], data[model][1], runs[model], args.seconds))
        print()
        report["models"][model] = {"description": MODELS[model], "data": data[model][1],
                                   **runs[model]}
    first = runs[models[0]]
    twin = first[twin_name(adams[0], mallocs[0])][0]
    print(f"{first[arms[0][0]][0]['version']}; {twin['version']}, "
          f"{twin['threads']} threads; started {report['date']}; "
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
