"""Progress reporting: the hook protocol of `train(progress=...)` and a console display.

`progress` is any callable; the loop calls it once per epoch with that epoch's metrics
line (the dict written to metrics.jsonl: epoch, step, train_loss, test_top1, ema_top1,
lr, images_per_s, wall_s, precision, ...) plus "event": "epoch" (as before step events
moved to on_step; callables written for that protocol keep working). An object may also
define any of

- ``on_start(info)``: once, before training (model, data, device, chosen precision, epochs,
  steps per epoch, the epoch a resumed run starts from);
- ``on_step(event)``: at every step on a CPU, every 16 steps on CUDA (each report reads the
  loss from the device, which waits for it): epoch, epochs, step, steps, global_step, loss,
  lr, images, seconds;
- ``on_end(result)``: once, with the RunResult.

Only rank 0 reports. `ConsoleProgress` is the display of `netscale train`: a tqdm bar per
epoch when its stream is a terminal, one plain line per epoch otherwise. Library code never
prints; a caller that wants a display creates one and passes it in.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

Progress = Callable[[dict[str, Any]], None]


class Hooks:
    """Sends the loop's events to each hook that handles them (None hooks are dropped)."""

    def __init__(self, *hooks: Progress | None) -> None:
        self._hooks = [h for h in hooks if h is not None]
        for hook in self._hooks:
            if not callable(hook):
                raise ValueError(
                    f"progress={hook!r} is invalid: expected a callable that takes each "
                    "epoch's metrics dict (it may also have on_start/on_step/on_end)"
                )
        self.wants_steps = any(callable(getattr(h, "on_step", None)) for h in self._hooks)

    def _call(self, method: str, arg: Any) -> None:
        for hook in self._hooks:
            fn = getattr(hook, method, None)
            if callable(fn):
                fn(arg)

    def start(self, info: dict[str, Any]) -> None:
        """Before the first epoch."""
        self._call("on_start", info)

    def step(self, event: dict[str, Any]) -> None:
        """At a step the loop reports."""
        self._call("on_step", event)

    def epoch(self, metrics: dict[str, Any]) -> None:
        """After each epoch: every hook is called with its own copy of the metrics line
        (plus "event": "epoch")."""
        for hook in self._hooks:
            hook({"event": "epoch", **metrics})

    def end(self, result: Any) -> None:
        """After the last epoch (or divergence)."""
        self._call("on_end", result)


def _si(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def format_start(info: dict[str, Any]) -> str:
    """The header of a run about to start (ConsoleProgress's): a line per note (a changed
    resolution, a restarted directory), then one line describing the run."""
    resumed = f", resuming after epoch {info['start_epoch']}" if info.get("start_epoch") else ""
    notes = "".join(f"note: {n}\n" for n in info.get("notes", ()))
    p = info.get("pseudo")
    pseudo = f" + {p['images']} pseudo-labeled ({p['targets']}, ratio {p['ratio']})" if p else ""
    return notes + (
        f"train {info['model']}: {_si(info['params'])} params, {_si(info['flops'])} MACs/image "
        f"at {info['resolution']} px | {info['data']}: {info['train_images']} train{pseudo}, "
        f"{info['test_images']} test | {info['device']} x{info['world_size']}, "
        f"{info['precision']} ({info['precision_reason']}) | {info['epochs']} epochs x "
        f"{info['steps_per_epoch']} steps of {info['batch_size']} images{resumed}"
    )


def format_epoch(metrics: dict[str, Any], epochs: int | None = None) -> str:
    """One line for an epoch's metrics (loss, top-1, EMA, flip TTA, speed, stage size)."""
    m = metrics
    total = f"/{epochs}" if epochs else ""
    flip = f" (flip {m['test_top1_flip']:.2f}%)" if m.get("test_top1_flip") is not None else ""
    ema = f" ema {m['ema_top1']:.2f}%" if m.get("ema_top1") is not None else ""
    memory = f", {m['peak_memory_mb']:.0f} MiB" if m.get("peak_memory_mb") is not None else ""
    return (
        f"epoch {m['epoch']}{total}: loss {m['train_loss']:.4f} top1 {m['test_top1']:.2f}%"
        f"{flip}{ema} | {m['images_per_s']:.0f} img/s, MFU {100 * m['mfu']:.1f}%, "
        f"{m['resolution']} px, {m['epoch_s']:.1f} s{memory}"
    )


def _tqdm() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class ConsoleProgress:
    """Shows a run on `stream` (default stderr): a header line, then per epoch a tqdm bar
    (steps, loss, lr, images/s) replaced by the epoch's line when it ends. `bar=None`
    shows the bar only when `stream` is a terminal and tqdm is installed; otherwise, or
    with `bar=False`, one plain line per epoch (logs, pipes, CI). The bar redraws at most
    every `refresh_s` seconds. Use it as a context manager so an interrupted run leaves no
    half-drawn bar."""

    def __init__(
        self, stream: TextIO | None = None, *, bar: bool | None = None, refresh_s: float = 0.1
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.refresh_s = refresh_s
        isatty = getattr(self.stream, "isatty", None)
        wanted = bool(isatty and isatty()) if bar is None else bar
        self._tqdm_class = _tqdm() if wanted else None
        self.bar = self._tqdm_class is not None
        self._bar: Any = None
        self._epochs: int | None = None

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def on_start(self, info: dict[str, Any]) -> None:
        """Header line."""
        self._epochs = info.get("epochs")
        self._line(format_start(info))

    def on_step(self, event: dict[str, Any]) -> None:
        """Advance the epoch's bar (bar mode only)."""
        if not self.bar:
            return
        if self._bar is None:
            self._bar = self._tqdm_class(
                total=event["steps"],
                desc=f"epoch {event['epoch']}/{event['epochs']}",
                file=self.stream,
                leave=False,
                unit="step",
                dynamic_ncols=True,
                mininterval=self.refresh_s,
            )
        rate = event["images"] / event["seconds"] if event["seconds"] > 0 else 0.0
        self._bar.set_postfix_str(
            f"loss {event['loss']:.4f}, lr {event['lr']:.3g}, {rate:.0f} img/s", refresh=False
        )
        self._bar.update(event["step"] - self._bar.n)

    def __call__(self, metrics: dict[str, Any]) -> None:
        """The epoch's line (it replaces the epoch's bar)."""
        self.close()
        self._line(format_epoch(metrics, self._epochs))

    def on_end(self, result: Any) -> None:
        """Close a bar left open (a diverged epoch)."""
        self.close()

    def close(self) -> None:
        """Remove the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
