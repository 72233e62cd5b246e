"""Runners: execute a study's trials and record them in its ledger.

Local: N worker processes, each claiming one trial at a time (atomic claims; see store.py).
A worker dies with the process that started it (Linux: PR_SET_PDEATHSIG), so a study
killed with SIGKILL leaves abandoned leases that the next `study run` takes over at once:
finished trials are kept, an interrupted trial resumes from its last epoch checkpoint (and,
training being exact on resume, ends with the metrics of an uninterrupted run). Any
exception while a worker runs a trial marks that trial failed; a worker process that exits
with a non-zero code makes `run_local` raise WorkerError once the others are done.

Time budgets: a trial with `budget_s` trains to that wall time; the worker that first
trains it measures and converts it into steps, recorded in its run directory
(budget.json), which every later attempt resumes with (netscale/training/budget.py).

Precision: at a trial's first claim the worker that trains it applies the precision rule
(`decide_precision`: deterministic, nothing timed) and fixes the answer in the ledger;
every attempt trains in the stored precision, passed to `train` as a recipe override.

Kinds: a "train" trial is trained (above); a "profile" trial is measured once with
`netscale.profiling.profile` and the settings its `recipe` holds, in the precision they
name (profile_trial.py: no data, no run directory, no epochs); a "search" trial is trained
as a "train" trial, then its training steps are timed in the same process, on the same
device and threads (profile_trial.time_steps: EfficientNetV2's step time S).

Ray: the driver claims trials under its own lease and submits each as a Ray task on
`ray.init(address=...)` (a local instance without an address); the task trains in the Ray
worker and returns its metrics, which the driver records in the same ledger.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import multiprocessing
import os
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netscale.study.profile_trial import measure_trial, time_steps
from netscale.study.records import Trial
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

    def __post_init__(self) -> None:
        check_count("threads", self.threads, "torch threads per trial")


def check_count(flag: str, value: object, meaning: str) -> None:
    """ValueError unless `value` is an integer >= 1 (the message names the --flag)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{flag}={value!r} is invalid: --{flag} ({meaning}) must be an integer >= 1"
        )


class WorkerError(RuntimeError):
    """A local worker process exited with a non-zero code (the message says which, how,
    and what was left unfinished)."""


def trial_dir(study_dir: Path, trial_id: int) -> Path:
    """Where trial `trial_id` keeps its run directory (checkpoints, metrics.jsonl)."""
    return study_dir / "trials" / f"{trial_id:05d}"


def _data(options: RunOptions) -> Any:
    from netscale.data import load_data

    key = (options.data, options.minival, options.data_seed)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_data(options.data, minival=options.minival, seed=options.data_seed)
    return _DATA_CACHE[key]


def failure(err: BaseException) -> dict[str, Any]:
    """The outcome (for `Store.finish`) of a trial that raised `err`."""
    return {"status": "failed", "metrics": None, "history": [], "error": _error_text(err)}


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def decide_precision(trial: Trial, options: RunOptions) -> str:
    """The precision ("fp32" or "bf16") `trial` trains in on this process's device: the
    deterministic rule `netscale.training.precision.choose_precision` over the recipe's
    request, the device's bf16 capability and the trial's spec. Nothing is timed, so the
    decision cannot depend on the machine's load (issue 11). A profile trial is measured
    in the precision its settings name."""
    if trial.kind == "profile":
        return str(trial.recipe["precision"])
    from netscale.profiling.device import resolve_device
    from netscale.spec import from_dict
    from netscale.training import precision
    from netscale.training.recipe import recipe_from_dict

    requested = recipe_from_dict(trial.recipe).precision
    device = resolve_device(options.device)
    return precision.choose_precision(requested, device, from_dict(trial.spec)).precision


def settle_precision(store: Store, trial: Trial, owner: str, options: RunOptions) -> str:
    """The trial's precision as the ledger holds it; at its first claim it is decided here
    (by the worker that trains it) and stored, and every later attempt reads it back."""
    if trial.precision:
        return trial.precision
    return store.fix_precision(trial.trial_id, owner, decide_precision(trial, options))


def _resumable(out: Path, precision: str | None) -> bool:
    """Whether `out` holds a checkpoint of a run in `precision`. A run directory written
    before the ledger fixed precisions (schema 1) may record another precision, and that
    trial starts again rather than mix two precisions in one result."""
    from netscale.training.checkpoint import latest_checkpoint

    if not out.is_dir() or latest_checkpoint(out / "checkpoints") is None:
        return False
    if precision is None:
        return True
    try:
        recorded = json.loads((out / "recipe.json").read_text()).get("precision")
    except (OSError, ValueError):
        return False
    return recorded == precision


def execute_trial(
    trial: Trial,
    out: Path,
    options: RunOptions,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train one trial into `out` (resuming from its checkpoint if it has one) in the
    trial's stored `precision` (the recipe's own when None), then time a search trial's
    training steps; or measure a profile trial. Returns {"status", "metrics", "history",
    "error"} for `Store.finish`. Any exception is a failed trial."""
    try:
        if trial.kind == "profile":
            return measure_trial(trial, device=options.device, threads=options.threads)
        outcome = _train_trial(trial, out, options, on_epoch)
        if trial.kind == "search":
            return time_steps(trial, outcome, device=options.device, threads=options.threads)
        return outcome
    except Exception as err:
        return failure(err)


def _train_trial(
    trial: Trial,
    out: Path,
    options: RunOptions,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    import torch

    from netscale.spec import from_dict
    from netscale.training.loop import train
    from netscale.training.recipe import recipe_from_dict

    torch.set_num_threads(options.threads)
    precision = trial.precision
    resume = _resumable(out, precision)
    if out.exists() and not resume:  # killed before its first checkpoint: start again
        shutil.rmtree(out)
    # the stored precision as a recipe override, so the run directory's recipe.json says it
    overrides = {"precision": precision} if precision else {}

    def progress(line: dict[str, Any]) -> None:
        if line.get("event") == "epoch" and on_epoch is not None:
            on_epoch({k: v for k, v in line.items() if k != "event"})

    result = train(
        from_dict(trial.spec),
        data=_data(options),
        recipe=recipe_from_dict(trial.recipe, **overrides),
        out=out,
        resume=resume,
        seed=trial.seed,
        device=options.device,
        progress=progress,
        workers=options.threads,  # a streamed source: as many decoding processes as threads
        budget=trial.budget_s,  # converted on the device that first trains it, then recorded
    )
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
        "error": None if top1 is None else round(100.0 - top1, 4),  # None: diverged at once
        "model_top1": result.top1,
        "ema_top1": result.ema_top1,
        "loss": last.get("test_loss"),
        "train_loss": last.get("train_loss"),
        "wall_s": result.wall_s,
        "images_per_s": result.images_per_s,
        "epochs_run": result.epochs,
        "steps": result.steps,
        "step_s": result.step_s,  # measured seconds per step of a budgeted trial, else None
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
            _run_claimed(store, study_dir, trial, owner, options)
            done += 1
    finally:
        store.close()
    return done


def _run_claimed(
    store: Store, study_dir: Path, trial: Trial, owner: str, options: RunOptions
) -> None:
    """Settle the trial's precision, train it and record its end. Any exception is the
    trial's failure (type and message as its error), never a trial left "running"; only
    Ctrl-C gives the trial back to the queue."""
    tid = trial.trial_id

    def on_epoch(line: dict[str, Any]) -> None:
        store.record_epoch(tid, owner, line)

    try:
        with _Heartbeat(study_dir, tid, owner):
            fixed = settle_precision(store, trial, owner, options)
            trial = dataclasses.replace(trial, precision=fixed)
            outcome = execute_trial(trial, trial_dir(study_dir, tid), options, on_epoch)
    except KeyboardInterrupt:
        store.release(tid, owner)
        raise
    except Exception as err:
        outcome = failure(err)
    store.finish(tid, owner, **outcome)


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
    run. Returns the final counts; a WorkerError when a worker exited with a non-zero code
    (after the others finished: their results are recorded)."""
    check_count("workers", workers, "trials run at once")
    store = Store.open(study_dir)  # a study that cannot be opened fails here, not in workers
    ctx = multiprocessing.get_context("spawn")
    procs = [
        # not daemonic: a trial on a streamed folder starts DataLoader worker processes
        # (which daemonic processes may not); the `finally` below and PR_SET_PDEATHSIG in
        # _worker_main end the workers with this process
        ctx.Process(target=_worker_main, args=(str(study_dir), options, os.getpid()))
        for _ in range(workers)
    ]
    try:
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            if monitor is not None:
                monitor(store.counts())
            for p in procs:
                p.join(timeout=poll_s / len(procs))
        counts = store.counts()
        if monitor is not None:
            monitor(counts)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        store.close()
    crashed = [(i, p.exitcode) for i, p in enumerate(procs, 1) if p.exitcode]
    if crashed:
        raise WorkerError(_crash_message(crashed, workers, counts))
    return counts


def _crash_message(crashed: list[tuple[int, int | None]], workers: int, counts: dict) -> str:
    """One line: which workers exited how, and what is left to run."""
    how = []
    for i, code in crashed:
        if code is not None and code < 0:  # killed by signal -code
            name = f"signal {-code}"
            with contextlib.suppress(ValueError):
                name = signal.Signals(-code).name
            how.append(f"worker {i} of {workers} was killed by {name}")
        else:
            how.append(f"worker {i} of {workers} exited with code {code}")
    left = counts["pending"] + counts["running"]
    text = "; ".join(how) + " (a worker's own error, if any, is printed above)"
    if left:
        return text + f"; {left} trials not finished: run the same command again to resume them"
    return text + "; every trial finished nonetheless"
