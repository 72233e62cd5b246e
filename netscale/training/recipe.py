"""Training recipes as data: a validated frozen dataclass, loaded from the YAML files shipped
in netscale/training/recipes/ or from a user's file, with field overrides. No torch."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from netscale.spec.io import check_keys, load_yaml_mapping

OPTIMIZERS = ("sgd", "rmsprop", "adamw")
SCHEDULES = ("cosine", "linear", "exponential", "step", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
PROGRESSIVE = ("none", "paper", "code")
CROPS = ("pad", "resized")
RANDAUG_OPS = ("tf", "timm")


class RecipeError(ValueError):
    """A recipe field or override holds a value that is not allowed (the message names it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """Everything that defines how a model is trained, in stated units.

    lr is the peak learning rate for `lr_batch` images per step; the trainer scales it
    linearly to the real global batch (Goyal et al. 2017), as every recipe here does.
    Epoch counts may be fractional for warmup and decay. Rates are probabilities.
    """

    name: str = "custom"
    source: str = ""
    epochs: int = 10
    # optimizer steps in all: the last epoch stops there and the schedule ends there (a time
    # budget sets it, with epochs = ceil(steps / steps per epoch)); None: every epoch whole
    steps: int | None = None
    batch_size: int = 128  # global images per step
    optimizer: str = "sgd"
    lr: float = 0.1
    lr_batch: int = 128
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    no_decay_norm_bias: bool = True  # no weight decay on norm parameters and biases
    # learning rate of norm-layer parameters / the others; their weight decay is divided by
    # it, so the decay per step (lr x wd) stays the others' (airbench's bias_scaler: 64)
    norm_lr_scale: float = 1.0
    train_norm_weight: bool = True  # false: norm weights stay at their initial 1 (airbench)
    rmsprop_decay: float = 0.9
    rmsprop_eps: float = 1e-3  # TF-style epsilon, added inside the square root's sum
    schedule: str = "cosine"
    decay_rate: float = 0.97  # exponential schedule: lr *= decay_rate every decay_epochs
    decay_epochs: float = 2.4
    # step schedule: lr *= decay_rate at each of these fractions of the epochs (ResNet's
    # 30, 60, 80 of 90 epochs)
    decay_milestones: tuple[float, ...] = (1 / 3, 2 / 3, 8 / 9)
    warmup_epochs: float = 0.0
    warmup_start_ratio: float = 0.0  # warmup starts at this fraction of the peak
    min_lr_ratio: float = 0.0  # cosine / linear end as a fraction of the peak
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # per step; 0 = no EMA
    # Lookahead (Zhang et al. 2019) as airbench applies it: every `lookahead_every` steps
    # from `lookahead_start_epochs` on, slow = lerp(slow, fast, 1 - rho) and fast = slow,
    # rho = lookahead_decay ** every * (step / steps) ** lookahead_power; at each epoch's
    # end the model takes the slow weights. 0 = off.
    lookahead_every: int = 0
    lookahead_decay: float = 0.95
    lookahead_power: float = 3.0
    lookahead_start_epochs: float = 0.0
    dropout_rate: float | None = None  # None: the model spec's own
    drop_path_rate: float | None = None
    grad_clip: float = 0.0  # max global grad norm; 0 = off
    crop: str = "pad"  # "pad": crop_padding crop; "resized": Inception random-resized crop
    crop_padding: int = 0  # "pad": random-crop padding, pixels (0 = no crop)
    crop_min_scale: float = 0.08  # "resized": smallest area fraction (Inception: 0.08)
    flip: bool = False
    randaug_layers: int = 0
    randaug_magnitude: float = 0.0
    randaug_ops: str = "tf"  # op set and magnitude scale (RANDAUG_OPS; data/randaugment.py)
    randaug_magnitude_std: float = 0.0  # per-op Gaussian noise on the magnitude (timm mstd)
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    random_erasing: float = 0.0  # probability per image (Zhong et al. 2020)
    resolution: int | None = None  # train resolution in pixels; None: the data's
    eval_resolution: int | None = None
    eval_crop_fraction: float = 1.0  # evaluate the central square of this share of the
    # shorter side, resized to eval_resolution (ImageNet practice: 0.875, 224 of 256)
    progressive: str = "none"  # EfficientNetV2 sec. 4.2 presets: "paper" or "code"
    progressive_stages: int = 4
    min_resolution: int | None = None  # progressive: first-stage image size (pixels)
    min_randaug_magnitude: float = 5.0
    min_mixup_alpha: float = 0.0
    min_dropout_rate: float = 0.1
    precision: str = "auto"  # "auto": a fixed rule of device and spec (docs/precision.md)
    channels_last: bool = True
    bn_momentum: float | None = None  # torch's meaning (TF's decay 0.99 is 0.01); None: 0.1
    bn_eps: float | None = None  # None: the model spec's norm_eps
    ema_warmup: bool = False  # EMA decay min(ema_decay, (1 + t) / (10 + t)) at step t
    compile: bool = False
    sync_bn: bool = False  # SyncBatchNorm across ranks (CUDA only; no-op for one process)
    eval_batch_size: int = 512
    eval_flip: bool = False  # also report top-1 of logits averaged with the mirrored image
    # with eval_flip: after the last epoch, also report the top-1 of airbench's 6-view TTA,
    # the flip views of the image (weight 1/2) and of it shifted by this many pixels
    # up-left and down-right (1/4 each); 0 = off
    eval_translate: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.decay_milestones, list):  # as read back from JSON or YAML
            object.__setattr__(self, "decay_milestones", tuple(self.decay_milestones))
        for f in dataclasses.fields(self):
            _check_field(f, getattr(self, f.name))
        _milestones(self.decay_milestones)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("progressive", self.progressive, PROGRESSIVE)
        _choice("crop", self.crop, CROPS)
        _choice("randaug_ops", self.randaug_ops, RANDAUG_OPS)
        for name in ("bn_momentum", "bn_eps"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value < 1.0:
                raise RecipeError(f"{name}={value!r} is invalid: must lie in (0, 1), or null")
        for name in ("crop_min_scale", "eval_crop_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise RecipeError(f"{name}={getattr(self, name)!r} is invalid: must lie in (0, 1]")
        if not 0.0 <= self.random_erasing <= 1.0:
            raise RecipeError(
                f"random_erasing={self.random_erasing!r} is invalid: a probability in [0, 1]"
            )
        for name in ("epochs", "batch_size", "lr_batch", "progressive_stages", "eval_batch_size"):
            _positive(name, getattr(self, name))
        for name in ("dropout_rate", "drop_path_rate", "label_smoothing", "min_dropout_rate"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise RecipeError(f"{name}={value!r} is invalid: a probability in [0, 1)")
        for name in (
            "ema_decay",
            "momentum",
            "rmsprop_decay",
            "min_lr_ratio",
            "warmup_start_ratio",
            "lookahead_decay",
        ):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise RecipeError(f"{name}={getattr(self, name)!r} is invalid: must lie in [0, 1)")
        for name in ("lr", "decay_rate", "decay_epochs", "norm_lr_scale"):
            if not getattr(self, name) > 0:
                raise RecipeError(f"{name}={getattr(self, name)!r} is invalid: must be > 0")
        for name in (
            "weight_decay",
            "warmup_epochs",
            "grad_clip",
            "randaug_magnitude",
            "mixup_alpha",
            "cutmix_alpha",
            "crop_padding",
            "randaug_layers",
            "randaug_magnitude_std",
            "lookahead_every",
            "lookahead_power",
            "lookahead_start_epochs",
            "eval_translate",
        ):
            if getattr(self, name) < 0:
                raise RecipeError(f"{name}={getattr(self, name)!r} is invalid: must be >= 0")
        if self.eval_translate and not self.eval_flip:
            raise RecipeError(
                f"eval_translate={self.eval_translate} needs eval_flip: true (its views are "
                "the flip views of the shifted images)"
            )
        if self.steps is not None and self.steps < 1:
            raise RecipeError(f"steps={self.steps!r} is invalid: must be >= 1, or null")
        for name in ("resolution", "eval_resolution", "min_resolution"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise RecipeError(f"{name}={value!r} is invalid: pixels >= 1, or null")

    def scaled_lr(self) -> float:
        """Peak learning rate for this recipe's global batch (linear scaling rule)."""
        return self.lr * self.batch_size / self.lr_batch


def _check_field(f: dataclasses.Field, value: Any) -> None:
    """Type check against the annotation (a string under `from __future__ import annotations`)."""
    allowed = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}
    kind, optional = f.type.replace(" | None", ""), f.type.endswith("| None")
    if kind.startswith("tuple["):
        if not isinstance(value, tuple):
            raise RecipeError(f"{f.name}={value!r} is invalid: expected a list of numbers")
        return
    if value is None and optional:
        return
    ok = isinstance(value, allowed[kind]) and (kind == "bool" or not isinstance(value, bool))
    if not ok:
        shown = kind + (" or null" if optional else "")
        raise RecipeError(f"{f.name}={value!r} is invalid: expected {shown}")
    if kind == "float" and not math.isfinite(value):
        raise RecipeError(f"{f.name}={value!r} is invalid: must be a finite number")


def _milestones(value: tuple[float, ...]) -> None:
    """decay_milestones: increasing fractions of the epochs, each in (0, 1)."""
    ok = all(
        isinstance(m, int | float) and not isinstance(m, bool) and 0.0 < m < 1.0 for m in value
    )
    if not ok or list(value) != sorted(set(value)):
        raise RecipeError(
            f"decay_milestones={list(value)!r} is invalid: increasing fractions of the "
            "epochs, each in (0, 1), e.g. [0.3333, 0.6667, 0.8889]"
        )


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise RecipeError(f"{name}={value!r} is invalid; allowed: {', '.join(allowed)}")


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise RecipeError(f"{name}={value!r} is invalid: must be >= 1")


def recipe_names() -> list[str]:
    """Names of the recipes shipped with netscale."""
    folder = resources.files("netscale.training") / "recipes"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def recipe_from_dict(data: dict[str, Any], **overrides: Any) -> Recipe:
    """A validated recipe from plain data plus overrides; unknown keys are an error."""
    if not isinstance(data, dict):
        raise RecipeError(f"a recipe must be a mapping of field names to values, got {data!r}")
    fields = sorted(f.name for f in dataclasses.fields(Recipe))
    merged = {**data, **overrides}
    check_keys(merged, fields, error=RecipeError, what="recipe key")
    return Recipe(**merged)


def load_recipe(name_or_path: str | os.PathLike[str] | Recipe, **overrides: Any) -> Recipe:
    """A shipped recipe by name, a recipe YAML file, or a Recipe, with field overrides."""
    if isinstance(name_or_path, Recipe):
        return dataclasses.replace(name_or_path, **overrides) if overrides else name_or_path
    return _from_file(recipe_path(name_or_path), overrides)


def recipe_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The YAML file of a shipped recipe name or a recipe file path."""
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"recipe file {text!r} does not exist")
        return path
    if text in recipe_names():
        return Path(str(resources.files("netscale.training") / "recipes" / f"{text}.yaml"))
    raise RecipeError(
        f"unknown recipe {text!r}; allowed: {', '.join(recipe_names())}, or a .yaml file"
    )


def recipe_sources(name_or_path: str | os.PathLike[str]) -> dict[str, str]:
    """Where each value of a recipe file comes from: its `sources:` mapping (field ->
    citation, also for a field left at netscale's default on purpose); a field the file
    sets without one is credited to the file's `source`."""
    path = recipe_path(name_or_path)
    data = load_yaml_mapping(path, RecipeError, "recipe file")
    cited = _sources(data.pop("sources", None), path)
    general = str(data.get("source") or f"recipe file {path.name}")
    out = {k: cited.get(k, general) for k in data if k not in ("name", "source")}
    return {**cited, **out}  # a cited field the file leaves at its default keeps its note


def _sources(value: Any, path: Path) -> dict[str, str]:
    """A recipe file's `sources:` mapping, checked: Recipe field names to strings."""
    if value is None:
        return {}
    fields = sorted(f.name for f in dataclasses.fields(Recipe))
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RecipeError(f"recipe file {path}: sources must map field names to citations")
    check_keys(value, fields, error=RecipeError, what=f"recipe file {path}: sources key")
    return value


def _from_file(path: Path, overrides: dict[str, Any]) -> Recipe:
    """The recipe in the YAML file ``path`` with ``overrides``; an error that the file
    causes on its own names the file."""
    data = load_yaml_mapping(path, RecipeError, "recipe file")
    _sources(data.pop("sources", None), path)
    try:
        return recipe_from_dict(data, **overrides)
    except RecipeError:
        try:
            recipe_from_dict(data)
        except RecipeError as err:
            raise RecipeError(f"recipe file {path}: {err}") from None
        raise  # the file is valid: an override is at fault


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain-data form (for run directories and checkpoints)."""
    return dataclasses.asdict(recipe)
