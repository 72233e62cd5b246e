"""What each part of a training step costs in netscale's loop (issue 15, item 5): batch
assembly, augmentation (with the move to the device and normalization), the update
(forward, loss, backward, optimizer), the EMA update, the lookahead sync and the per-step
logging, each timed on its own within every step, steps interleaved, so all parts see the
same machine load.

The parts are the loop's own functions (netscale.training.epoch and step), called in the
order `train_epoch` calls them on a Run made by `Run.create` (no run directory):
  batch     next(train_steps(...))            the next batch of uint8 images and labels
  augment   step_inputs(run, batch, ...)      flip, crop, RandAugment, mixup, normalize
  update    step.update(..., ema=None)        forward, loss, backward, optimizer step
  ema       optim.update_ema(ema, model, d)   the recipe's EMA, or (when it has none) one
                                              at decay 0.9999, to show what one would cost
  lookahead Lookahead.sync(model, rho)        every `lookahead_every` steps: its cost per
                                              step is one sync / lookahead_every (the
                                              recipe's, or 5 when it has none)
  log       the loss read back (a device sync on CUDA) and the step event a progress
            hook receives
Times are medians over the timed steps (after untimed warm-up steps); the shares are of
their sum. A sync on the device separates the parts (CUDA), which a real step does not do.

Run:  .venv/bin/python benchmarks/step_cost.py [--spec benchmarks/specs/cifar_convpool.yaml]
        [--recipe fast_cifar] [--data npz:../shared/data/cifar10.npz] [--batch-size 512]
        [--steps 30] [--device cpu]
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch

from netscale.data.steps import train_steps
from netscale.profiling.device import device_name, resolve_device
from netscale.training import distributed as dist
from netscale.training.epoch import _step_event, augment_config, step_inputs
from netscale.training.lookahead import Lookahead
from netscale.training.optim import update_ema
from netscale.training.precision import autocast_dtype
from netscale.training.recipe import load_recipe
from netscale.training.run import Run
from netscale.training.step import update

WARMUP = 3
PARTS = ("batch", "augment", "update", "ema", "lookahead", "log")


def timer(device: torch.device) -> Callable[[Callable[[], object]], tuple[object, float]]:
    """Run a callable and return (its result, its seconds), the device synced around it."""

    def timed(fn: Callable[[], object]) -> tuple[object, float]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out, time.perf_counter() - start

    return timed


def measure(args: argparse.Namespace) -> tuple[Run, dict[str, list[float]], int]:
    device = resolve_device(args.device)
    overrides = {"batch_size": args.batch_size} if args.batch_size else {}
    recipe = load_recipe(args.recipe, **overrides)
    run = Run.create(args.spec, args.data, recipe, None, seed=0, device=device, minival=0.0,
                     ranks=dist.Ranks())  # fmt: skip
    run.open(False)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    r, stage = run.recipe, run.stages[0]
    ema = run.ema if run.ema is not None else copy.deepcopy(run.model).requires_grad_(False)
    decay = r.ema_decay or 0.9999
    every = r.lookahead_every or 5
    slow = Lookahead(run.model)
    batches = train_steps(run.data, augment_config(r, stage), resolution=stage.resolution,
                          per_rank=r.batch_size, seed=0, epoch=0, workers=run.workers)  # fmt: skip
    timed, dtype = timer(device), autocast_dtype(run.precision)
    generator = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {p: [] for p in PARTS}
    t0 = time.perf_counter()
    for i in range(WARMUP + args.steps):
        batch, t_batch = timed(lambda: next(batches))
        (x, y), t_aug = timed(lambda b=batch: step_inputs(run, b, stage, generator))
        loss, t_update = timed(lambda x=x, y=y: update(
            run.model, run.model, run.optimizer, None, x, y, lr=0.01, autocast=dtype,
            grad_clip=r.grad_clip))  # fmt: skip
        _, t_ema = timed(lambda: update_ema(ema, run.model, decay))
        _, t_look = timed(lambda: slow.sync(run.model, 0.5))
        _, t_log = timed(lambda lo=loss, i=i: (float(lo), _step_event(run, i + 1, 1, 0.0, 0, t0)))
        if i >= WARMUP:
            for part, t in zip(PARTS, (t_batch, t_aug, t_update, t_ema, t_look / every, t_log),
                               strict=True):  # fmt: skip
                times[part].append(t)
    batches.close()
    return run, times, every


def table(run: Run, times: dict[str, list[float]], every: int, args: argparse.Namespace) -> str:
    r = run.recipe
    medians = {p: statistics.median(ts) * 1e3 for p, ts in times.items()}
    total = sum(medians.values())
    ema_note = "the recipe's" if r.ema_decay else "not in the recipe: what one would cost"
    look_note = (f"every {every} steps, the recipe's" if r.lookahead_every
                 else f"not in the recipe: every {every} steps")  # fmt: skip
    notes = {"ema": ema_note, "lookahead": look_note}
    out = [
        f"{run.spec.name}, recipe {r.name}, batch {r.batch_size} at {run.stages[0].resolution} "
        f"px, {run.precision}, {device_name(run.device)}, {torch.get_num_threads()} threads, "
        f"median of {args.steps} steps (ms per step):",
        "",
        "| part | ms per step | share of the step | note |",
        "|---|---|---|---|",
    ]
    for part in PARTS:
        out.append(f"| {part} | {medians[part]:.2f} | {medians[part] / total:.1%} | "
                   f"{notes.get(part, '')} |")  # fmt: skip
    out.append(f"| sum | {total:.2f} | 100% | |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="benchmarks/specs/cifar_convpool.yaml")
    parser.add_argument("--recipe", default="fast_cifar")
    parser.add_argument("--data", default="npz:../shared/data/cifar10.npz")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    run, times, every = measure(args)
    print(table(run, times, every, args))


if __name__ == "__main__":
    main()
