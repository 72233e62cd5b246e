"""What a run records about its environment (the matmul peak lives in profiling/device.py)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from netscale.profiling.device import device_name
from netscale.training.precision import bf16_capability
from netscale.version import __version__


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, device, threads and the git commit of the netscale checkout (if any)."""
    sha = None
    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        lines = out.stdout.split()
        # only a checkout whose top is the directory holding netscale/: not a project
        # that merely installed netscale in a venv inside its own repository
        if len(lines) == 2 and Path(lines[0]).resolve() == repo:
            sha = lines[1]
    except (OSError, subprocess.SubprocessError):
        sha = None
    return {
        "netscale": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_capability": bf16_capability(device)[1],
        "git_sha": sha,
    }
