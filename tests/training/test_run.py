"""Run: set-up (data, fitted spec, weights, EMA, optimizer), the run directory it opens,
and the checkpoint round trip of save / restore. Tiny in-memory data (8 px, 64 images)."""

import json

import pytest
import torch

from netscale.data import ArrayDataset, DataSplits
from netscale.spec import load
from netscale.training.checkpoint import latest_checkpoint
from netscale.training.distributed import Ranks
from netscale.training.recipe import Recipe
from netscale.training.run import Run
from netscale.training.setup import fingerprint

from .conftest import tiny_spec

CPU = torch.device("cpu")


def _splits(n_train=64, n_test=32, classes=10, channels=1, size=8, seed=0) -> DataSplits:
    g = torch.Generator().manual_seed(seed)

    def dataset(n: int, name: str) -> ArrayDataset:
        images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
        return ArrayDataset(images=images, labels=torch.arange(n) % classes, name=name)

    return DataSplits(
        train=dataset(n_train, "toy-train"),
        test=dataset(n_test, "toy-test"),
        num_classes=classes,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
    )


def _recipe(**changes) -> Recipe:
    fields = dict(epochs=2, batch_size=16, lr=0.1, lr_batch=16, precision="fp32")
    return Recipe(**{**fields, **changes})


def _create(out=None, *, splits=None, seed=0, **recipe) -> Run:
    return Run.create(
        tiny_spec(),
        splits or _splits(),
        _recipe(**recipe),
        out,
        seed=seed,
        device=CPU,
        minival=0.0,
        ranks=Ranks(),
    )


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_create_fits_the_spec_to_the_data():
    run = _create(splits=_splits(classes=5, channels=3, size=12))
    assert run.spec.head.num_classes == 5 and run.spec.in_width == 3
    assert run.spec.resolution == 12  # the data's own size
    with torch.no_grad():
        assert run.model.eval()(torch.randn(2, 3, 12, 12)).shape == (2, 5)
    assert (run.epoch, run.step, run.precision, run.out, run.notes) == (0, 0, "fp32", None, [])


def test_create_records_the_data():
    splits = _splits()
    run = _create(splits=splits, seed=3)
    assert run.data_info == {
        "source": "toy-train",  # DataSplits passed in: named by its train set
        "minival": 0.0,
        "seed": 3,
        "train_images": 64,
        "test_images": 32,
        "skipped_images": 0,
        "fingerprint": fingerprint(splits),
        "mean": [0.5],  # the statistics inputs are normalized with (predict reads them)
        "std": [0.25],
        "class_names": [],
    }
    assert run.data is splits  # on the CPU the data stays where it is


def test_weights_follow_the_seed():
    assert _same_weights(_create(seed=1).model, _create(seed=1).model)
    assert not _same_weights(_create(seed=1).model, _create(seed=2).model)


def test_ema_only_with_a_decay_and_starts_as_the_model():
    assert _create().ema is None
    run = _create(ema_decay=0.9)
    assert run.ema is not run.model and _same_weights(run.ema, run.model)
    assert not run.ema.training
    assert not any(p.requires_grad for p in run.ema.parameters())


def _batch_norms(model: torch.nn.Module) -> list:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def test_bn_momentum_and_eps_reach_every_batchnorm_and_spec_yaml(tmp_path):
    default = _create(ema_decay=0.9)
    assert default.spec.norm_eps == tiny_spec().norm_eps == 1e-5
    assert all((m.momentum, m.eps) == (0.1, 1e-5) for m in _batch_norms(default.model))
    run = _create(tmp_path / "run", ema_decay=0.9, bn_momentum=0.01, bn_eps=1e-3)
    assert run.spec.norm_eps == 1e-3
    for model in (run.model, run.ema):
        norms = _batch_norms(model)
        assert len(norms) >= 5 and all((m.momentum, m.eps) == (0.01, 1e-3) for m in norms)
    run.open(resume=False)
    assert load(tmp_path / "run" / "spec.yaml").norm_eps == 1e-3


def test_optimizer_holds_the_models_parameters_at_the_scaled_lr():
    run = _create(lr=0.1, lr_batch=8, batch_size=16)
    in_groups = {id(p) for g in run.optimizer.param_groups for p in g["params"]}
    assert in_groups == {id(p) for p in run.model.parameters()}
    assert all(g["lr"] == pytest.approx(0.2) for g in run.optimizer.param_groups)


def test_stages_and_memory_format():
    run = _create(channels_last=True)
    assert [s.resolution for s in run.stages] == [8] and run.stages[0].start == 0
    conv = next(m for m in run.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    conv = next(m for m in _create(channels_last=False).model.modules()
                if isinstance(m, torch.nn.Conv2d))  # fmt: skip
    assert conv.weight.is_contiguous()


def test_create_refuses_data_it_cannot_train_or_test_on(tmp_path):
    with pytest.raises(ValueError, match="the test split of 'toy-test' is empty: nothing to"):
        _create(tmp_path / "a", splits=_splits(n_test=0))
    with pytest.raises(ValueError, match="64 samples hold no full global batch of 128"):
        _create(tmp_path / "b", batch_size=128)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # checked first


def test_open_a_new_run_directory(tmp_path):
    run = _create(tmp_path / "run")
    choice = run.open(resume=False)
    assert (choice.requested, choice.precision) == ("fp32", "fp32") and run.precision == "fp32"
    out = tmp_path / "run"
    assert {p.name for p in out.iterdir()} >= {"spec.yaml", "recipe.json", "data.json",
                                                "env.json", "metrics.jsonl"}  # fmt: skip
    env = json.loads((out / "env.json").read_text())
    assert env["world_size"] == 1 and env["precision"] == choice.to_dict()
    assert json.loads((out / "data.json").read_text()) == run.data_info
    assert (out / "metrics.jsonl").read_text() == ""
    assert latest_checkpoint(out / "checkpoints") is None


def test_without_a_directory_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = _create(None)
    assert run.open(resume=False).precision == "fp32"
    run.save()
    assert run.restore() is None
    assert list(tmp_path.iterdir()) == []


def _train_a_little(run: Run) -> None:
    """Stand-in for epochs: change the weights, the optimizer state and the counters."""
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    run.model.train()
    run.model(x).square().mean().backward()
    run.optimizer.step()
    run.epoch, run.step = 1, 4
    run.metrics = [{"epoch": 1, "step": 4, "train_loss": 2.0, "wall_s": 12.5}]


def test_save_then_restore_round_trips(tmp_path):
    out = tmp_path / "run"
    run = _create(out, ema_decay=0.5)
    run.open(resume=False)
    _train_a_little(run)
    run.save()
    assert latest_checkpoint(out / "checkpoints").name == "ckpt-0001"
    assert [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()] == (
        run.metrics
    )

    again = _create(out, ema_decay=0.5, seed=0)
    assert not _same_weights(again.model, run.model)
    assert again.restore() == "fp32"
    assert _same_weights(again.model, run.model) and _same_weights(again.ema, run.ema)
    assert (again.epoch, again.step, again.seed) == (1, 4, 0)
    assert again.metrics == run.metrics and again.wall_offset == 12.5
    saved, restored = run.optimizer.state_dict(), again.optimizer.state_dict()
    momentum = [s["momentum_buffer"] for s in saved["state"].values()]
    assert momentum and all(
        torch.equal(a["momentum_buffer"], b["momentum_buffer"])
        for a, b in zip(saved["state"].values(), restored["state"].values(), strict=True)
    )


def test_resume_keeps_the_recorded_precision_and_seed(tmp_path):
    out = tmp_path / "run"
    run = _create(out, seed=5)
    run.open(resume=False)
    run.precision = "bf16"  # as if the rule had chosen it on the machine that started it
    _train_a_little(run)
    run.save()
    resumed = _create(out, seed=5)
    choice = resumed.open(resume=True)
    assert (choice.requested, choice.precision) == ("fp32", "bf16")
    assert choice.reason == "recorded by the resumed run" and resumed.precision == "bf16"
    assert (resumed.epoch, resumed.step, resumed.seed) == (1, 4, 5)
    with pytest.raises(FileExistsError, match="pass resume=True"):
        _create(out, seed=5).open(resume=False)  # trained weights are never overwritten


def test_a_damaged_metrics_file_is_rewritten_from_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    run = _create(out)
    run.open(resume=False)
    _train_a_little(run)
    run.save()
    (out / "metrics.jsonl").write_text("garbage\n")
    resumed = _create(out)
    resumed.open(resume=True)
    assert [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()] == (
        run.metrics
    )
