"""CUDA readiness of the training loop: what the CPU-only test suite cannot check.

Run on a machine with a GPU (about a minute; prints one line per check, exits 1 if any
fails):

    python scripts/cuda_check.py [--device cuda] [--model regnet_y_200mf --resolution 32]

It trains a small model on `digits` for 2 epochs with GPU-side augmentation (crop, flip,
RandAugment, mixup), EMA and flip TTA, and checks that: precision "auto" chose bf16 exactly
where the GPU has native bf16; the datasets were moved to the GPU; each epoch reports
peak_memory_mb; progress steps arrive every 16 steps (not every step: each report waits
for the GPU); a run stopped after epoch 1 and resumed ends with metrics identical to the
uninterrupted run (deterministic algorithms, as the CPU tests do with SIGKILL); and
`netscale eval` on the GPU reproduces the final top-1. `--device cpu` runs the same checks
on a CPU (a smoke test of this script).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

# Deterministic cuBLAS needs this before the first CUDA call (CUDA docs, "Results
# reproducibility"); torch.use_deterministic_algorithms below covers cuDNN and the rest.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch

import netscale
from netscale.data import load_data
from netscale.profiling.device import resolve_device
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec, load
from netscale.training.loop import TIMING_KEYS
from netscale.training.precision import choose_precision
from netscale.training.runs import evaluate_run
from netscale.training.setup import place_data

OVERRIDES = dict(
    epochs=2,
    batch_size=128,
    crop_padding=1,
    flip=True,
    randaug_layers=1,
    randaug_magnitude=5.0,  # TF scale (nominal max 10; was 5 of torchvision's 30): mid-range
    mixup_alpha=0.2,
    ema_decay=0.9,
    eval_flip=True,
    precision="auto",
)


def tiny_spec() -> NetSpec:
    """Stride-1 stem and two bottleneck stages for 8x8 digits (as tests/training use)."""
    stages = (
        StageSpec(block="bottleneck", depth=1, width=16, stride=2, group_width=8),
        StageSpec(block="bottleneck", depth=1, width=32, stride=2, group_width=8),
    )
    return NetSpec(
        name="tiny",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=stages,
        head=HeadSpec(num_classes=10),
        in_width=1,
        resolution=8,
    )


class _Stop(Exception):
    """Raised by the progress hook to stop a run after its first epoch."""


class _Recorder:
    def __init__(self, stop_after: int | None = None) -> None:
        self.steps: list[dict] = []
        self.info: dict = {}
        self.stop_after = stop_after

    def on_start(self, info: dict) -> None:
        self.info = info

    def on_step(self, event: dict) -> None:
        self.steps.append(event)

    def __call__(self, metrics: dict) -> None:
        if metrics["epoch"] == self.stop_after:
            raise _Stop


def _untimed(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in metrics]


def _checks(model, dev: torch.device, kw: dict, out: Path) -> tuple[list, object]:
    """(name, passed, detail) of every check, and the uninterrupted run's result."""
    rec = _Recorder()
    ref = netscale.train(model, "digits", "quick", out / "ref", progress=rec, **kw)
    last = ref.metrics[-1]
    want = choose_precision("auto", dev, load(out / "ref" / "spec.yaml")).precision
    checks = [
        ("completed", ref.status == "completed", ref.message),
        ("auto precision", ref.precision == want, rec.info.get("precision_reason", "")),
    ]
    on_gpu = place_data(load_data("digits"), dev).train.images.device == dev
    checks.append(("data on device", on_gpu or dev.type == "cpu", str(dev)))
    memory = last["peak_memory_mb"]
    ok_memory = (memory or 0) > 0 if dev.type == "cuda" else memory is None
    checks.append(("peak_memory_mb", ok_memory, f"{memory} MiB"))
    steps = rec.info["steps_per_epoch"]
    every = 16 if dev.type == "cuda" else 1
    expected = [s for s in range(1, steps + 1) if s % every == 0 or s == steps]
    got = [e["step"] for e in rec.steps if e["epoch"] == 1]
    checks.append(("step reports", got == expected, f"steps {got}"))
    with contextlib.suppress(_Stop):
        stopper = _Recorder(stop_after=1)
        netscale.train(model, "digits", "quick", out / "r", progress=stopper, **kw)
    resumed = netscale.train(model, "digits", "quick", out / "r", resume=True, **kw)
    same = _untimed(resumed.metrics) == _untimed(ref.metrics)
    checks.append(("exact resume", same, _first_difference(ref.metrics, resumed.metrics)))
    ev = evaluate_run(out / "ref", device=str(dev))
    checks.append(("eval on device", ev["top1"] == ref.top1, f"{ev['top1']} vs {ref.top1}"))
    return checks, ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default=None, help="registered name (default: a tiny spec)")
    parser.add_argument("--resolution", type=int, default=None, help="train resolution, px")
    args = parser.parse_args()
    dev = resolve_device(args.device)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    kw = dict(OVERRIDES, device=args.device)
    if args.resolution:
        kw["resolution"] = args.resolution
    with tempfile.TemporaryDirectory() as tmp:
        checks, ref = _checks(args.model or tiny_spec(), dev, kw, Path(tmp))
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    last = ref.metrics[-1]
    print(
        f"{ref.precision}, {last['images_per_s']:.0f} images/s, MFU {100 * last['mfu']:.2f}%, "
        f"top1 {ref.top1:.2f}% (flip {ref.top1_flip}), ema {ref.ema_top1}, {ref.wall_s:.1f} s"
    )
    return 0 if all(ok for _, ok, _ in checks) else 1


def _first_difference(a: list[dict], b: list[dict]) -> str:
    for x, y in zip(_untimed(a), _untimed(b), strict=False):
        diff = {k: (x[k], y.get(k)) for k in x if x[k] != y.get(k)}
        if diff:
            return f"epoch {x['epoch']}: {diff}"
    return "identical" if len(a) == len(b) else f"{len(a)} vs {len(b)} epochs"


if __name__ == "__main__":
    sys.exit(main())
