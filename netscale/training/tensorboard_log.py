"""TensorBoard scalars of a run (optional: needs the `tensorboard` package).

`TensorBoardLog` is a progress hook (see progress.py) that writes to RUN_DIR/tensorboard:
per reported step the training loss and learning rate; per epoch the train and test loss,
test top-1 (single view, flip TTA, EMA), images/s, MFU, peak memory and the progressive-
learning stage settings (resolution, dropout, RandAugment magnitude, mixup alpha), all at
the global optimizer step. A resumed run purges events past its checkpoint's step, so the
curves show the replayed steps once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install 'netscale[tensorboard]'"

# metrics-line key -> TensorBoard tag
EPOCH_TAGS = {
    "train_loss": "train/loss",
    "test_loss": "test/loss",
    "test_top1": "test/top1",
    "test_top1_flip": "test/top1_flip",
    "ema_top1": "test/ema_top1",
    "ema_top1_flip": "test/ema_top1_flip",
    "images_per_s": "speed/images_per_s",
    "mfu": "speed/mfu",
    "peak_memory_mb": "speed/peak_memory_mb",
    "resolution": "stage/resolution",
    "dropout_rate": "stage/dropout_rate",
    "randaug_magnitude": "stage/randaug_magnitude",
    "mixup_alpha": "stage/mixup_alpha",
    "epoch": "train/epoch",
}


class MissingExtraError(ImportError):
    """An optional feature's package is not installed (the message says what to install)."""


def require_tensorboard() -> type:
    """torch's SummaryWriter class, or MissingExtraError naming the extra to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch.utils.tensorboard imports the tensorboard package
        raise MissingExtraError(
            f"tensorboard=True (--tensorboard) needs the tensorboard package: {INSTALL_HINT}"
        ) from None
    return SummaryWriter


class TensorBoardLog:
    """Progress hook writing a run's scalars under `log_dir` (see the module docstring)."""

    def __init__(self, log_dir: str | Path, *, purge_step: int | None = None) -> None:
        writer = require_tensorboard()
        self._writer = writer(log_dir=str(log_dir), purge_step=purge_step)

    def on_start(self, info: dict[str, Any]) -> None:
        """The run's description as text."""
        self._writer.add_text("run", "```\n" + json.dumps(info, indent=2) + "\n```", 0)

    def on_step(self, event: dict[str, Any]) -> None:
        """Training loss and learning rate at the global step."""
        self._writer.add_scalar("train/loss_step", event["loss"], event["global_step"])
        self._writer.add_scalar("train/lr", event["lr"], event["global_step"])

    def __call__(self, metrics: dict[str, Any]) -> None:
        """An epoch's scalars at its last global step."""
        for key, tag in EPOCH_TAGS.items():
            value = metrics.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(tag, value, metrics["step"])
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()
