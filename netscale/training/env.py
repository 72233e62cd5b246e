"""What a run records about its environment, and the device's measured matmul peak."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, device, threads and the git commit of the netscale checkout (if any)."""
    import netscale

    sha = None
    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        sha = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    return {
        "netscale": netscale.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "git_sha": sha,
    }


_PEAK: dict[tuple[str, str], float] = {}


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 1024) -> float:
    """Measured matmul throughput (multiply-adds per second, best of 5) on `device`.

    MFU in the run log is achieved multiply-adds per second over this number: a measured,
    not a datasheet, peak. Cached per process."""
    key = (str(device), str(dtype))
    if key not in _PEAK:
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        best = float("inf")
        for _ in range(6):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            (a @ b).sum().item()
            best = min(best, time.perf_counter() - t0)
        _PEAK[key] = size**3 / best
    return _PEAK[key]
