"""What a benchmark prints about where it ran: the CPU and its bf16-relevant flags, and the
netscale commit it measured. Imported by the scripts beside it (run from the repo root as
`.venv/bin/python benchmarks/NAME.py`, which puts this folder on sys.path)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def cpu() -> tuple[str, str]:
    """CPU model name and its avx512_bf16 / avx512f flags, from /proc/cpuinfo."""
    name, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    name = name or platform.processor() or "unknown"
    has = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx512_bf16", "avx512f"))
    return name, has


def provenance(under: str = "netscale/data") -> str:
    """netscale's commit and its uncommitted changes under `under`."""
    git = ["git", "-C", str(Path(__file__).resolve().parents[1])]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", under], capture_output=True, text=True)
    changed = " ".join(line[3:] for line in dirty.stdout.splitlines()) or "none"
    return f"netscale at {head.stdout.strip()}; uncommitted changes under {under}: {changed}"
