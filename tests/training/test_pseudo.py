"""Training with pseudo-labels: batches mix labeled and pseudo-labeled images
deterministically, soft and hard targets reach the loss as specified, resume is exact and
refuses another labels file, and each error is one line before anything is written.
The labels files reference digits' test split (probabilities made up here)."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netscale
from netscale.data import load_data
from netscale.data.augment import normalize
from netscale.data.loader import pseudo_batches, train_batches
from netscale.data.pseudo import Predictions
from netscale.training import epoch

from .conftest import assert_same_weights, stop_after_first_epoch, tiny_spec, without_timing

# no crop, flip or mixup: a batch's images are its stored images, normalized
PLAIN = dict(batch_size=32, precision="fp32", label_smoothing=0.1, crop_padding=0, flip=False)


def _labels(path, n=40, k=10, seed=0, **changes):
    """A labels file of `n` digits test images (every 3rd), made-up probabilities."""
    logits = 3 * np.random.default_rng(seed).normal(size=(n, k))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    fields = dict(
        class_names=tuple(str(i) for i in range(k)),
        source="digits",
        weights="ema",
        run="/runs/teacher",
        spec_id="0123456789ab",
        split=np.array(["test"] * n),
        index=np.arange(n) * 3,
    )
    return Predictions.from_probs(probs, 5, **{**fields, **changes}).save(path)


def _record_steps(monkeypatch):
    """Every (x, y) the pure update receives."""
    seen = []
    real = epoch.update

    def spy(model, train_model, optimizer, ema, x, y, **kw):
        seen.append((x.detach().clone(), y.detach().clone()))
        return real(model, train_model, optimizer, ema, x, y, **kw)

    monkeypatch.setattr(epoch, "update", spy)
    return seen


@pytest.mark.parametrize("targets", ["soft", "hard"])
def test_targets_reach_the_loss_as_specified(tmp_path, monkeypatch, targets):
    labels = _labels(tmp_path / "labels.npz")
    seen = _record_steps(monkeypatch)
    result = netscale.train(
        tiny_spec(), "digits", "quick", tmp_path / "run", epochs=1, seed=5,
        pseudo=labels.path, pseudo_ratio=0.25, pseudo_targets=targets, **PLAIN,
    )  # fmt: skip
    digits = load_data("digits")
    assert result.status == "completed" and result.steps == len(seen) == 1438 // 24
    idx = next(train_batches(1438, 24, seed=5, epoch=0))  # 32 - round(32 * 0.25) labeled
    pidx = next(pseudo_batches(40, 8, seed=5, epoch=0))
    x, y = seen[0]
    want = torch.cat([digits.train.images[idx], digits.test.images[labels.index[pidx]]])
    assert torch.allclose(x, normalize(want, digits.mean, digits.std), atol=1e-6)
    smooth = F.one_hot(digits.train.labels[idx], 10).float() * 0.9 + 0.01
    assert torch.allclose(y[:24], smooth)  # labeled: label-smoothed
    probs = torch.from_numpy(labels.probs[pidx])
    if targets == "soft":  # the teacher's probabilities as they are
        assert torch.equal(y[24:], probs)
    else:  # one-hot of its argmax, smoothed as the labels
        assert torch.allclose(y[24:], F.one_hot(probs.argmax(1), 10).float() * 0.9 + 0.01)
    info = json.loads((tmp_path / "run" / "data.json").read_text())["pseudo"]
    assert info["sha256"] == labels.sha256 and info["path"] == str(labels.path.resolve())
    assert (info["ratio"], info["targets"], info["images"], info["per_rank"]) == (
        0.25, targets, 40, 8,
    )  # fmt: skip


def test_pseudo_batches_are_deterministic_and_resume_is_exact(tmp_path):
    """Two runs agree; a run stopped after its first epoch and resumed ends bit-identical
    to an uninterrupted one (metrics, weights, EMA) with mixup and augmentation on."""
    labels = _labels(tmp_path / "labels.npz", n=100).path
    kw = dict(
        epochs=2, batch_size=48, precision="fp32", ema_decay=0.9, mixup_alpha=0.2, flip=True,
        crop_padding=1, pseudo=labels, pseudo_ratio=0.5,
    )  # fmt: skip
    reference = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "ref", **kw)
    again = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "again", **kw)
    assert without_timing(again.metrics) == without_timing(reference.metrics)
    assert reference.steps == 2 * (1438 // 24)  # an epoch is a pass over the labeled set

    stop_after_first_epoch(tiny_spec(), tmp_path / "r", **kw)
    resumed = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "r", resume=True, **kw)
    assert without_timing(resumed.metrics) == without_timing(reference.metrics)
    assert_same_weights(tmp_path / "ref", tmp_path / "r", ("model.safetensors", "ema.safetensors"))
    soft = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "s", **{**kw, "epochs": 1})
    hard = netscale.train(
        tiny_spec(), "digits", "quick", tmp_path / "h", **{**kw, "epochs": 1},
        pseudo_targets="hard",
    )  # fmt: skip
    assert soft.metrics[0]["train_loss"] != hard.metrics[0]["train_loss"]


def test_resume_with_other_pseudo_labels_is_refused(tmp_path):
    first = _labels(tmp_path / "a.npz").path
    other = _labels(tmp_path / "b.npz", seed=1).path
    kw = dict(epochs=1, **PLAIN)
    netscale.train(tiny_spec(), "digits", "quick", tmp_path / "run", pseudo=first, **kw)
    before = (tmp_path / "run" / "data.json").read_text()
    for change, message in (
        (dict(pseudo=other), r"with pseudo-labels .*b.npz \(sha256 .*, ratio 0.5, soft targets\)"
         r": the run trained with pseudo-labels .*a.npz"),
        (dict(pseudo=first, pseudo_ratio=0.25), "ratio 0.25, soft targets"),
        (dict(pseudo=first, pseudo_targets="hard"), "ratio 0.5, hard targets"),
        ({}, "with no pseudo-labels: the run trained with pseudo-labels"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            netscale.train(tiny_spec(), "digits", "quick", tmp_path / "run", resume=True,
                           **kw, **change)  # fmt: skip
    assert (tmp_path / "run" / "data.json").read_text() == before
    plain = tmp_path / "plain"
    netscale.train(tiny_spec(), "digits", "quick", plain, **kw)
    with pytest.raises(ValueError, match=r"with pseudo-labels .*: the run trained with no "):
        netscale.train(tiny_spec(), "digits", "quick", plain, resume=True, pseudo=first, **kw)


def test_errors_are_one_line_and_write_nothing(tmp_path):
    good = _labels(tmp_path / "labels.npz").path
    out = tmp_path / "run"
    cases = [
        (dict(pseudo=good, pseudo_ratio=0.0), ValueError,
         r"pseudo_ratio=0.0 is invalid; .*\(0, 1\)"),
        (dict(pseudo=good, pseudo_ratio=1.5), ValueError, "pseudo_ratio=1.5 is invalid"),
        (dict(pseudo=good, pseudo_targets="argmax"), ValueError,
         "pseudo_targets='argmax' is invalid; allowed: soft, hard"),
        (dict(pseudo_ratio=0.5), ValueError, "need a labels file: pass pseudo=labels.npz"),
        (dict(pseudo=tmp_path / "none.npz"), FileNotFoundError, "pseudo-labels: no file at"),
        (dict(pseudo=tmp_path), FileNotFoundError, "pseudo-labels: no file at"),
        (dict(pseudo=_labels(tmp_path / "k5.npz", k=5).path), ValueError,
         r"have 5 classes \(probs \(40, 5\)\), the labeled data 'digits/train' and so the "
         "model 10"),
        (dict(pseudo=_labels(tmp_path / "names.npz", class_names=tuple("abcdefghij")).path),
         ValueError, "name class 0 'a', the labeled data '0'"),
        (dict(pseudo=good, pseudo_ratio=0.01), ValueError,
         "takes 0 pseudo-labeled images, leaving none of them"),
    ]  # fmt: skip
    arrays = _labels(tmp_path / "full.npz").arrays()
    del arrays["argmax"]
    np.savez(tmp_path / "partial.npz", **arrays)
    cases.append(
        (dict(pseudo=tmp_path / "partial.npz"), ValueError, r"missing arrays \['argmax'\]")
    )
    for kw, kind, message in cases:
        with pytest.raises(kind, match=message) as err:
            netscale.train(tiny_spec(), "digits", "quick", out, epochs=1, **{**PLAIN, **kw})
        assert "\n" not in str(err.value)
        assert not out.exists()
