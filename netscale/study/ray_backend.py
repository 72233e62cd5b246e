"""The Ray backend: the same ledger, trials as Ray tasks.

The driver (this process) claims up to `workers` trials under its own lease, submits each as
a task, renews the leases while they run and records each result when its task returns.
Tasks write their run directories under the study directory, so on a cluster the study
directory should sit on a filesystem the nodes share (otherwise a task that cannot create it
trains into a temporary directory and only its metrics come back). Killing the driver leaves
abandoned leases that the next `study run` (either backend) takes over.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netscale.study.runner import LEASE_S, RunOptions, execute_trial, trial_dir
from netscale.study.store import Store, lease_owner


def _remote_trial(trial: dict[str, Any], out: str, options: RunOptions) -> dict[str, Any]:
    """Runs inside a Ray worker."""
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.mkdtemp(prefix=f"netscale-trial-{trial['trial_id']}-"))
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


def run_ray(
    study_dir: Path,
    options: RunOptions,
    workers: int = 1,
    address: str | None = None,
    monitor: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Run the study's remaining trials as Ray tasks, `workers` at a time; each task asks
    Ray for `options.threads` CPUs. Returns the final status counts."""
    if workers < 1:
        raise ValueError(f"workers={workers!r} is invalid: must be >= 1")
    ray = _init_ray(address, None if address else workers * options.threads)
    task = ray.remote(num_cpus=options.threads)(_remote_trial)
    store, owner = Store.open(study_dir), lease_owner()
    running: dict[Any, int] = {}
    last_renew = time.time()
    try:
        while True:
            while len(running) < workers:
                trial = store.claim(owner, LEASE_S)
                if trial is None:
                    break
                out = str(trial_dir(study_dir, trial["trial_id"]))
                running[task.remote(trial, out, options)] = trial["trial_id"]
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=LEASE_S / 8)
            for ref in ready:
                tid = running.pop(ref)
                store.finish(tid, owner, **ray.get(ref))
            if time.time() - last_renew > LEASE_S / 4:
                for tid in running.values():
                    store.renew(tid, owner, LEASE_S)
                last_renew = time.time()
            if monitor is not None:
                monitor(store.counts())
        counts = store.counts()
        if monitor is not None:
            monitor(counts)
        return counts
    except BaseException:
        for ref, tid in running.items():
            ray.cancel(ref, force=True)
            store.release(tid, owner)
        raise
    finally:
        store.close()
