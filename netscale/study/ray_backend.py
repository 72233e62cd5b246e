"""The Ray backend: the same ledger, trials as Ray tasks.

The driver (this process) claims up to `workers` trials under its own lease, submits each as
a task, renews the leases while they run and records each result when its task returns.
Tasks write their run directories under the study directory, so on a cluster the study
directory should sit on a filesystem the nodes share (otherwise a task that cannot create it
trains into a temporary directory and only its metrics come back). Killing the driver leaves
abandoned leases that the next `study run` (either backend) takes over.

A profile trial is submitted the same way; its task measures the model instead of training
it (`runner.execute_trial`), and its precision is the one its settings name. A search
trial's task trains it, then times its training steps in the same Ray worker, so the step
time S comes from the node that trained it (the same `execute_trial`).

A trial's precision is fixed before its training task is submitted: at the first claim the
driver asks a small task with the training task's resources (so it lands on the same kind
of node) to apply the precision rule there, and stores the answer; every later attempt
trains in the stored precision, whichever node runs it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netscale.study.records import Trial
from netscale.study.runner import (
    LEASE_S,
    RunOptions,
    check_count,
    decide_precision,
    execute_trial,
    failure,
    trial_dir,
)
from netscale.study.store import Store, lease_owner


def _remote_trial(trial: Trial, out: str, options: RunOptions) -> dict[str, Any]:
    """Runs inside a Ray worker."""
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.mkdtemp(prefix=f"netscale-trial-{trial.trial_id}-"))
    return execute_trial(trial, path, options)


def _init_ray(address: str | None, num_cpus: int | None) -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--backend ray needs the ray package: pip install 'netscale[ray]'"
        ) from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return ray


class _Driver:
    """The driver's side: claims under one lease, precision fixed before submission, a
    result recorded per finished task, leases renewed while tasks run."""

    def __init__(self, ray: Any, study_dir: Path, options: RunOptions) -> None:
        self.ray, self.study_dir, self.options = ray, study_dir, options
        self.train = ray.remote(num_cpus=options.threads)(_remote_trial)
        # the same resources as training, so the rule reads the kind of node that trains
        self.decide = ray.remote(num_cpus=options.threads)(decide_precision)
        self.store, self.owner = Store.open(study_dir), lease_owner()
        self.running: dict[Any, int] = {}  # task ref -> trial id

    def submit(self, trial: Trial) -> None:
        """Fix the trial's precision (decided remotely at its first claim), then submit
        its training task; a trial whose precision cannot be decided ends failed."""
        tid = trial.trial_id
        try:
            if trial.precision is None:
                chosen = self.ray.get(self.decide.remote(trial, self.options))
                fixed = self.store.fix_precision(tid, self.owner, chosen)
                trial = dataclasses.replace(trial, precision=fixed)
        except Exception as err:  # e.g. a --device the node does not have
            self.store.finish(tid, self.owner, **failure(err))
            return
        out = str(trial_dir(self.study_dir, tid))
        self.running[self.train.remote(trial, out, self.options)] = tid

    def collect(self, ref: Any) -> None:
        """Record a finished task's outcome; a task that raised (its worker died, say) is
        the trial's failure."""
        tid = self.running.pop(ref)
        try:
            outcome = self.ray.get(ref)
        except Exception as err:
            outcome = failure(getattr(err, "cause", None) or err)
        self.store.finish(tid, self.owner, **outcome)

    def renew(self) -> None:
        for tid in self.running.values():
            self.store.renew(tid, self.owner, LEASE_S)

    def abandon(self) -> None:
        """Cancel every running task and give its trial back to the queue."""
        for ref, tid in self.running.items():
            self.ray.cancel(ref, force=True)
            self.store.release(tid, self.owner)


def run_ray(
    study_dir: Path,
    options: RunOptions,
    workers: int = 1,
    address: str | None = None,
    monitor: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Run the study's remaining trials as Ray tasks, `workers` at a time; each task asks
    Ray for `options.threads` CPUs. Returns the final status counts."""
    check_count("workers", workers, "trials run at once")
    ray = _init_ray(address, None if address else workers * options.threads)
    driver = _Driver(ray, study_dir, options)
    last_renew = time.time()
    try:
        while True:
            while len(driver.running) < workers:
                trial = driver.store.claim(driver.owner, LEASE_S)
                if trial is None:
                    break
                driver.submit(trial)
            if not driver.running:
                break
            ready, _ = ray.wait(list(driver.running), num_returns=1, timeout=LEASE_S / 8)
            for ref in ready:
                driver.collect(ref)
            if time.time() - last_renew > LEASE_S / 4:
                driver.renew()
                last_renew = time.time()
            if monitor is not None:
                monitor(driver.store.counts())
        counts = driver.store.counts()
        if monitor is not None:
            monitor(counts)
        return counts
    except BaseException:
        driver.abandon()
        raise
    finally:
        driver.store.close()
