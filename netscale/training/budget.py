"""Training to a time budget (`netscale train --budget 15m`, `train(budget=...)`, a study's
`budget:`): the budget is converted into optimizer steps once, on a fresh run, and recorded.

Conversion, after set-up and before the first epoch: `step_time.measure` times a training
step, an epoch's evaluation and a checkpoint write on copies (the run's state and random
streams are left as they were), and the run gets the most steps S with

    overhead + S x step_s + ceil(S / steps_per_epoch) x (eval_s + save_s) <= budget

(overhead: the set-up since `train` started plus the measuring). The recipe is then fitted
to S steps (`schedule.fit_to_steps`): epochs = ceil(S / steps per epoch) with the last one
stopping at step S, the learning-rate schedule ending at step S, every epoch-valued field
(warmup_epochs, decay_epochs) and the EMA's horizon keeping its share of the run, and the
progressive stages splitting the new epochs. recipe.json is rewritten to the fitted recipe;
budget.json (and every checkpoint) records S with the numbers it came from.

A resumed run reads S back from budget.json and never measures again, so it ends exactly as
an uninterrupted run with that S. A budget other than the recorded one (none on either side
included) is refused: a resume continues the same command.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from netscale.profiling.device import device_name
from netscale.training import rundir
from netscale.training.checkpoint import latest_checkpoint
from netscale.training.duration import format_duration
from netscale.training.recipe import recipe_to_dict
from netscale.training.run import Run
from netscale.training.schedule import fit_to_steps, progressive_stages
from netscale.training.step_time import Measurement, measure

BUDGET_FILE = "budget.json"
_KEYS = ("budget_s", "steps", "step_s", "eval_s", "save_s", "overhead_s", "recipe_steps")


def steps_within(available: float, step_s: float, epoch_s: float, per_epoch: int) -> int:
    """The most steps S with S x step_s + ceil(S / per_epoch) x epoch_s <= `available`
    seconds (0 when not even one fits; epoch_s: the fixed cost of an epoch). E epochs fit
    S > (E - 1) x per_epoch steps exactly when
    E <= (available + (per_epoch - 1) x step_s) / (epoch_s + per_epoch x step_s)."""
    step_s = max(step_s, 1e-9)
    epochs = math.floor((available + (per_epoch - 1) * step_s) / (epoch_s + per_epoch * step_s))
    while epochs > 0:  # one pass, unless rounding put the bound a hair too high
        steps = min(epochs * per_epoch, math.floor((available - epochs * epoch_s) / step_s))
        if steps > (epochs - 1) * per_epoch:
            return steps
        epochs -= 1
    return 0


def resume_recorded(run: Run, budget_s: float | None, resume: bool) -> None:
    """Before `Run.open`: a run resumed from a checkpoint takes the conversion its
    budget.json records (the recipe fitted to the recorded steps, so the resume checks
    compare like with like); a budget other than the recorded one is a ValueError."""
    out = run.out
    if not resume or out is None or not out.is_dir():
        return
    if latest_checkpoint(out / "checkpoints") is None:  # a fresh start: nothing recorded
        return
    record = read_record(out)
    recorded = None if record is None else record["budget_s"]
    if recorded != budget_s:
        raise ValueError(_mismatch(out, recorded, budget_s, record))
    if record is None:
        return
    own = run.recipe.steps or run.recipe.epochs * run.steps_per_epoch()
    if own != record["recipe_steps"]:
        raise ValueError(
            f"cannot resume {str(out)!r}: its budget was fitted to a recipe of "
            f"{record['recipe_steps']} steps, this recipe has {own} (epochs x steps per "
            "epoch): resume with the same recipe and epochs"
        )
    _apply(run, record, resumed=True)


def _mismatch(out: Path, recorded: float | None, given: float | None, record: Any) -> str:
    where = f"cannot resume {str(out)!r}"
    if recorded is None:
        return (
            f"{where} with budget={format_duration(given or 0)}: it was trained without a "
            "time budget; resume it without --budget, or choose another --out"
        )
    text = f"budget={format_duration(given)}" if given is not None else "no budget"
    return (
        f"{where} with {text}: it trains to budget={format_duration(recorded)} "
        f"({record['steps']} steps, recorded in {BUDGET_FILE}); resume it with --budget "
        f"{format_duration(recorded)}, or choose another --out"
    )


def convert(run: Run, budget_s: float, started: float) -> None:
    """After `Run.open` of a fresh run: the main rank measures (`started`: perf_counter()
    at the start of `train`) and converts; every rank fits the run to the steps; the main
    rank rewrites recipe.json and writes budget.json. A budget too short for one step is a
    ValueError on every rank."""
    record: dict[str, Any] | str | None = None
    if run.ranks.main:
        try:
            record = _record(run, budget_s, measure(run, started))
        except ValueError as err:
            record = str(err)
    record = run.ranks.broadcast(record)
    if isinstance(record, str):
        raise ValueError(record)
    _apply(run, record, resumed=False)
    if run.ranks.main and run.out is not None:
        rundir.write_json(run.out / "recipe.json", recipe_to_dict(run.recipe))
        rundir.write_json(run.out / BUDGET_FILE, record)


def _record(run: Run, budget_s: float, m: Measurement) -> dict[str, Any]:
    """budget.json: the steps the budget holds and what they were computed from."""
    per_epoch = run.steps_per_epoch()
    epoch_s = m.eval_s + m.save_s
    steps = steps_within(budget_s - m.overhead_s, m.step_s, epoch_s, per_epoch)
    if steps < 1:
        raise ValueError(
            f"budget={format_duration(budget_s)} is too short: set-up and measuring took "
            f"{m.overhead_s:.1f} s, a step takes {m.step_s:.3g} s and an epoch's evaluation "
            f"and checkpoint {epoch_s:.3g} s, so one step needs at least "
            f"{m.overhead_s + m.step_s + epoch_s:.1f} s; give a longer --budget"
        )
    own = run.recipe.steps or run.recipe.epochs * per_epoch
    return {
        "budget": format_duration(budget_s),
        "budget_s": budget_s,
        "steps": steps,
        "epochs": math.ceil(steps / per_epoch),
        "steps_per_epoch": per_epoch,
        "step_s": m.step_s,
        "eval_s": m.eval_s,
        "save_s": m.save_s,
        "overhead_s": m.overhead_s,
        "recipe_steps": own,
        "scale": steps / own,
        "device": str(run.device),
        "device_name": device_name(run.device),
        "precision": run.precision,
        "world_size": run.ranks.world,
    }


def _apply(run: Run, record: dict[str, Any], *, resumed: bool) -> None:
    """Fit the run's recipe and progressive stages to the recorded steps."""
    run.recipe = fit_to_steps(run.recipe, record["steps"], run.steps_per_epoch())
    run.stages = progressive_stages(run.recipe, run.spec.resolution, run.spec.head.dropout_rate)
    run.budget = record
    how = (
        f"as recorded in {BUDGET_FILE}"
        if resumed
        else f"{record['step_s']:.4g} s per step, {record['eval_s'] + record['save_s']:.3g} s "
        f"per evaluation and checkpoint, {record['overhead_s']:.1f} s of set-up and measuring "
        f"on {record['device']}"
    )
    last = record["steps"] - (record["epochs"] - 1) * record["steps_per_epoch"]
    run.notes.append(
        f"budget {record['budget']}: {record['steps']:,} steps ({how}): {record['epochs']} "
        f"epochs of {record['steps_per_epoch']} steps, the last of {last}; the schedule ends "
        "at the last step"
    )


def read_record(out: Path) -> dict[str, Any] | None:
    """The budget.json of run directory `out` (None without one); a damaged file is a
    ValueError naming it."""
    path = out / BUDGET_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} cannot be read ({err})") from None
    if not isinstance(record, dict) or any(k not in record for k in _KEYS):
        raise ValueError(f"{path} is not a budget record (it needs {', '.join(_KEYS)})")
    return record
