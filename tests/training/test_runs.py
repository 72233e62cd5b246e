"""evaluate_run: a run directory's latest checkpoint scored on its data (or other data),
checked against scores computed here from the same weights. The run directory is written
by Run itself (no training): tiny npz data, 8 px, one channel."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from netscale.build import build
from netscale.data import eval_batch, load_data
from netscale.spec import load
from netscale.training.runs import evaluate_run

from .conftest import saved_run


def _npz(path, n_train=48, n_test=24, seed=0) -> str:
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 8, 8), dtype=np.uint8),
        y_train=np.arange(n_train) % 10,
        x_test=rng.integers(0, 256, (n_test, 8, 8), dtype=np.uint8),
        y_test=np.arange(n_test) % 10,
    )
    return f"npz:{path}"


def _run_dir(tmp_path, *, save=True, ema_decay=0.5, **recipe) -> tuple:
    """A run directory with one checkpoint of random weights (EMA weights differ)."""
    source = _npz(tmp_path / "data.npz")
    out = tmp_path / "run"
    run = saved_run(out, source, batch_size=16, ema_decay=ema_decay, save=save, **recipe)
    return out, run, source


def _scores(model: torch.nn.Module, source: str) -> tuple[float, float, int]:
    """(top-1 %, mean cross-entropy, images) of `model` on the test split, computed here."""
    splits = load_data(source)
    x = eval_batch(splits.test.images, resolution=8, mean=splits.mean, std=splits.std,
                   channels_last=False)  # fmt: skip
    with torch.no_grad():
        logits = model.eval()(x)
    top1 = 100.0 * (logits.argmax(1) == splits.test.labels).double().mean().item()
    loss = F.cross_entropy(logits, splits.test.labels).item()
    return top1, loss, len(splits.test.labels)


def test_scores_the_latest_checkpoint(tmp_path):
    out, run, source = _run_dir(tmp_path)
    result = evaluate_run(out)
    top1, loss, n = _scores(run.model, source)
    assert result == {
        "run": str(out),
        "checkpoint": "ckpt-0001",
        "epoch": 1,
        "ema": False,
        "data": source,
        "precision": "fp32",
        "test_images": n,
        "top1": pytest.approx(round(top1, 4)),
        "top1_flip": None,  # the recipe's eval_flip is off
        "loss": pytest.approx(round(loss, 6), abs=1e-5),
    }
    assert json.loads(json.dumps(result)) == result  # JSON-ready


def test_ema_weights_are_scored_with_ema(tmp_path):
    out, run, source = _run_dir(tmp_path)
    result = evaluate_run(out, ema=True)
    top1, loss, _ = _scores(run.ema, source)
    assert result["ema"] is True
    assert result["top1"] == pytest.approx(round(top1, 4))
    assert result["loss"] == pytest.approx(loss, abs=1e-5)
    assert result["loss"] != pytest.approx(evaluate_run(out)["loss"], abs=1e-4)  # not the model


def test_flip_tta_on_request(tmp_path):
    out, run, source = _run_dir(tmp_path)
    result = evaluate_run(out, flip=True)
    splits = load_data(source)
    x = eval_batch(splits.test.images, resolution=8, mean=splits.mean, std=splits.std,
                   channels_last=False)  # fmt: skip
    with torch.no_grad():
        model = run.model.eval()
        logits = (model(x) + model(x.flip(-1))) / 2
    top1_flip = 100.0 * (logits.argmax(1) == splits.test.labels).double().mean().item()
    assert result["top1_flip"] == pytest.approx(round(top1_flip, 4))
    assert result["top1"] == evaluate_run(out)["top1"]  # the single view is unchanged


def test_other_data(tmp_path):
    out, run, _ = _run_dir(tmp_path)
    other = _npz(tmp_path / "other.npz", n_test=40, seed=7)
    result = evaluate_run(out, data=other)
    top1, _, n = _scores(run.model, other)
    assert (result["data"], result["test_images"]) == (other, 40) and n == 40
    assert result["top1"] == pytest.approx(round(top1, 4))


def test_a_checkpoint_without_ema_weights_scores_the_model_for_ema(tmp_path):
    out, run, _ = _run_dir(tmp_path, ema_decay=0.0)
    assert run.ema is None
    assert evaluate_run(out, ema=True)["top1"] == evaluate_run(out)["top1"]


def test_not_a_run_or_no_checkpoint_yet(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not a netscale run directory \(no spec"):
        evaluate_run(tmp_path)
    out, _, _ = _run_dir(tmp_path, save=False)
    assert (out / "spec.yaml").is_file()  # a run's directory, before its first checkpoint
    with pytest.raises(FileNotFoundError, match=f"run '{out}' has no complete checkpoint yet"):
        evaluate_run(out)


def test_weights_are_read_from_the_checkpoint_not_rebuilt(tmp_path):
    out, run, _ = _run_dir(tmp_path)
    fresh = build(load(out / "spec.yaml"))  # what an untrained model of the spec scores
    state = {k: v for k, v in fresh.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert any(not torch.equal(v, run.model.state_dict()[k]) for k, v in state.items())
    torch.manual_seed(123)  # the global seed does not matter: the weights are loaded
    first = evaluate_run(out)
    torch.manual_seed(456)
    assert evaluate_run(out) == first
