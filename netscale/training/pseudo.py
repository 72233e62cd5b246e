"""Training with pseudo-labels (Noisy Student; ResNet-RS sec. 6): the student's half.

A labels file written by `netscale predict` (netscale.data.pseudo) is read and checked
against the labeled data (same class count, same class names where both have them); its
images are read back by reference and fitted to the labeled images' channels and size
(netscale.data.unlabeled), and held in memory beside them.

Each step's batch, per rank, takes P = round(batch x ratio) pseudo-labeled images and
batch - P labeled ones; an epoch is one pass over the labeled set, so it has
labeled images // ((batch - P) x ranks) steps (twice a plain run's at ratio 0.5). The
pseudo-labeled images come in their own seeded order (netscale.data.loader.pseudo_batches:
a permutation per cycle through them), so every batch is a pure function of
(seed, epoch, step, rank) and a resumed run replays it exactly. Targets: "soft", the
teacher's probabilities as they are; "hard", the one-hot of its argmax, which the
recipe's label smoothing then smooths as it does the labeled images'. Augmentation
(crop, flip, RandAugment, random erasing, mixup/CutMix) runs on the whole batch.

data.json records the labels file (path, sha256, ratio, targets, image count and a
fingerprint of the images read back); a resume with another file, ratio or target kind
is refused (rundir.check_same_run).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from netscale.data import DataSplits
from netscale.data.pseudo import Predictions, PseudoSet, read_predictions
from netscale.data.stream import StreamSplits
from netscale.data.unlabeled import read_back
from netscale.training.setup import FINGERPRINT_IMAGES

__all__ = ["TARGETS", "Pseudo", "PseudoOptions", "load_pseudo", "pseudo_options"]

TARGETS = ("soft", "hard")
DEFAULT_RATIO = 0.5


@dataclass(frozen=True, slots=True)
class PseudoOptions:
    """What `train(pseudo=..., pseudo_ratio=..., pseudo_targets=...)` asks for, checked."""

    path: Path
    ratio: float = DEFAULT_RATIO
    targets: str = "soft"

    def __post_init__(self) -> None:
        r = self.ratio
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0.0 < r < 1.0:
            raise ValueError(
                f"pseudo_ratio={r!r} is invalid; allowed: a number in (0, 1), the share of "
                "each batch taken from the pseudo-labeled images"
            )
        if self.targets not in TARGETS:
            raise ValueError(
                f"pseudo_targets={self.targets!r} is invalid; allowed: {', '.join(TARGETS)}"
            )


def pseudo_options(
    pseudo: str | os.PathLike[str] | None, ratio: float | None, targets: str | None
) -> PseudoOptions | None:
    """The checked options of `train`'s keywords (None: no pseudo-labels)."""
    if pseudo is None:
        if ratio is not None or targets is not None:
            raise ValueError(
                "pseudo_ratio and pseudo_targets need a labels file: pass pseudo=labels.npz "
                "(--pseudo)"
            )
        return None
    return PseudoOptions(
        Path(pseudo),
        DEFAULT_RATIO if ratio is None else ratio,
        "soft" if targets is None else targets,
    )


@dataclass(frozen=True, slots=True)
class Pseudo:
    """What a run holds: the images and targets, the pseudo-labeled images in each rank's
    batch (`per_rank`), and the record data.json keeps."""

    data: PseudoSet
    per_rank: int
    info: dict[str, Any]


def pseudo_share(per_rank: int, ratio: float) -> int:
    """round(per_rank x ratio), the pseudo-labeled images of each rank's batch; a ValueError
    when that leaves the batch without pseudo-labeled or without labeled images."""
    share = round(per_rank * ratio)
    if not 0 < share < per_rank:
        raise ValueError(
            f"pseudo_ratio={ratio} of a batch of {per_rank} images per rank takes {share} "
            "pseudo-labeled images, leaving "
            + ("none of them" if share == 0 else "no labeled ones")
            + "; use a ratio nearer 0.5 or a larger --batch-size"
        )
    return share


def load_pseudo(options: PseudoOptions, splits: DataSplits | StreamSplits, per_rank: int) -> Pseudo:
    """Read `options.path`, check it against the labeled `splits`, read its images back
    fitted to theirs; every problem is a one-line error before the run directory exists."""
    if isinstance(splits, StreamSplits):
        raise ValueError(
            "pseudo-labels train beside labeled data held in memory (digits, npz:PATH, "
            "memfolder:PATH, cifar10, cifar100); a streamed folder:PATH cannot take them"
        )
    share = pseudo_share(per_rank, options.ratio)
    labels = read_predictions(options.path)
    _check_classes(labels, splits)
    train = splits.train.images
    images = read_back(
        labels.source,
        files=labels.files,
        split=labels.split,
        index=labels.index,
        channels=int(train.shape[1]),
        size=(int(train.shape[2]), int(train.shape[3])),
    )
    argmax = torch.from_numpy(labels.argmax.copy())
    probs = torch.from_numpy(labels.probs.copy()) if options.targets == "soft" else None
    info = {
        "path": str(options.path.resolve()),
        "sha256": labels.sha256,
        "ratio": options.ratio,
        "targets": options.targets,
        "images": len(labels),
        "per_rank": share,
        "source": labels.source,
        "teacher": labels.run,
        "teacher_weights": labels.weights,
        "fingerprint": _fingerprint(images),
    }
    return Pseudo(PseudoSet(images, argmax, probs), share, info)


def _check_classes(labels: Predictions, splits: DataSplits) -> None:
    where = f"pseudo-labels {labels.path}"
    if labels.num_classes != splits.num_classes:
        raise ValueError(
            f"{where} have {labels.num_classes} classes (probs {labels.probs.shape}), the "
            f"labeled data {splits.train.name!r} and so the model {splits.num_classes}: label "
            "with a teacher trained on the same classes"
        )
    names, theirs = tuple(splits.class_names), labels.class_names
    if names and theirs and names != theirs:
        at = next(i for i, (a, b) in enumerate(zip(names, theirs, strict=True)) if a != b)
        raise ValueError(
            f"{where} name class {at} {theirs[at]!r}, the labeled data {names[at]!r}: "
            "label with a teacher trained on the same classes, in the same order"
        )


def _fingerprint(images: torch.Tensor) -> str:
    """A short hash of the images' shape and an evenly strided sample of them."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(tuple(images.shape)).encode())
    step = max(1, math.ceil(len(images) / FINGERPRINT_IMAGES))
    h.update(images[::step].contiguous().numpy().tobytes())
    return h.hexdigest()


def describe(info: dict[str, Any] | None) -> str:
    """A data.json pseudo record in words (resume messages)."""
    if not info:
        return "no pseudo-labels"
    return (
        f"pseudo-labels {info.get('path')} (sha256 {str(info.get('sha256'))[:12]}, ratio "
        f"{info.get('ratio')}, {info.get('targets')} targets)"
    )


RESUME_KEYS = ("sha256", "ratio", "targets", "fingerprint")
