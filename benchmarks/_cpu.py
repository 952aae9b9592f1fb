"""The CPU a benchmark ran on, in one line, with the standard library only:
the PyTorch twins' venv has no TensorFlow, and their lines must read as
`_common.machine`'s do."""

import os
from pathlib import Path


def cpu():
    """CPU model, bfloat16/AMX support and usable cores, e.g.
    "Intel(R) Xeon(R) Processor; avx512_bf16 yes, amx_bf16 yes; 2 cores usable"."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines
                  if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1] for line in lines if line.startswith("flags")),
                     "").split())
    marks = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}"
                      for flag in ("avx512_bf16", "amx_bf16"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}; {marks}; {cores} cores usable"
