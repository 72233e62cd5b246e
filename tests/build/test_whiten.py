"""init_whitening: the stem's outputs are white on the images it was set from."""

import dataclasses

import pytest
import torch

import netscale
from netscale.build import build, init_whitening
from netscale.build.whiten import patch_covariance
from netscale.spec import StemSpec


def _images(n: int = 64, c: int = 3, size: int = 12, seed: int = 0) -> torch.Tensor:
    """Correlated channels and smooth pixels (neighbouring patch entries correlate), so
    whitening has work to do; the mean is not zero, so centering matters."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, size + 1, size + 1, generator=gen)
    x = (x[..., 1:, 1:] + x[..., :-1, :-1] + 0.5 * x[..., 1:, :-1]) / 2  # smooth
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.3, 0.0, 1.0]])[:c, :c]
    return torch.einsum("dc,nchw->ndhw", mix, x) + 0.3


def _output_covariance(model, images):
    """Covariance across output channels of the stem conv (before the act, bias 0)."""
    with torch.no_grad():
        y = model.stem.conv(images).double()  # (N, 2d, H', W')
    y = y.transpose(0, 1).reshape(y.shape[1], -1)  # (2d, positions)
    return torch.cov(y, correction=0)


def test_stem_outputs_are_white(airbench94):
    torch.manual_seed(0)
    model = build(airbench94)
    images = _images()
    assert init_whitening(model, images) is True
    d = 3 * 2 * 2
    cov = _output_covariance(model, images)
    lam = torch.linalg.eigvalsh(patch_covariance(images, 2)).flip(0)
    # diag(lambda / (lambda + eps)): the identity up to eps / lambda
    torch.testing.assert_close(cov[:d, :d], torch.diag(lam / (lam + 5e-4)), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        cov[:d, :d], torch.eye(d, dtype=cov.dtype), atol=5e-4 / lam.min().item() + 1e-6, rtol=0
    )
    torch.testing.assert_close(cov[d:, d:], cov[:d, :d])  # the negated filters
    torch.testing.assert_close(cov[:d, d:], -cov[:d, :d])
    w = model.stem.conv.weight
    assert not w.requires_grad and model.stem.conv.bias.requires_grad
    assert torch.count_nonzero(model.stem.conv.bias) == 0
    torch.testing.assert_close(w[d:], -w[:d])
    norms = w[:d].flatten(1).norm(dim=1)  # 1 / sqrt(lambda + eps): smallest first
    assert torch.all(norms[1:] >= norms[:-1])


def test_deterministic_and_chunked(airbench94, monkeypatch):
    images = _images(n=40, seed=3)
    first, second = build(airbench94), build(airbench94)
    init_whitening(first, images)
    init_whitening(second, images)
    assert torch.equal(first.stem.conv.weight, second.stem.conv.weight)
    direct = torch.cov(  # all patches at once, as rows
        torch.nn.functional.unfold(images.double(), 2).transpose(1, 2).reshape(-1, 12).T,
        correction=0,
    )
    monkeypatch.setattr("netscale.build.whiten._PATCHES_PER_CHUNK", 500)  # 4 images a chunk
    torch.testing.assert_close(patch_covariance(images, 2), direct)


def test_odd_kernel_and_one_channel(airbench94):
    spec = netscale.resolve_spec(airbench94, in_width=1)  # the stem follows in_width
    assert spec.stem.width == 2 * 1 * 2 * 2
    spec = dataclasses.replace(spec, stem=StemSpec(kind="whiten", width=18, kernel=3, stride=1))
    model = build(spec)
    images = _images(c=1)
    assert init_whitening(model, images)
    cov = _output_covariance(model, images)
    torch.testing.assert_close(cov[:9, :9], torch.eye(9, dtype=cov.dtype), atol=2e-2, rtol=0)


def test_other_models_are_left_alone():
    model = netscale.create_model("resnet_18", num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert init_whitening(model, _images()) is False
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert init_whitening(torch.nn.Conv2d(3, 24, 2), _images()) is False  # no spec


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "must be a float tensor .* torch.uint8"),
        (torch.zeros(2, 1, 8, 8), "images have 1 channels; the whitening stem takes in_width=3"),
        (torch.zeros(2, 3, 1, 8), r"hold no 2x2 patch"),
        (torch.zeros(0, 3, 8, 8), r"hold no 2x2 patch"),
        (torch.zeros(3, 8, 8), r"must be \(N, C, H, W\)"),
        (torch.full((2, 3, 8, 8), float("nan")), "NaN"),
        ([[1.0]], "must be a torch.Tensor"),
    ],
)
def test_bad_images(airbench94, images, message):
    model = build(airbench94)
    with pytest.raises(ValueError, match=message):
        init_whitening(model, images)
    assert model.stem.conv.weight.requires_grad  # nothing changed


def test_bad_eps(airbench94):
    model = build(airbench94)
    with pytest.raises(ValueError, match="eps=-1 is invalid"):
        init_whitening(model, _images(), eps=-1)
    flat = torch.ones(2, 3, 4, 4)  # constant images: every eigenvalue is 0
    with pytest.raises(ValueError, match="zero eigenvalue and eps=0"):
        init_whitening(model, flat, eps=0)
