"""Evaluation: single-view and flip-TTA top-1 from one pass, exact over a known model."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netscale.data import ArrayDataset
from netscale.training.evaluate import evaluate


class _LeftRight(nn.Module):
    """Class 0 scores the top-left pixel, class 1 the top-right one."""

    def forward(self, x):  # (B, 1, H, W) -> (B, 2)
        return torch.stack([x[:, 0, 0, 0], x[:, 0, 0, -1]], dim=1)


def _data() -> ArrayDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (37, 1, 8, 8), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 2, (37,), generator=g)
    return ArrayDataset(images=images, labels=labels, name="toy")


def _manual(model, data) -> tuple[float, float, float]:
    x = (data.images.float() - 127.5) / 63.75  # mean 0.5, std 0.25 in [0, 1] units
    logits = model(x)
    flipped = (logits + model(x.flip(3))) / 2
    y = data.labels
    top1 = 100 * (logits.argmax(-1) == y).float().mean().item()
    top1_flip = 100 * (flipped.argmax(-1) == y).float().mean().item()
    return top1, top1_flip, F.cross_entropy(logits, y).item()


@pytest.mark.parametrize("channels_last", [True, False])
def test_flip_tta_averages_the_mirrored_logits(channels_last):
    data, model = _data(), _LeftRight()
    kw = dict(resolution=8, mean=(0.5,), std=(0.25,), batch_size=10, channels_last=channels_last)
    res = evaluate(model, data, flip=True, **kw)
    top1, top1_flip, loss = _manual(model, data)
    assert res.images == 37
    assert res.top1 == pytest.approx(top1) and res.loss == pytest.approx(loss, rel=1e-5)
    # Mirroring swaps this model's two logits, so the average is a tie: argmax -> class 0.
    assert res.top1_flip == pytest.approx(top1_flip)
    assert res.top1_flip == pytest.approx(100 * (data.labels == 0).float().mean().item())
    plain = evaluate(model, data, **kw)
    assert plain.top1_flip is None and plain.top1 == res.top1


def test_precision_must_be_resolved():
    with pytest.raises(ValueError, match="precision='auto' is invalid here; allowed: fp32, bf16"):
        evaluate(_LeftRight(), _data(), resolution=8, mean=(0.5,), std=(0.25,), precision="auto")


class _Pixels(nn.Module):
    """Two classes scored by two fixed, asymmetric pixel weightings (no symmetry to tie)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = nn.Parameter(torch.randn(2, 1, 8, 8, generator=g))

    def forward(self, x):  # (B, 1, 8, 8) -> (B, 2)
        return torch.einsum("bchw,kchw->bk", x, self.w)


@pytest.mark.parametrize("channels_last", [True, False])
def test_translate_tta_weights_six_views_as_airbench(channels_last):
    data, model = _data(), _Pixels()
    kw = dict(resolution=8, mean=(0.5,), std=(0.25,), batch_size=10, channels_last=channels_last)
    res = evaluate(model, data, flip=True, translate=1, **kw)
    x = (data.images.float() - 127.5) / 63.75
    with torch.no_grad():

        def mirror(v):
            return (model(v) + model(v.flip(3))) / 2

        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        views = [padded[:, :, 0:8, 0:8], padded[:, :, 2:10, 2:10]]
        tta = 0.5 * mirror(x) + 0.25 * mirror(views[0]) + 0.25 * mirror(views[1])
    expected = 100 * (tta.argmax(-1) == data.labels).float().mean().item()
    assert res.top1_tta == pytest.approx(expected)
    assert res.top1_flip == pytest.approx(_manual(model, data)[1])
    assert evaluate(model, data, flip=True, **kw).top1_tta is None


def test_translate_tta_needs_flip():
    with pytest.raises(ValueError, match="translate=1 needs flip=True"):
        evaluate(_Pixels(), _data(), resolution=8, mean=(0.5,), std=(0.25,), translate=1)
