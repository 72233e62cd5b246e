"""The run directory: created for a new run, checked for a resumed one, written as it goes.

RUN_DIR holds spec.yaml, recipe.json, data.json, env.json (versions, device, git commit and
the chosen precision with its reason), metrics.jsonl (one line per epoch), checkpoints/,
result.json, with TensorBoard on tensorboard/, and with a time budget budget.json (the
steps it was converted to: budget.py). Files are written by rank 0 only.

What a rerun of the same command finds, and does (issue 11, "run directories that survive
a crash"):
- a checkpoint: `resume` continues from it, after checking that the spec, recipe and data
  are the recorded ones (a mismatch is a one-line error naming what differs); without
  `resume` the directory is refused (its trained weights are never overwritten);
- a run that stopped before its first checkpoint (killed, or failed after creating the
  directory): it is started again from epoch 0, with or without `resume`; nothing trained
  is lost, since nothing was saved;
- anything else in a non-empty directory: refused, nothing is touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from netscale.spec import NetSpec, SpecError, load, save, to_dict
from netscale.spec.io import atomic_write, differences, json_text
from netscale.training.checkpoint import clean_partial, latest_checkpoint
from netscale.training.pseudo import RESUME_KEYS, describe
from netscale.training.recipe import Recipe, RecipeError, recipe_from_dict, recipe_to_dict

# What a run writes before its first checkpoint: a directory holding only these is a run
# that stopped early, safe to start again.
RUN_FILES = ("spec.yaml", "recipe.json", "data.json", "env.json", "metrics.jsonl")
RUN_FILES += ("result.json", "tensorboard", "checkpoints", "budget.json")


def write_json(path: Path, data: Any) -> None:
    """`data` as indented JSON (non-finite floats as null), written atomically."""
    atomic_write(path, json_text(data, indent=2) + "\n")


def write_metrics(out: Path, metrics: list[dict[str, Any]]) -> None:
    """metrics.jsonl: one JSON line per epoch, replaced atomically."""
    lines = (json_text(m) + "\n" for m in metrics)
    atomic_write(out / "metrics.jsonl", "".join(lines))


def read_metrics(out: Path, *, upto_epoch: int) -> list[dict[str, Any]]:
    """metrics.jsonl lines of epochs <= `upto_epoch`, [] if absent; a damaged line is a
    ValueError naming the file and line."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    lines = []
    for i, text in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        try:
            line = json.loads(text)
            epoch = line["epoch"]
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} line {i} is not a metrics line ({err})") from None
        if epoch <= upto_epoch:
            lines.append(line)
    return lines


def prepare(
    out: Path, *, spec: NetSpec, recipe: Recipe, data_info: dict[str, Any], resume: bool
) -> str | None:
    """Make `out` ready for this run (see the module docstring). Returns None to resume the
    checkpoint in `out`, else a note for the user (empty when the directory was new):
    the run starts at epoch 0. Raises FileExistsError / ValueError otherwise."""
    ckpt = latest_checkpoint(out / "checkpoints") if out.is_dir() else None
    if ckpt is not None:
        if not resume:
            raise FileExistsError(
                f"run directory {str(out)!r} holds a run with a checkpoint ({ckpt.name}); "
                "pass resume=True (--resume) to continue it, or choose another --out"
            )
        check_same_run(out, spec=spec, recipe=recipe, data_info=data_info)
        clean_partial(out / "checkpoints")
        return None
    note = ""
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"--out {str(out)!r} is a file, not a directory")
        entries = sorted(p.name for p in out.iterdir())
        if entries and not set(entries) <= set(RUN_FILES):
            raise FileExistsError(
                f"run directory {str(out)!r} is not empty and holds no netscale run "
                f"(found {', '.join(e for e in entries if e not in RUN_FILES)[:200]}); "
                "choose another --out"
            )
        if entries:
            note = f"{out} held a run that stopped before its first checkpoint: starting it again"
        for name in entries:
            _remove(out / name)
    out.mkdir(parents=True, exist_ok=True)
    save(spec, out / "spec.yaml")
    write_json(out / "recipe.json", recipe_to_dict(recipe))
    write_json(out / "data.json", data_info)
    return note


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def check_same_run(out: Path, *, spec: NetSpec, recipe: Recipe, data_info: dict[str, Any]) -> None:
    """ValueError naming what differs when `out` was recorded with another spec, recipe or
    data (a resume must continue the same run, not silently train another)."""
    try:
        saved_spec = to_dict(load(out / "spec.yaml"))
        # Fields added to Recipe after the run started take their defaults.
        saved_recipe = recipe_to_dict(recipe_from_dict(_read_json(out / "recipe.json")))
        saved_data = _read_json(out / "data.json")
    except (SpecError, RecipeError, FileNotFoundError) as err:
        raise ValueError(f"cannot resume {str(out)!r}: {err}") from None
    _check_same_pseudo(out, saved_data.get("pseudo"), data_info.get("pseudo"))
    checks = (
        ("spec", saved_spec, to_dict(spec), "spec.yaml"),
        ("recipe", saved_recipe, recipe_to_dict(recipe), "recipe.json"),
        ("data", _less_pseudo(saved_data), _less_pseudo(data_info), "data.json"),
    )
    for what, saved, current, file in checks:
        diff = differences(saved, current, only_common=what == "data")
        if diff:
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diff[:4])
            more = f" (and {len(diff) - 4} more)" if len(diff) > 4 else ""
            raise ValueError(
                f"cannot resume {str(out)!r} with another {what} ({shown}{more}); the run's "
                f"{what} is in {file}: resume with the same model, data, seed and recipe, "
                "or choose another --out"
            )


def _check_same_pseudo(out: Path, saved: Any, current: Any) -> None:
    """A run trained with pseudo-labels resumes with the same labels file (by its sha256),
    ratio and target kind; one trained without them resumes without them."""

    def key(info: Any) -> tuple[Any, ...] | None:
        return tuple(info.get(k) for k in RESUME_KEYS) if info else None

    if key(saved) != key(current):
        raise ValueError(
            f"cannot resume {str(out)!r} with {describe(current)}: the run trained with "
            f"{describe(saved)} (data.json); resume with the same --pseudo file, "
            "--pseudo-ratio and --pseudo-targets, or choose another --out"
        )


def _less_pseudo(info: dict[str, Any]) -> dict[str, Any]:
    """data.json less its pseudo record (checked on its own: the file may have moved)."""
    return {k: v for k, v in info.items() if k != "pseudo"}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} cannot be read ({err})") from None
