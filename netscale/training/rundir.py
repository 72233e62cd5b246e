"""The run directory: created for a new run, checked for a resumed one, written as it goes.

RUN_DIR holds spec.yaml, recipe.json, data.json, env.json (versions, device, git commit and
the chosen precision with its measurements), metrics.jsonl (one line per epoch),
checkpoints/, result.json and, with TensorBoard on, tensorboard/. Files are written by
rank 0 only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from netscale.spec import NetSpec, save
from netscale.spec.io import atomic_write_text
from netscale.training.checkpoint import latest_checkpoint
from netscale.training.recipe import Recipe, recipe_from_dict, recipe_to_dict


def write_json(path: Path, data: Any) -> None:
    """`data` as indented JSON, written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def write_metrics(out: Path, metrics: list[dict[str, Any]]) -> None:
    """metrics.jsonl: one JSON line per epoch, replaced atomically."""
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))


def read_metrics(out: Path, *, upto_epoch: int) -> list[dict[str, Any]]:
    """metrics.jsonl lines of epochs <= `upto_epoch` (a checkpoint's), [] if absent."""
    path = out / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [m for m in map(json.loads, lines) if m["epoch"] <= upto_epoch]


def prepare(
    out: Path, *, spec: NetSpec, recipe: Recipe, data_info: dict[str, Any], resume: bool
) -> bool:
    """Create the directory of a new run (True), or check that the run in `out` can be
    resumed with `recipe` (False). Raises FileExistsError / ValueError otherwise."""
    ckpt = latest_checkpoint(out / "checkpoints") if resume else None
    if ckpt is None:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(
                f"run directory {str(out)!r} is not empty and holds no "
                "checkpoint to resume; choose another --out"
                if resume
                else f"run directory {str(out)!r} is not empty; pass resume=True "
                "(--resume) to continue it, or choose another --out"
            )
        out.mkdir(parents=True, exist_ok=True)
        save(spec, out / "spec.yaml")
        write_json(out / "recipe.json", recipe_to_dict(recipe))
        write_json(out / "data.json", data_info)
        return True
    # Fields added to Recipe after the run started take their defaults.
    saved = recipe_to_dict(recipe_from_dict(json.loads((out / "recipe.json").read_text())))
    current = recipe_to_dict(recipe)
    if saved != current:
        diff = sorted(k for k in saved if saved[k] != current[k])
        raise ValueError(
            f"cannot resume {str(out)!r} with a different recipe (fields "
            f"{', '.join(diff)} differ); the run's recipe is in recipe.json"
        )
    return False
