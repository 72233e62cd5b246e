"""Profile trials: a trial of kind "profile" (records.TRIAL_KINDS) is measured, not trained.

`measure_trial` runs `netscale.profiling.profile(spec, **settings)` once, the settings being
the trial's `recipe` (device, batch, resolution, mode, precision, channels_last, compile,
warmup, iters), with the trial's seed and its stored precision, and returns the outcome for
`Store.finish`: the measured runtime (ms per batch), images/s, threads, device and peak
memory. It reads no data and writes no run directory; the runners (local and Ray) call it
through `runner.execute_trial`. torch is imported inside the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netscale.study.records import Trial


def check_device(trials: Sequence[Trial], device: str | None) -> None:
    """ValueError when `device` (`study run --device`) is given and is not the device the
    study's profile trials are measured on: their settings name it, as a runtime depends
    on it. Training trials run on any device."""
    wanted = {str(t.recipe["device"]) for t in trials if t.kind == "profile"}
    if device is not None and wanted and wanted != {device}:
        raise ValueError(
            f"--device {device!r} conflicts with the device this study measures on "
            f"({', '.join(sorted(wanted))}, from its config): leave --device out, or "
            "change the device in the config (in a new --out)"
        )


def measure_trial(trial: Trial, *, device: str | None, threads: int) -> dict[str, Any]:
    """Measure a profile trial in `threads` torch threads; {"status", "metrics", "history",
    "error"} for `Store.finish`. Exceptions propagate (the runner fails the trial)."""
    import torch

    from netscale.profiling.device import device_name
    from netscale.profiling.measure import profile
    from netscale.spec import from_dict

    check_device([trial], device)
    torch.set_num_threads(threads)
    settings = {**trial.recipe, "precision": trial.precision or trial.recipe["precision"]}
    r = profile(from_dict(trial.spec), seed=trial.seed, **settings)
    metrics = {
        "runtime_ms": r.latency_ms,  # median time of one step on the whole batch
        "runtime_p95_ms": r.latency_p95_ms,
        "images_per_s": r.images_per_s,
        "threads": r.threads,
        "device": r.device,
        "device_name": device_name(torch.device(r.device)),
        "peak_memory_bytes": r.peak_memory_bytes,
        "steps": r.steps,
    }
    return {"status": "completed", "metrics": metrics, "history": [], "error": None}
