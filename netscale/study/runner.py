"""Runners: execute a study's trials and record them in its ledger.

Local: N worker processes, each claiming one trial at a time (atomic claims; see store.py).
A worker dies with the process that started it (Linux: PR_SET_PDEATHSIG), so a study
killed with SIGKILL leaves abandoned leases that the next `study run` takes over at once:
finished trials are kept, an interrupted trial resumes from its last epoch checkpoint (and,
training being exact on resume, ends with the metrics of an uninterrupted run).

Ray: the driver claims trials under its own lease and submits each as a Ray task on
`ray.init(address=...)` (a local instance without an address); the task trains in the Ray
worker and returns its metrics, which the driver records in the same ledger.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netscale.study.store import Store, lease_owner

LEASE_S = 120.0  # a lease lives this long without renewal; renewed every LEASE_S / 4
_DATA_CACHE: dict[tuple[str, float, int], Any] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How trials run: data source (as `netscale train --data`), device, torch threads per
    trial, and the minival fraction and seed of the data split."""

    data: str
    device: str | None = None
    threads: int = 1
    minival: float = 0.0
    data_seed: int = 0


def trial_dir(study_dir: Path, trial_id: int) -> Path:
    """Where trial `trial_id` keeps its run directory (checkpoints, metrics.jsonl)."""
    return study_dir / "trials" / f"{trial_id:05d}"


def _data(options: RunOptions) -> Any:
    from netscale.data import load_data

    key = (options.data, options.minival, options.data_seed)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_data(options.data, minival=options.minival, seed=options.data_seed)
    return _DATA_CACHE[key]


def execute_trial(
    trial: dict[str, Any],
    out: Path,
    options: RunOptions,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train one trial into `out` (resuming from its checkpoint if it has one) and return
    {"status", "metrics", "history", "error"} for `Store.finish`."""
    import torch

    from netscale.spec import from_dict
    from netscale.training.checkpoint import latest_checkpoint
    from netscale.training.loop import train
    from netscale.training.recipe import recipe_from_dict

    torch.set_num_threads(options.threads)
    resume = out.is_dir() and latest_checkpoint(out / "checkpoints") is not None
    if out.exists() and not resume:  # killed before its first checkpoint: start again
        shutil.rmtree(out)

    def progress(line: dict[str, Any]) -> None:
        if line.get("event") == "epoch" and on_epoch is not None:
            on_epoch({k: v for k, v in line.items() if k != "event"})

    try:
        result = train(
            from_dict(trial["spec"]),
            data=_data(options),
            recipe=recipe_from_dict(trial["recipe"]),
            out=out,
            resume=resume,
            seed=trial["seed"],
            device=options.device,
            progress=progress,
        )
    except (ValueError, RuntimeError, OSError) as err:
        return {"status": "failed", "metrics": None, "history": [], "error": str(err)}
    return {
        "status": result.status,
        "metrics": _final_metrics(result),
        "history": result.metrics,
        "error": result.message or None,
    }


def _final_metrics(result: Any) -> dict[str, Any]:
    """The trial's result; `top1` is the EMA model's where the recipe keeps an EMA (the model
    the recipe delivers, as ResNet-RS reports), the trained weights' otherwise."""
    top1 = result.ema_top1 if result.ema_top1 is not None else result.top1
    last = result.metrics[-1] if result.metrics else {}
    return {
        "top1": top1,
        "error": round(100.0 - top1, 4),
        "model_top1": result.top1,
        "ema_top1": result.ema_top1,
        "loss": last.get("test_loss"),
        "train_loss": last.get("train_loss"),
        "wall_s": result.wall_s,
        "images_per_s": result.images_per_s,
        "epochs_run": result.epochs,
    }


class _Heartbeat:
    """Renews a lease every LEASE_S / 4 in a background thread while a trial runs."""

    def __init__(self, store_dir: Path, trial_id: int, owner: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(store_dir, trial_id, owner), daemon=True
        )

    def _beat(self, store_dir: Path, trial_id: int, owner: str) -> None:
        store = Store.open(store_dir)
        try:
            while not self._stop.wait(LEASE_S / 4):
                store.renew(trial_id, owner, LEASE_S)
        finally:
            store.close()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def work(study_dir: Path, options: RunOptions, max_trials: int | None = None) -> int:
    """Claim and run trials until none is left (or `max_trials` ran); returns how many ran.
    Safe to run in any number of processes at once on one study directory."""
    store, owner, done = Store.open(study_dir), lease_owner(), 0
    try:
        while max_trials is None or done < max_trials:
            trial = store.claim(owner, LEASE_S)
            if trial is None:
                break
            tid = trial["trial_id"]

            def on_epoch(line: dict[str, Any], tid: int = tid) -> None:
                store.record_epoch(tid, owner, line)

            try:
                with _Heartbeat(study_dir, tid, owner):
                    outcome = execute_trial(trial, trial_dir(study_dir, tid), options, on_epoch)
            except KeyboardInterrupt:
                store.release(tid, owner)
                raise
            store.finish(tid, owner, **outcome)
            done += 1
    finally:
        store.close()
    return done


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGKILL to this process when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_main(study_dir: str, options: RunOptions, parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    work(Path(study_dir), options)


def run_local(
    study_dir: Path,
    options: RunOptions,
    workers: int = 1,
    monitor: Callable[[dict[str, int]], None] | None = None,
    poll_s: float = 1.0,
) -> dict[str, int]:
    """Run the study with `workers` processes; `monitor` gets the status counts while they
    run. Returns the final counts."""
    if workers < 1:
        raise ValueError(f"workers={workers!r} is invalid: must be >= 1")
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(str(study_dir), options, os.getpid()), daemon=True)
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    store = Store.open(study_dir)
    try:
        while any(p.is_alive() for p in procs):
            if monitor is not None:
                monitor(store.counts())
            for p in procs:
                p.join(timeout=poll_s / len(procs))
        counts = store.counts()
        if monitor is not None:
            monitor(counts)
        return counts
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        store.close()
