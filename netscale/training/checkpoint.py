"""Checkpoints that survive SIGKILL at any moment.

A checkpoint is a directory `ckpt-EEEE/` (EEEE = completed epochs) holding model.safetensors,
ema.safetensors (when EMA is on) and state.pt (optimizer state, epoch, step, recipe, seed,
precision, a time budget's record and the metrics lines of the epochs it covers: plain
containers of tensors, numbers and strings, so `torch.load(weights_only=True)` reads it).
It is written under a temporary name in the same directory and renamed into place; then the
pointer file `latest` is replaced atomically; older checkpoints are removed last. A crash
at any point leaves either the previous or the new checkpoint complete and pointed to; the
temporary directory of an interrupted write is removed by the next write (or `clean_partial`).
A damaged checkpoint (truncated or overwritten files) raises `CheckpointError` naming it.
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

from netscale.spec.io import atomic_write

STATE = "state.pt"
PARTIAL = ".tmp-ckpt-*"


class CheckpointError(ValueError):
    """A checkpoint cannot be read (the message names the file and what is wrong)."""


def clean_partial(folder: Path) -> None:
    """Remove the temporary directories of interrupted checkpoint writes in `folder`."""
    for tmp in folder.glob(PARTIAL):
        shutil.rmtree(tmp, ignore_errors=True)


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
    atomic_write(folder / "latest", final.name + "\n")
    for old in folder.glob("ckpt-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    clean_partial(folder)  # writes a SIGKILL interrupted (one writer per run directory)
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
    """Load weights into `model` (and `ema`) and return the saved state dict; a damaged file
    or weights of another architecture raise `CheckpointError`."""
    _load_into(model, path / "model.safetensors", None)
    if ema is not None:
        ema_file = path / "ema.safetensors"
        _load_into(ema, ema_file, None if ema_file.is_file() else model.state_dict())
    state = _read(path / STATE)
    if not isinstance(state, dict) or "epoch" not in state:
        raise CheckpointError(f"{path / STATE} is not a netscale checkpoint state")
    return state


def _load_into(module: torch.nn.Module, file: Path, tensors: dict[str, Any] | None) -> None:
    try:
        module.load_state_dict(_read(file) if tensors is None else tensors)
    except RuntimeError as err:  # keys or shapes of another architecture
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"the weights in {file} do not fit this model ({first})") from None


def _read(file: Path) -> Any:
    """A safetensors or state.pt file, with one-line errors for damaged files."""
    try:
        if file.suffix == ".safetensors":
            return load_file(file)
        return torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file {file} is missing") from None
    except Exception as err:  # safetensors, pickle and zip readers raise many kinds
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint file {file} is damaged or not a netscale checkpoint ({first[:200]})"
        ) from None
