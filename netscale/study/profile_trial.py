"""Measured trials: a trial of kind "profile" (records.TRIAL_KINDS) is measured, not trained;
a trial of kind "search" is trained, then its training steps are timed.

`measure_trial` runs `netscale.profiling.profile(spec, **settings)` once, the settings being
the trial's `recipe` (device, batch, resolution, mode, precision, channels_last, compile,
warmup, iters), with the trial's seed and its stored precision, and returns the outcome for
`Store.finish`: the measured runtime (ms per batch), images/s, threads, device and peak
memory. It reads no data and writes no run directory.

`time_steps` adds to a trained search trial's outcome the time of one training step of its
spec (profile() in mode "train" with the settings of `meta["step_time"]`), measured on the
device and in the threads that trained it, in the precision it trained in (unless the
settings name one): EfficientNetV2's training step time S (Tan & Le 2021, sec. 3.3).

The runners (local and Ray) call both through `runner.execute_trial`. torch is imported
inside the calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netscale.study.records import Trial


def check_device(trials: Sequence[Trial], device: str | None) -> None:
    """ValueError when `device` (`study run --device`) is given and is not the device the
    study's profile trials are measured on: their settings name it, as a runtime depends
    on it. Training (and search) trials run on any device."""
    wanted = {str(t.recipe["device"]) for t in trials if t.kind == "profile"}
    if device is not None and wanted and wanted != {device}:
        raise ValueError(
            f"--device {device!r} conflicts with the device this study measures on "
            f"({', '.join(sorted(wanted))}, from its config): leave --device out, or "
            "change the device in the config (in a new --out)"
        )


def _profile(trial: Trial, settings: dict[str, Any], threads: int) -> dict[str, Any]:
    """profile() of the trial's spec with `settings` in `threads` torch threads: the result's
    fields (netscale.profiling.ProfileResult) and the device's name."""
    import torch

    from netscale.profiling.device import device_name
    from netscale.profiling.measure import profile
    from netscale.spec import from_dict

    torch.set_num_threads(threads)
    r = profile(from_dict(trial.spec), seed=trial.seed, **settings)
    return {**r.to_dict(), "device_name": device_name(torch.device(r.device))}


def measure_trial(trial: Trial, *, device: str | None, threads: int) -> dict[str, Any]:
    """Measure a profile trial in `threads` torch threads; {"status", "metrics", "history",
    "error"} for `Store.finish`. Exceptions propagate (the runner fails the trial)."""
    check_device([trial], device)
    settings = {**trial.recipe, "precision": trial.precision or trial.recipe["precision"]}
    r = _profile(trial, settings, threads)
    metrics = {
        "runtime_ms": r["latency_ms"],  # median time of one step on the whole batch
        "runtime_p95_ms": r["latency_p95_ms"],
        "images_per_s": r["images_per_s"],
        "threads": r["threads"],
        "device": r["device"],
        "device_name": r["device_name"],
        "peak_memory_bytes": r["peak_memory_bytes"],
        "steps": r["steps"],
    }
    return {"status": "completed", "metrics": metrics, "history": [], "error": None}


def step_precision(trial: Trial) -> str:
    """The precision a search trial's steps are timed in: its settings' own, else the one it
    trained in (fixed in the ledger at its first claim; a recipe's fixed precision, or fp32,
    for a trial run outside a runner)."""
    named = trial.meta["step_time"].get("precision")
    if named:
        return str(named)
    if trial.precision:
        return trial.precision
    requested = trial.recipe.get("precision")
    return str(requested) if requested in ("fp32", "bf16") else "fp32"


def time_steps(
    trial: Trial, outcome: dict[str, Any], *, device: str | None, threads: int
) -> dict[str, Any]:
    """A search trial's training `outcome` with its measured training step time added to
    its metrics (`step_ms`: median ms of one step on a batch of `step_batch` images;
    `step_p95_ms`, `step_images_per_s`, `step_precision`, `device`, `device_name`,
    `threads`). A trial that did not complete is returned as it is: only a trained
    candidate has a reward. Exceptions propagate (the runner fails the trial)."""
    if outcome["status"] != "completed":
        return outcome
    settings = {**trial.meta["step_time"], "mode": "train", "precision": step_precision(trial),
                "device": device}  # fmt: skip
    r = _profile(trial, settings, threads)
    metrics = {
        **outcome["metrics"],
        "step_ms": r["latency_ms"],  # median time of one training step on the whole batch
        "step_p95_ms": r["latency_p95_ms"],
        "step_images_per_s": r["images_per_s"],
        "step_batch": r["batch"],
        "step_precision": r["precision"],
        "device": r["device"],
        "device_name": r["device_name"],
        "threads": r["threads"],
    }
    return {**outcome, "metrics": metrics}
