"""Checkpoints that survive SIGKILL at any moment.

A checkpoint is a directory `ckpt-EEEE/` (EEEE = completed epochs) holding model.safetensors,
ema.safetensors (when EMA is on) and state.pt (optimizer state, epoch, step, recipe, seed:
plain containers of tensors and numbers, so `torch.load(weights_only=True)` reads it).
It is written under a temporary name in the same directory and renamed into place; then the
pointer file `latest` is replaced atomically; older checkpoints are removed last. A crash
at any point leaves either the previous or the new checkpoint complete and pointed to.
Data order and augmentation need no saved RNG state: the trainer derives every random
choice from (seed, epoch, step).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from netscale.spec.io import atomic_write_text

STATE = "state.pt"


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(
    folder: Path,
    *,
    epoch: int,
    model: torch.nn.Module,
    ema: torch.nn.Module | None,
    state: dict[str, Any],
) -> Path:
    """Write checkpoint `ckpt-{epoch:04d}` into `folder` atomically; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"ckpt-{epoch:04d}"
    tmp = folder / f".tmp-ckpt-{epoch:04d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_tensors(model), tmp / "model.safetensors")
    if ema is not None:
        save_file(_tensors(ema), tmp / "ema.safetensors")
    torch.save({**state, "epoch": epoch}, tmp / STATE)
    for path in tmp.iterdir():  # data on disk before the rename makes it visible
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write_text(folder / "latest", final.name + "\n")
    for old in folder.glob("ckpt-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint `latest` points to, else the newest complete one, else None."""
    pointer = folder / "latest"
    if pointer.is_file():
        path = folder / pointer.read_text().strip()
        if (path / STATE).is_file():
            return path
    complete = sorted(p for p in folder.glob("ckpt-*") if (p / STATE).is_file())
    return complete[-1] if complete else None


def load_checkpoint(
    path: Path, *, model: torch.nn.Module, ema: torch.nn.Module | None
) -> dict[str, Any]:
    """Load weights into `model` (and `ema`) and return the saved state dict."""
    model.load_state_dict(load_file(path / "model.safetensors"))
    if ema is not None:
        ema_file = path / "ema.safetensors"
        ema.load_state_dict(load_file(ema_file) if ema_file.is_file() else model.state_dict())
    return torch.load(path / STATE, map_location="cpu", weights_only=True)
