"""One training epoch and its metrics line, on tiny in-memory data (8 px, 64 images, batch
16: 4 steps). The update itself is step.py's; here: what the epoch feeds it and reports."""

import math

import pytest
import torch
from torch import nn

from netscale.complexity import count
from netscale.data import ArrayDataset, DataSplits, eval_batch, train_batches
from netscale.training import epoch
from netscale.training.distributed import Ranks
from netscale.training.epoch import SYNC_EVERY_CUDA, EpochResult, epoch_metrics, train_epoch
from netscale.training.progress import Hooks
from netscale.training.recipe import Recipe
from netscale.training.run import Run
from netscale.training.schedule import learning_rate

from .conftest import tiny_spec

N_TRAIN, N_TEST, BATCH = 64, 32, 16
STEPS = N_TRAIN // BATCH


def _splits() -> DataSplits:
    g = torch.Generator().manual_seed(0)

    def dataset(n: int, name: str) -> ArrayDataset:
        images = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
        return ArrayDataset(images=images, labels=torch.arange(n) % 10, name=name)

    return DataSplits(
        train=dataset(N_TRAIN, "toy-train"),
        test=dataset(N_TEST, "toy-test"),
        num_classes=10,
        mean=(0.5,),
        std=(0.25,),
    )


def _run(seed=0, **recipe) -> Run:
    fields = dict(epochs=2, batch_size=BATCH, lr=0.1, lr_batch=BATCH, warmup_epochs=1.0,
                  precision="fp32", channels_last=False)  # fmt: skip
    return Run.create(
        tiny_spec(),
        _splits(),
        Recipe(**{**fields, **recipe}),
        None,
        seed=seed,
        device=torch.device("cpu"),
        minival=0.0,
        ranks=Ranks(),
    )


@pytest.fixture
def updates(monkeypatch):
    """Record every call of the pure update (its lr and returned loss)."""
    calls = []
    real = epoch.update

    def update(*args, **kwargs):
        loss = real(*args, **kwargs)
        calls.append({"lr": kwargs["lr"], "loss": float(loss), "x": args[4], "y": args[5]})
        return loss

    monkeypatch.setattr(epoch, "update", update)
    return calls


def test_epoch_runs_every_step_and_returns_the_mean_loss(updates):
    run = _run()
    result = train_epoch(run, run.model, Hooks())
    assert len(updates) == STEPS and run.step == STEPS
    assert result.images == STEPS * BATCH and result.seconds > 0 and result.skipped == []
    assert result.loss == pytest.approx(sum(u["loss"] for u in updates) / STEPS, rel=1e-12)
    assert run.epoch == 0  # the loop counts epochs, not the epoch


def test_each_step_gets_the_scheduled_lr_and_a_batch_of_the_run(updates):
    run = _run()
    train_epoch(run, run.model, Hooks())
    expected = [learning_rate(run.recipe, s, STEPS) for s in range(STEPS)]
    assert [u["lr"] for u in updates] == pytest.approx(expected)
    assert run.lr == pytest.approx(expected[-1])
    for u in updates:  # augmented images at the stage resolution, one-hot-like targets
        assert u["x"].shape == (BATCH, 1, 8, 8) and u["y"].shape == (BATCH, 10)
        assert torch.allclose(u["y"].sum(dim=1), torch.ones(BATCH))
    run.epoch = 1  # the second epoch continues the step count and the schedule
    updates.clear()
    train_epoch(run, run.model, Hooks())
    assert run.step == 2 * STEPS
    expected = [learning_rate(run.recipe, s, STEPS) for s in range(STEPS, 2 * STEPS)]
    assert [u["lr"] for u in updates] == pytest.approx(expected)


def test_batches_are_the_loaders_for_the_runs_seed_and_epoch(monkeypatch):
    seen = []
    real = epoch.train_batch

    def train_batch(images, labels, **kwargs):
        seen.append(labels.clone())
        return real(images, labels, **kwargs)

    monkeypatch.setattr(epoch, "train_batch", train_batch)
    run = _run(seed=3)
    run.epoch = 1
    train_epoch(run, run.model, Hooks())
    order = list(train_batches(N_TRAIN, BATCH, seed=3, epoch=1))
    labels = _splits().train.labels
    assert [s.tolist() for s in seen] == [labels[idx].tolist() for idx in order]


def _state(run: Run) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in run.model.state_dict().items()}


def test_an_epoch_is_a_function_of_the_seed():
    a, b, c = _run(seed=1), _run(seed=1), _run(seed=2)
    results = [train_epoch(r, r.model, Hooks()).loss for r in (a, b, c)]
    assert results[0] == results[1] and results[0] != results[2]
    sa, sb, sc = _state(a), _state(b), _state(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_step_events_reach_hooks_that_want_them():
    events = []

    class Hook:
        def __call__(self, metrics):
            raise AssertionError("epoch lines are the loop's to send")

        def on_step(self, event):
            events.append(event)

    run = _run()
    train_epoch(run, run.model, Hooks(Hook()))
    assert len(events) == STEPS  # every step on a CPU
    assert [e["step"] for e in events] == list(range(1, STEPS + 1))
    assert [e["global_step"] for e in events] == list(range(1, STEPS + 1))
    assert [e["images"] for e in events] == [BATCH * s for s in range(1, STEPS + 1)]
    assert all((e["epoch"], e["epochs"], e["steps"]) == (1, 2, STEPS) for e in events)
    assert all(math.isfinite(e["loss"]) and e["seconds"] >= 0 for e in events)
    assert events[-1]["lr"] == run.lr
    assert SYNC_EVERY_CUDA == 16  # on CUDA only every 16th step is read back


def test_non_finite_loss_stops_the_epoch(monkeypatch):
    calls = []

    def update(*args, **kwargs):
        calls.append(1)
        return torch.tensor(float("nan") if len(calls) == 2 else 1.0)

    monkeypatch.setattr(epoch, "update", update)
    run = _run()
    assert train_epoch(run, run.model, Hooks()) is None
    assert len(calls) == 2  # on a CPU the loss is read every step: stopped at once


def test_training_mode_and_the_stage_dropout():
    run = _run(dropout_rate=0.3)
    dropouts = [m for m in run.model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts  # the recipe's rate gives the head a dropout layer
    for m in dropouts:
        m.p = 0.0
    run.model.eval()
    train_epoch(run, run.model, Hooks())
    assert run.model.training
    assert all(m.p == 0.3 for m in dropouts)  # the stage's rate, set for the epoch


def test_metrics_line(monkeypatch):
    peaks = []

    def raise_peak(device, dtype, rate):
        peaks.append((device, dtype, rate))
        return 1e9  # a known device peak: MFU by hand

    monkeypatch.setattr(epoch, "raise_peak", raise_peak)
    run = _run(ema_decay=0.5)
    trained = train_epoch(run, run.model, Hooks())
    loss, images = trained.loss, trained.images
    line = epoch_metrics(run, EpochResult(loss, images, 2.0))
    macs = count(run.spec, 8).flops
    assert line["epoch"] == 1 and line["step"] == STEPS
    assert line["train_loss"] == round(loss, 6)
    assert line["images_per_s"] == round(images / 2.0, 2)
    assert line["mfu"] == round(3 * macs * (images / 2.0) / 1e9, 4)
    assert peaks == [(torch.device("cpu"), torch.float32, 3 * macs * images / 2.0)]
    assert (line["lr"], line["resolution"], line["precision"]) == (run.lr, 8, "fp32")
    assert (line["dropout_rate"], line["randaug_magnitude"], line["mixup_alpha"]) == (
        run.stages[0].dropout_rate,
        0.0,
        0.0,
    )
    assert line["epoch_s"] == 2.0 and line["peak_memory_mb"] is None  # CPU
    assert line["skipped_images"] == 0
    assert line["test_top1_flip"] is None and line["ema_top1_flip"] is None  # no eval_flip
    # test top-1 of the model and of its EMA, computed here from the test images
    test = _splits().test
    x = eval_batch(test.images, resolution=8, mean=(0.5,), std=(0.25,), channels_last=False)
    for key, model in (("test_top1", run.model), ("ema_top1", run.ema)):
        with torch.no_grad():
            logits = model.eval()(x)
        top1 = 100.0 * (logits.argmax(1) == test.labels).double().mean().item()
        assert line[key] == pytest.approx(round(top1, 4)), key
    with torch.no_grad():
        loss = nn.functional.cross_entropy(run.model.eval()(x), test.labels).item()
    assert line["test_loss"] == pytest.approx(loss, abs=1e-5) and line["test_images"] == N_TEST


def test_metrics_without_ema_or_time(monkeypatch):
    monkeypatch.setattr(epoch, "raise_peak", lambda device, dtype, rate: 1e9)
    run = _run()
    line = epoch_metrics(run, EpochResult(2.0, 64, 0.0))  # zero seconds: no rate, no crash
    assert line["ema_top1"] is None and line["images_per_s"] == 0.0 and line["mfu"] == 0.0
