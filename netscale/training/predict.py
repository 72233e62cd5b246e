"""Labeling images with a trained run: the teacher's half of pseudo-labeling (Noisy Student;
ResNet-RS sec. 6 trains on pseudo-labels this way).

`predict` loads a run's latest checkpoint (runs.py: the EMA weights by default when the
run keeps an EMA, else the trained weights), runs it in evaluation mode over a source's
images with the run's own evaluation preprocessing (its evaluation resolution and center
crop fraction, normalized with the mean and std of the data it trained on, in the
precision it trained in: the batches of evaluate.py), and returns the softmax
probabilities with each image's reference (netscale.data.unlabeled); with `out` it writes
them as a labels file (netscale.data.pseudo) that `train(pseudo=...)` reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from netscale.data.pseudo import Predictions, check_writable
from netscale.data.scan import check_corrupt
from netscale.data.steps import default_workers, eval_steps
from netscale.data.stream import StreamSplit
from netscale.data.unlabeled import Unlabeled, load_unlabeled
from netscale.spec import spec_id
from netscale.training.evaluate import eval_inputs, model_logits
from netscale.training.precision import autocast_dtype
from netscale.training.runs import LoadedRun, load_run, run_statistics

__all__ = ["predict"]


def predict(
    run: str | os.PathLike[str],
    data: str,
    *,
    out: str | os.PathLike[str] | None = None,
    weights: str = "auto",
    top_k: int = 5,
    batch_size: int | None = None,
    device: str = "cpu",
    split: str = "all",
    force: bool = False,
    workers: int | None = None,
) -> Predictions:
    """Class probabilities of `run`'s model for every image of `data` ("folder:PATH", an
    unlabeled folder or an ImageFolder; "npz:PATH", its x_train and/or x_test; "digits";
    "cifar10"; "cifar100") in `split` ("train", "test" or "all"). `weights`: "auto" (EMA
    when the run keeps one, else the trained weights), "ema" or "final". `top_k`: how many
    most probable classes to list (at most the class count). `batch_size`: images per
    forward pass (default: the recipe's eval_batch_size). `out`: write the labels file
    there (atomically; an existing file only with `force`). `workers`: decoding processes
    of a folder (default one per CPU, at most 8). Returns the Predictions."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k={top_k!r} is invalid; allowed: an int >= 1")
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"batch_size={batch_size!r} is invalid; allowed: an int >= 1")
    if out is not None:
        check_writable(Path(out), force=force)  # before any work
    loaded = load_run(run, weights=weights, device=device)
    images = load_unlabeled(data, split)
    mean, std, names = run_statistics(loaded)
    probs, rows, skipped = _probabilities(loaded, images, mean, std, batch_size, workers)
    k = probs.shape[1]
    found = Predictions.from_probs(
        probs,
        top_k,
        class_names=names if len(names) == k else tuple(str(i) for i in range(k)),
        source=images.source,
        weights=loaded.weights,
        run=str(loaded.out.resolve()),
        spec_id=spec_id(loaded.spec),
        checkpoint=loaded.checkpoint.name,
        epoch=loaded.epoch,
        files=None if images.files is None else images.files[rows],
        split=None if images.split is None else images.split[rows],
        index=None if images.index is None else images.index[rows],
        skipped=skipped,
    )
    return found.save(out, force=force) if out is not None else found


@torch.no_grad()
def _probabilities(
    loaded: LoadedRun,
    images: Unlabeled,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int | None,
    workers: int | None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(softmax (N, K) float32, the row of each, the corrupt files left out)."""
    recipe, dev = loaded.recipe, next(loaded.model.parameters()).device
    resolution = recipe.eval_resolution or loaded.spec.resolution
    dtype = autocast_dtype(loaded.precision)
    probs, rows, skipped = [], [], []
    for part in images.parts:
        if not isinstance(part, StreamSplit) and part.images.shape[1] != len(mean):
            raise ValueError(
                f"{part.name}: {part.images.shape[1]}-channel images, but the run's model "
                f"takes {len(mean)} channel(s)"
            )
        streamed = isinstance(part, StreamSplit)
        batches = eval_steps(
            part,
            resolution=resolution,
            crop_fraction=recipe.eval_crop_fraction,
            batch_size=batch_size or recipe.eval_batch_size,
            channels=len(mean),
            workers=(default_workers() if workers is None else workers) if streamed else 0,
            pin_memory=dev.type == "cuda",
        )
        for batch in batches:
            skipped.extend(batch.skipped)
            if not len(batch.labels):
                continue
            x = eval_inputs(
                batch, dev, resolution, mean, std, recipe.channels_last, recipe.eval_crop_fraction
            )
            p = F.softmax(model_logits(loaded.model, x, dtype), dim=-1)
            probs.append(p.cpu().numpy())
            rows.append(batch.labels.cpu().numpy())  # the images' row numbers
    check_corrupt([Path(s) for s in skipped], len(images), f"data source {images.source}")
    if not probs:
        raise ValueError(f"data source {images.source}: no image could be decoded")
    return (
        np.concatenate(probs).astype(np.float32),
        np.concatenate(rows).astype(np.int64),
        tuple(skipped),
    )
