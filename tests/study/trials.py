"""Synthetic trials, as the ledger hands them back (`Trial` records), for each planner's
findings, report sections and the report page: no training involved."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from netscale.complexity import count
from netscale.families.regnet import anynet
from netscale.spec.io import spec_id, to_dict
from netscale.study.records import Trial


def trial_record(**fields: Any) -> Trial:
    """A `Trial` with `fields`; the others get neutral values (a completed trial of group
    "g" with no metrics)."""
    defaults: dict[str, Any] = {
        "trial_id": 0, "group": "g", "spec": {}, "spec_id": "", "recipe": {}, "seed": 0,
        "epochs": 1, "design": {}, "meta": {}, "flops": 1, "params": 1, "acts": 1,
        "status": "completed", "attempts": 1, "error": None, "lease_owner": None,
        "precision": None, "metrics": None, "history": [],
    }  # fmt: skip
    return Trial(**{**defaults, **fields})


def spec_trial(trial_id, group, spec, design, *, error, status="completed", epochs=2, meta=None):
    """A trial of `spec` with complexity counted and, when completed, metrics for `error`."""
    c = count(spec)
    metrics = None
    if status == "completed":
        metrics = {
            "top1": 100.0 - error,
            "error": error,
            "loss": 1.0,
            "wall_s": 3.0,
            "images_per_s": 2e9 / c.flops,
            "epochs_run": epochs,
        }
    return trial_record(
        trial_id=trial_id,
        group=group,
        spec_id=spec_id(spec),
        spec=to_dict(spec),
        design=design,
        flops=c.flops,
        params=c.params,
        acts=c.acts,
        epochs=epochs,
        status=status,
        metrics=metrics,
        history=[{"epoch": 0, "top1": 50.0, "loss": 2.0, "lr": 0.1}],
        meta=meta or {},
    )


def _anynet(rng: np.random.Generator, shared: bool):
    depths = sorted(rng.integers(1, 4, 4)) if shared else list(rng.integers(1, 4, 4))
    widths = sorted(8 * rng.integers(1, 9, 4)) if shared else list(8 * rng.integers(1, 9, 4))
    spec = anynet(
        [int(d) for d in depths],
        [int(w) for w in widths],
        stem_width=8,
        stem_stride=1,
        resolution=16,
        num_classes=10,
    )
    design = {f"d{i + 1}": int(d) for i, d in enumerate(depths)}
    design |= {f"w{i + 1}": int(w) for i, w in enumerate(widths)}
    return spec, design


def design_space_trials(n: int, *, statuses=("completed",), seed: int = 0) -> list[Trial]:
    """Two spaces; anynet_xe is 4 points better at equal complexity; statuses cycle."""
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(2 * n):
        group = ("anynet_xa", "anynet_xe")[i % 2]
        spec, design = _anynet(rng, shared=group == "anynet_xe")
        flops = count(spec).flops
        error = 40 - 3 * math.log10(flops) - 4 * (group == "anynet_xe") + rng.normal(0, 0.5)
        status = statuses[i % len(statuses)]
        trials.append(spec_trial(i, group, spec, design, error=error, status=status))
    return trials


def scaling_trials(*, statuses=("completed",)) -> list[Trial]:
    """As the scaling planner: the base, then depth and width at 2x and 4x FLOPs; the
    design's multiplier is the measured FLOPs ratio, near the nominal one, never equal."""
    base = ([1, 1, 2, 1], [16, 32, 64, 128])
    rules = {"base": (1, 1), "depth": (2, 1), "width": (1, 1.41)}
    points = [("base", 1)] + [(r, m) for r in ("depth", "width") for m in (2, 4)]
    base_flops = None
    trials = []
    for rule, mult in points:
        d, w = (x ** math.log2(mult) for x in rules[rule])
        spec = anynet(
            [math.ceil(v * d) for v in base[0]],
            [8 * round(v * w / 8) for v in base[1]],
            stem_width=8,
            stem_stride=1,
            resolution=16,
            num_classes=10,
        )
        base_flops = base_flops or count(spec).flops
        measured = mult * {"base": 1.0, "depth": 1.03, "width": 0.98}[rule]  # within 5%
        for seed in range(3):
            error = 20 * mult ** (-0.3 if rule == "depth" else -0.2) + 0.05 * seed
            meta = {"rule": rule, "multiplier": measured, "epochs_budget": 2}
            design = {"multiplier": round(measured, 4), "coefficient": float(mult)}
            status = statuses[len(trials) % len(statuses)]
            trial = spec_trial(len(trials), rule, spec, design, error=error, status=status,
                               meta=meta)  # fmt: skip
            trials.append(dataclasses.replace(trial, flops=round(base_flops * measured)))
    return trials


def compound_trials() -> list[Trial]:
    """The base and two candidates, three seeds each; the first candidate is best."""
    trials = []
    for i, (label, err) in enumerate(
        (("base", 14.0), ("a=1.2,b=1.1,g=1.15", 10.0), ("a=1.4,b=1.0,g=1.2", 11.0))
    ):
        for seed in range(3):
            spec, _ = _anynet(np.random.default_rng(i), shared=True)
            design = {"phi": 0.0} if label == "base" else {"alpha": 1.2 + 0.2 * i, "phi": 1.0}
            trials.append(spec_trial(len(trials), label, spec, design, error=err + 0.1 * seed))
    return trials


LADDER = [("baseline", 70.0), ("cosine", 71.0), ("ema", 71.2), ("randaugment", 73.0)]


def ablation_trials(*, pending_last: bool = False) -> list[Trial]:
    """Four ladder steps, two seeds each; randaugment gains most; the last step pending."""
    spec, _ = _anynet(np.random.default_rng(0), shared=True)
    trials = []
    for step, (name, top1) in enumerate(LADDER):
        for seed in range(2):
            status = "pending" if pending_last and step == len(LADDER) - 1 else "completed"
            error = 100 - (top1 + 0.2 * seed)
            meta = {"step": step, "name": name}
            trials.append(spec_trial(len(trials), name, spec, {"step": step}, error=error,
                                     status=status, meta=meta))  # fmt: skip
    return trials


RUNTIME_SETTINGS = {"device": "cpu", "batch": 64, "resolution": 16, "mode": "infer",
                    "precision": "fp32", "channels_last": True, "compile": False, "warmup": 3,
                    "iters": 10}  # fmt: skip


def runtime_trials(n: int = 8, *, noise: float = 0.02, seed: int = 0) -> list[Trial]:
    """Profile trials as the runtime_correlation planner and the runner make them: the
    runtime (ms per batch) is linear in activations, with `noise` relative scatter."""
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(n):
        spec, design = _anynet(rng, shared=False)
        c = count(spec)
        runtime = (2e-4 * c.acts + 0.5) * (1 + noise * rng.normal())
        metrics = {"runtime_ms": runtime, "runtime_p95_ms": 1.1 * runtime,
                   "images_per_s": 64e3 / runtime, "threads": 2, "device": "cpu",
                   "device_name": "test cpu", "peak_memory_bytes": 10**6, "steps": 10}  # fmt: skip
        trials.append(trial_record(
            trial_id=i, kind="profile", group="anynet_xa", spec=to_dict(spec),
            spec_id=spec_id(spec), recipe=dict(RUNTIME_SETTINGS), epochs=0, design=design,
            flops=c.flops, params=c.params, acts=c.acts, precision="fp32", metrics=metrics,
        ))  # fmt: skip
    return trials


def study_record(planner: str, trials) -> dict:
    """The study record the ledger holds (`Store.study()`)."""
    return {
        "name": f"test-{planner}",
        "planner": planner,
        "config": {},
        "created": "2025-01-01T00:00:00",
        "planned": len(trials),
    }


def search_trials(n: int = 6) -> list[Trial]:
    """Search trials as the training_aware planner plans them (digits, 8 px) and the runner
    completes them: top-1 grows with params, the step time with multiply-adds."""
    from netscale.study.planners import DataShape, plan

    from .conftest import search_config

    plans = plan(search_config(section={"samples": n}), DataShape(num_classes=10, in_width=1))
    trials = []
    for i, p in enumerate(plans):
        top1 = 80.0 + 4 * math.log10(p.params / 1e3)
        metrics = {"top1": top1, "error": 100 - top1, "step_ms": 1 + p.flops / 1e5,
                   "step_p95_ms": 2 + p.flops / 1e5, "step_batch": 16, "step_precision": "fp32",
                   "device": "cpu", "device_name": "test cpu", "threads": 1}  # fmt: skip
        trials.append(trial_record(trial_id=i, **dataclasses.asdict(p), precision="fp32",
                                   metrics=metrics))  # fmt: skip
    return trials
