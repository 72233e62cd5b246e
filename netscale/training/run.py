"""A run: one object that owns everything a training run holds between steps.

`Run.create` sets it up (data, the fitted spec, model, EMA, optimizer, progressive stages)
on a device for the ranks of this process; `Run.open` makes its directory ready (new,
restarted or resumed: rundir.py), restores the checkpoint and settles the precision;
`Run.save` and `Run.restore` read and write the checkpoint, side by side, so its format
is spelled in one place. The epoch loop (loop.py, epoch.py) reads and advances it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netscale.build import build
from netscale.build.whiten import init_whitening
from netscale.data import DataSplits, load_data, steps_per_epoch
from netscale.data.steps import default_workers
from netscale.data.stream import StreamSplits
from netscale.spec import NetSpec
from netscale.spec.io import json_text
from netscale.training import rundir
from netscale.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from netscale.training.distributed import Ranks
from netscale.training.env import environment
from netscale.training.lookahead import Lookahead
from netscale.training.model_recipe import FitRequest, spec_and_recipe
from netscale.training.optim import NORM_LAYERS, build_optimizer
from netscale.training.precision import PrecisionChoice, choose_precision
from netscale.training.pseudo import Pseudo, PseudoOptions, load_pseudo
from netscale.training.recipe import Recipe, recipe_to_dict
from netscale.training.schedule import Stage, check_steps, progressive_stages
from netscale.training.setup import check_fits, fingerprint, place_data, whitening_images


@dataclass
class Run:
    """Everything a run in progress holds; `epoch` and `step` count completed ones."""

    spec: NetSpec
    recipe: Recipe
    data: DataSplits | StreamSplits
    model: nn.Module
    ema: nn.Module | None
    optimizer: torch.optim.Optimizer
    device: torch.device
    seed: int
    out: Path | None
    stages: list[Stage]
    ranks: Ranks = field(default_factory=Ranks)
    epoch: int = 0
    step: int = 0
    lr: float = 0.0
    precision: str = "fp32"
    wall_offset: float = 0.0  # wall seconds of earlier segments of a resumed run
    data_info: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said to the user at the start
    workers: int = 0  # decoding processes of a streamed source (results do not depend on it)
    budget: dict[str, Any] | None = None  # a time budget's conversion to steps (budget.py)
    lookahead: Lookahead | None = None  # the slow weights within an epoch (lookahead.py)
    pseudo: Pseudo | None = None  # pseudo-labeled images beside the labeled (pseudo.py)

    @classmethod
    def create(
        cls,
        model: Any,
        data: str | DataSplits | StreamSplits,
        recipe: Recipe,
        out: Path | None,
        *,
        seed: int,
        device: torch.device,
        minival: float,
        ranks: Ranks,
        workers: int | None = None,
        fit: FitRequest | None = None,
        pseudo: PseudoOptions | None = None,
    ) -> Run:
        """Load the data (and the pseudo-labeled images), fit the spec to it, check it fits
        the device, and build the model (same initial weights on every rank; the recipe's
        BatchNorm momentum), its EMA copy and optimizer on `device`. Every check runs
        before the run directory exists."""
        splits = data
        if not isinstance(data, DataSplits | StreamSplits):
            splits = load_data(data, minival=minival, seed=seed)
        if len(splits.test) == 0:
            raise ValueError(
                f"the test split of {splits.test.name!r} is empty: nothing to evaluate"
            )
        spec, recipe, notes = spec_and_recipe(model, splits, recipe, fit)
        per_rank = recipe.batch_size // ranks.world
        extra = load_pseudo(pseudo, splits, per_rank) if pseudo is not None else None
        labeled = per_rank - (extra.per_rank if extra is not None else 0)
        check_steps(recipe, steps_per_epoch(len(splits.train), labeled, ranks.world))
        check_fits(spec, recipe, device, ranks.world)
        torch.manual_seed(seed)  # identical initial weights on every rank
        net = build(spec)
        if spec.stem.kind == "whiten":  # data-dependent, frozen (netscale.build.whiten)
            init_whitening(net, whitening_images(splits, spec.resolution, seed))
        if not recipe.train_norm_weight:
            freeze_norm_weights(net)
        net = net.to(device)
        if recipe.channels_last:
            net = net.to(memory_format=torch.channels_last)
        set_bn_momentum(net, recipe.bn_momentum)  # before the EMA copy: both carry it
        placed = place_data(splits, device)
        info = _data_info(data, splits, minival, seed)
        if extra is not None:
            info["pseudo"] = extra.info
            if (
                isinstance(placed, DataSplits)
                and placed.train.images.device != extra.data.images.device
            ):
                extra = replace(extra, data=extra.data.to(placed.train.images.device))
        return cls(
            spec=spec,
            recipe=recipe,
            data=placed,
            model=net,
            ema=copy.deepcopy(net).eval().requires_grad_(False) if recipe.ema_decay else None,
            optimizer=build_optimizer(net, recipe),
            device=device,
            seed=seed,
            out=out,
            stages=progressive_stages(recipe, spec.resolution, spec.head.dropout_rate),
            ranks=ranks,
            data_info=info,
            notes=notes,
            workers=_workers(workers, splits),
            pseudo=extra,
        )

    def steps_per_epoch(self) -> int:
        """Optimizer steps in an epoch: one pass over the labeled training set, which fills
        each rank's batch less its pseudo-labeled images."""
        per_rank = self.recipe.batch_size // self.ranks.world
        labeled = per_rank - (self.pseudo.per_rank if self.pseudo is not None else 0)
        return steps_per_epoch(len(self.data.train), labeled, self.ranks.world)

    def open(self, resume: bool) -> PrecisionChoice:
        """Make the run directory ready (the main rank), restore the checkpoint when
        resuming one, settle the precision on every rank and record it (env.json of a new
        run). Returns the precision choice."""
        note = None
        if self.ranks.main and self.out is not None:
            note = rundir.prepare(
                self.out,
                spec=self.spec,
                recipe=self.recipe,
                data_info=self.data_info,
                resume=resume,
            )
            if note:
                self.notes.append(note)
        fresh = self.ranks.broadcast(note is not None)  # False: a checkpoint to resume
        self.ranks.barrier()
        saved = self.restore() if resume and not fresh else None
        choice = self.ranks.broadcast(self._precision(saved) if self.ranks.main else None)
        self.precision = choice.precision
        if self.ranks.main and self.out is not None:
            if fresh:
                env = {
                    **environment(self.device),
                    "world_size": self.ranks.world,
                    "precision": choice.to_dict(),
                }
                rundir.write_json(self.out / "env.json", env)
            rundir.write_metrics(self.out, self.metrics)  # drop lines the checkpoint lacks
        return choice

    def _precision(self, saved: str | None) -> PrecisionChoice:
        """The recorded precision of a resumed run, else the rule's choice."""
        if saved is not None:
            return PrecisionChoice(
                requested=self.recipe.precision,
                precision=saved,
                reason="recorded by the resumed run",
            )
        return choose_precision(self.recipe.precision, self.device, self.spec)

    # The checkpoint format: `save` writes, `restore` reads, the same keys.
    def save(self) -> None:
        """The main rank: metrics.jsonl, then this epoch's checkpoint (atomic)."""
        if not self.ranks.main or self.out is None:
            return
        rundir.write_metrics(self.out, self.metrics)
        state = {
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "seed": self.seed,
            "precision": self.precision,
            "recipe": recipe_to_dict(self.recipe),
            "budget": self.budget,  # a time budget's steps, as budget.json records them
            # The epochs' metrics lines travel with the weights: a damaged or emptied
            # metrics.jsonl is rewritten from here on resume.
            "metrics": json_text(self.metrics),
        }
        save_checkpoint(
            self.out / "checkpoints", epoch=self.epoch, model=self.model, ema=self.ema, state=state
        )

    def restore(self) -> str | None:
        """Every rank: load the latest checkpoint (weights, EMA, optimizer, counters, the
        metrics it covers); returns the precision it recorded (None without one)."""
        if self.out is None:
            return None
        ckpt = latest_checkpoint(self.out / "checkpoints")
        if ckpt is None:
            return None
        state = load_checkpoint(ckpt, model=self.model, ema=self.ema)
        if state.get("budget", self.budget) != self.budget:
            raise ValueError(
                f"cannot resume {str(self.out)!r}: its checkpoint {ckpt.name} records the "
                f"budget {state['budget']!r}, budget.json {self.budget!r}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step, self.seed = state["epoch"], state["step"], state["seed"]
        if "metrics" in state:  # the checkpoint's own copy: metrics.jsonl may be damaged
            self.metrics = json.loads(state["metrics"])
        else:  # checkpoints written before the copy existed
            self.metrics = rundir.read_metrics(self.out, upto_epoch=self.epoch)
        if self.metrics:
            self.wall_offset = self.metrics[-1].get("wall_s") or 0.0
        return state.get("precision")


def set_bn_momentum(model: nn.Module, momentum: float | None) -> None:
    """Set the running-statistics momentum of every BatchNorm of `model`, in torch's
    meaning (running = (1 - momentum) * running + momentum * batch; TF's decay 0.99 is
    0.01). None: leave torch's default (0.1)."""
    if momentum is None:
        return
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def freeze_norm_weights(model: nn.Module) -> None:
    """Keep the weight (scale) of every norm layer of `model` at its initial value (recipe
    `train_norm_weight: false`, as airbench's BatchNorms); ValueError when one starts at
    zero (a zero-initialized residual branch would stay off for good)."""
    for m in model.modules():
        weight = getattr(m, "weight", None) if isinstance(m, NORM_LAYERS) else None
        if weight is None:
            continue
        if not bool(weight.detach().abs().sum()):
            raise ValueError(
                "train_norm_weight=false freezes norm weights at their initial values, but "
                "this spec starts residual norms at zero (zero_init_residual: true), which "
                "would switch those branches off for good: set zero_init_residual: false "
                "in the spec, or train_norm_weight: true"
            )
        weight.requires_grad_(False)


def _workers(workers: int | None, splits: DataSplits | StreamSplits) -> int:
    """Decoding processes: none for data in memory; `workers` (>= 0) or one per CPU."""
    if not isinstance(splits, StreamSplits):
        return 0
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers={workers!r} is invalid; allowed: an int >= 0 (0: no workers)")
    return workers


def _data_info(
    data: str | DataSplits | StreamSplits,
    splits: DataSplits | StreamSplits,
    minival: float,
    seed: int,
) -> dict[str, Any]:
    """data.json: the source, the split and a fingerprint a resume is checked against."""
    return {
        "source": data if isinstance(data, str) else splits.train.name,
        "minival": minival,
        "seed": seed,
        "train_images": len(splits.train),
        "test_images": len(splits.test),
        "skipped_images": splits.skipped,
        "fingerprint": fingerprint(splits),
        # what inputs are normalized with and the classes: predict.py reads them back
        "mean": list(splits.mean),
        "std": list(splits.std),
        "class_names": list(splits.class_names),
    }
