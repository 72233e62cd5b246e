"""The study API behind `netscale study ...`: plan (print, create nothing), create or reopen,
run, status, export, report, and compare (the rank agreement of two studies of one
population at two budgets)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netscale.spec.io import differences, finite, json_text
from netscale.study.config import StudyConfig, example_config, load_config
from netscale.study.planners import DataShape, needs_data, plan
from netscale.study.records import Trial, TrialPlan
from netscale.study.store import DB_NAME, Store, StoreError, StoreExistsError, precision_counts

RUN_BACKENDS = ("local", "ray")


def resolve_config(config: str | Path | StudyConfig | None, example: str | None) -> StudyConfig:
    """A config from a path, a StudyConfig, or a shipped example's name (exactly one)."""
    if (config is None) == (example is None):
        raise ValueError("give exactly one of a config file and --example NAME")
    if example is not None:
        return example_config(example)
    return config if isinstance(config, StudyConfig) else load_config(config)


def data_shape(data: str) -> DataShape:
    """Classes and channels of a data source (loads it; errors name the source)."""
    from netscale.data import load_data

    splits = load_data(data)
    channels = getattr(splits, "channels", None)  # a streamed source states its channels
    if channels is None:
        channels = splits.train.images.shape[1]
    return DataShape(num_classes=splits.num_classes, in_width=channels)


def plan_study(config: StudyConfig) -> list[TrialPlan]:
    """The trials `config`'s study would hold, planned as `study run` plans them (a planner
    that trains reads the data set for its classes and channels); nothing is created."""
    return plan(config, data_shape(config.data) if needs_data(config) else None)


def recipe_changes(trial: TrialPlan | Trial) -> dict[str, Any]:
    """A training (or search) trial's recipe fields whose values differ from `Recipe`'s
    defaults; a profile trial's settings (they have no defaults)."""
    if trial.kind == "profile":
        return dict(trial.recipe)
    from netscale.training.recipe import Recipe, recipe_to_dict

    defaults = recipe_to_dict(Recipe())
    return {k: v for k, v in trial.recipe.items() if k not in defaults or defaults[k] != v}


def describe_plan(config: StudyConfig) -> dict[str, Any]:
    """The study `config` would create, as plain data: its name, planner and data, and each
    planned trial in full (every TrialPlan field) with its `recipe_changes`. Runs nothing,
    writes nothing."""
    trials = plan_study(config)
    return {
        "name": config.name,
        "planner": config.planner,
        "data": config.data if needs_data(config) else None,
        "planned": len(trials),
        "trials": [
            {"index": i, **dataclasses.asdict(t), "recipe_changes": recipe_changes(t)}
            for i, t in enumerate(trials)
        ],
    }


def open_or_create(config: StudyConfig, out: Path) -> Store:
    """The study in `out`: created (planned, seeded) on first use; on later runs the stored
    config must equal `config`, so a directory never mixes two studies. A planner that uses
    no data (profile trials) plans without loading `config.data`."""
    if (out / DB_NAME).exists():
        return _reopen(config, out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"--out {str(out)!r} exists and is not a directory")
    plans = plan_study(config)
    study = {
        "name": config.name,
        "planner": config.planner,
        "config": config.to_dict(),
        "created": _now(),
        "planned": len(plans),
    }
    try:
        return Store.create(out, study, plans)
    except StoreExistsError:  # a concurrent `study run` created it first
        return _reopen(config, out)


def _reopen(config: StudyConfig, out: Path) -> Store:
    store = Store.open(out)
    stored = store.study()["config"]
    wanted = json.loads(json.dumps(config.to_dict()))  # as stored: tuples become lists
    if stored != wanted:
        store.close()
        diff = [path for path, _, _ in differences(stored, wanted)]
        raise StoreError(
            f"{str(out)!r} holds a different study (config keys differ: "
            f"{', '.join(diff)}); use another --out or the same config"
        )
    return store


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def run_study(
    config: StudyConfig,
    out: str | Path,
    *,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    threads: int | None = None,
    device: str | None = None,
    retry_failed: bool = False,
    monitor: Callable[[dict[str, int]], None] | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """Run (or resume) a study in `out` and return {"counts", "report"}. `threads` is torch
    threads per trial (default: this machine's cores / workers). Finished trials are kept
    (with none left to run, no worker starts); abandoned ones are taken over; interrupted
    ones resume from their checkpoints. Raises
    runner.WorkerError when a local worker process exited with a non-zero code. A study of
    profile trials measures on its config's device: a different `device` is a ValueError."""
    import os

    from netscale.study.runner import RunOptions, check_count, run_local

    if backend not in RUN_BACKENDS:
        raise ValueError(f"backend={backend!r} is invalid; allowed: {', '.join(RUN_BACKENDS)}")
    check_count("workers", workers, "trials run at once")
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // workers)
    check_count("threads", threads, "torch threads per trial; default: cores / workers")
    out = Path(out)
    counts = _prepare_run(config, out, device, retry_failed)
    options = RunOptions(
        data=config.data, device=device, threads=threads, minival=config.minival,
        data_seed=config.seed,
    )  # fmt: skip
    if counts["pending"] + counts["running"] == 0:  # all finished: start no worker
        if monitor is not None:
            monitor(counts)
    elif backend == "ray":
        from netscale.study.ray_backend import run_ray

        counts = run_ray(out, options, workers, address, monitor)
    else:
        counts = run_local(out, options, workers, monitor)
    path = write_report(out) if report else None
    return {"counts": counts, "report": path}


def _prepare_run(
    config: StudyConfig, out: Path, device: str | None, retry_failed: bool
) -> dict[str, int]:
    """Open (or create) the study, check `device` against its profile trials, put failed
    trials back when asked; the status counts before anything runs."""
    from netscale.study.profile_trial import check_device

    store = open_or_create(config, out)
    try:
        check_device(store.trials(), device)
        if retry_failed:
            store.retry_failed()
        return store.counts()
    finally:
        store.close()


def study_trials(study_dir: str | Path) -> tuple[dict[str, Any], list[Trial]]:
    """The study's record and its trials (see store.Store.trials)."""
    store = Store.open(Path(study_dir))
    try:
        return store.study(), store.trials()
    finally:
        store.close()


def status(study_dir: str | Path) -> dict[str, Any]:
    """Counts per status, overall and per group; trials per precision (those whose first
    claim fixed one); and the failed trials with their errors."""
    study, trials = study_trials(study_dir)
    groups: dict[str, Counter[str]] = {}
    for t in trials:
        groups.setdefault(t.group, Counter())[t.status] += 1
    totals = Counter(t.status for t in trials)
    failed = [{"trial_id": t.trial_id, "group": t.group, "error": t.error} for t in trials
              if t.status == "failed"]  # fmt: skip
    return {"name": study["name"], "planner": study["planner"], "planned": len(trials),
            "counts": dict(totals), "groups": {g: dict(c) for g, c in groups.items()},
            "precision": precision_counts(trials), "failed": failed}  # fmt: skip


EXPORT_FORMATS = ("jsonl", "csv")
_EXPORT_KEYS = ("trial_id", "group", "spec_id", "status", "precision", "seed", "epochs",
                "budget_s", "flops", "params", "acts")  # fmt: skip


def export(study_dir: str | Path, fmt: str = "jsonl") -> str:
    """One record per trial: id, group, spec id, status, precision, complexity, final
    metrics and the design parameters; JSON lines or CSV. Non-finite numbers (a diverged
    trial's NaN loss) are written as null (an empty CSV cell): JSON has no NaN."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format={fmt!r} is invalid; allowed: {', '.join(EXPORT_FORMATS)}")
    _, trials = study_trials(study_dir)
    rows = []
    for t in trials:
        row = {k: getattr(t, k) for k in _EXPORT_KEYS}
        row["metrics"] = t.metrics
        row["design"] = t.design
        rows.append(finite(row))
    if fmt == "jsonl":
        return "\n".join(json_text(r) for r in rows)
    flat = [_flatten(r) for r in rows]
    columns = list(dict.fromkeys(k for r in flat for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buf.getvalue().rstrip("\n")


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    nested = ("metrics", "design")
    out = {k: v for k, v in row.items() if k not in nested}
    for prefix in nested:
        for k, v in (row.get(prefix) or {}).items():
            out[f"{prefix}.{k}"] = v
    return out


def write_report(study_dir: str | Path) -> Path:
    """(Re)write study_dir/report.html and its PNGs from the ledger, and the files the
    study's planner writes beside it (a training-aware search's best.yaml), each
    atomically; any time, mid-study too."""
    from netscale.spec.io import atomic_write
    from netscale.study.planners import report_files
    from netscale.study.report import write_report as _write

    study, trials = study_trials(study_dir)
    path = _write(Path(study_dir), study, trials)
    for name, text in report_files(study, trials).items():
        atomic_write(Path(study_dir) / name, text)
    return path


def summary(study_dir: str | Path) -> str:
    """The terminal summary table of the study."""
    from netscale.study.report import summary_table

    study, trials = study_trials(study_dir)
    return summary_table(study, trials)


def _budget_text(trials: list[Trial]) -> str:
    """What the trials were trained for: "1 epoch", "4 epochs", "90 s budget", or a mix."""
    texts = sorted(
        {
            f"{t.budget_s:g} s budget" if t.budget_s else f"{t.epochs} epoch{'s' * (t.epochs != 1)}"
            for t in trials
        }
    )
    return " / ".join(texts) or "no trained trials"


def compare(
    dir_a: str | Path, dir_b: str | Path, *, ci: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """The rank agreement of two studies of the same population (same models and seeds,
    e.g. one config run at two budgets): the completed trained trials of both matched by
    (group, spec_id, seed), Spearman's rho of their top-1 errors with its `ci` bootstrap
    interval over models, overall and per group with 3 or more models, and how many of A's
    best quarter are in B's best quarter. Raises ValueError when fewer than 3 models
    completed in both or their errors do not differ."""
    from netscale.study.records import TRAINED_KINDS
    from netscale.study.statistics import AnalysisError, rank_agreement

    sides = []
    for d in (dir_a, dir_b):
        study, trials = study_trials(d)
        done = {(t.group, t.spec_id, t.seed): t for t in trials
                if t.kind in TRAINED_KINDS and t.status == "completed"}  # fmt: skip
        sides.append((study, trials, done))
    (study_a, trials_a, done_a), (study_b, trials_b, done_b) = sides
    keys = sorted(done_a.keys() & done_b.keys())
    if len(keys) < 3:
        raise ValueError(
            f"{len(keys)} models completed in both {dir_a} and {dir_b}; a rank agreement "
            "needs 3 or more (the studies must train the same models with the same seeds)"
        )

    def agreement(subset: list[tuple[str, str, int]]) -> dict[str, Any]:
        ea = [done_a[k].metrics["error"] for k in subset]
        eb = [done_b[k].metrics["error"] for k in subset]
        try:
            r = rank_agreement(ea, eb, ci=ci, seed=seed)
        except AnalysisError as err:
            raise ValueError(f"cannot rank {len(subset)} models: {err}") from None
        return {"n": r.n, "rho": r.rho, "pvalue": r.pvalue, "low": r.interval.low,
                "high": r.interval.high}  # fmt: skip

    groups = sorted({k[0] for k in keys})
    per_group = {g: agreement([k for k in keys if k[0] == g]) for g in groups
                 if sum(k[0] == g for k in keys) >= 3}  # fmt: skip
    quarter = max(1, len(keys) // 4)
    best_a = sorted(keys, key=lambda k: done_a[k].metrics["error"])[:quarter]
    best_b = sorted(keys, key=lambda k: done_b[k].metrics["error"])[:quarter]
    return {
        "a": {"dir": str(dir_a), "name": study_a["name"], "trained": _budget_text(
            [done_a[k] for k in keys]), "completed": len(done_a), "planned": len(trials_a)},
        "b": {"dir": str(dir_b), "name": study_b["name"], "trained": _budget_text(
            [done_b[k] for k in keys]), "completed": len(done_b), "planned": len(trials_b)},
        "ci": ci,
        "matched": len(keys),
        "all": agreement(keys),
        "groups": per_group,
        "top_quarter": {"size": quarter, "shared": len(set(best_a) & set(best_b))},
    }  # fmt: skip
