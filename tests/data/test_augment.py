"""netscale.data.augment: determinism, shapes, targets, each transform's effect."""

import pytest
import torch

from netscale.data import AugmentConfig, eval_batch, train_batch
from netscale.data.augment import random_crop, random_flip

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
FULL = AugmentConfig(
    crop_padding=4, flip=True, randaug_layers=2, randaug_magnitude=9, mixup_alpha=0.2,
    cutmix_alpha=1.0, label_smoothing=0.1,
)  # fmt: skip


def _batch(n=16, size=12):
    g = torch.Generator().manual_seed(123)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    return images, torch.arange(n) % 5


def _run(config, seed, resolution=12, images=None, labels=None):
    if images is None:
        images, labels = _batch()
    g = torch.Generator().manual_seed(seed)
    return train_batch(
        images, labels, config=config, resolution=resolution, mean=MEAN, std=STD,
        num_classes=5, generator=g,
    )  # fmt: skip


def test_same_seed_same_batch_different_seed_differs():
    x1, t1 = _run(FULL, seed=0)
    x2, t2 = _run(FULL, seed=0)
    assert torch.equal(x1, x2) and torch.equal(t1, t2)
    x3, _ = _run(FULL, seed=1)
    assert not torch.equal(x1, x3)


def test_global_rng_is_not_used():
    torch.manual_seed(0)
    x1, t1 = _run(FULL, seed=4)
    torch.manual_seed(99)
    x2, t2 = _run(FULL, seed=4)
    assert torch.equal(x1, x2) and torch.equal(t1, t2)


@pytest.mark.parametrize("resolution", [8, 12, 20])
def test_shapes_dtypes_and_targets(resolution):
    x, t = _run(FULL, seed=2, resolution=resolution)
    assert x.shape == (16, 3, resolution, resolution) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert t.shape == (16, 5) and t.dtype == torch.float32
    assert torch.allclose(t.sum(1), torch.ones(16))
    assert t.min() >= 0.1 / 5 - 1e-6  # label smoothing floor
    low = (0 - max(MEAN)) / min(STD)
    high = (1 - min(MEAN)) / min(STD)
    assert x.min() >= low - 1e-4 and x.max() <= high + 1e-4


def test_no_augmentation_is_normalization():
    images, labels = _batch()
    x, t = _run(AugmentConfig(), seed=0, images=images, labels=labels)
    want = eval_batch(images, resolution=12, mean=MEAN, std=STD)
    assert torch.equal(x, want)
    assert torch.equal(t, torch.nn.functional.one_hot(labels, 5).float())
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    assert torch.allclose(want, (images / 255 - mean) / std, atol=1e-5)


def test_label_smoothing_values():
    _, t = _run(AugmentConfig(label_smoothing=0.2), seed=0)
    assert torch.allclose(t.max(1).values, torch.full((16,), 0.8 + 0.04))


def test_flip_and_crop_change_images():
    images, _ = _batch(n=64)
    g = torch.Generator().manual_seed(0)
    flipped = random_flip(images, generator=g)
    same = (flipped == images).flatten(1).all(1)
    mirrored = (flipped == images.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and 10 < int(mirrored.sum()) < 54
    cropped = random_crop(images, 2, generator=g)
    assert cropped.shape == images.shape
    assert (cropped != images).flatten(1).any(1).float().mean() > 0.8
    white = torch.full((64, 3, 8, 8), 255, dtype=torch.uint8)
    zero = random_crop(white, 2, generator=g, mode="zeros")
    shifted = (zero == 0).flatten(1).any(1)  # zero padding entered the window
    assert 0.5 < shifted.float().mean() < 1
    assert torch.equal(random_crop(white, 2, generator=g), white)  # reflect adds no zeros


def test_crop_reflect_matches_pad_for_fixed_offset():
    images, _ = _batch(n=1, size=6)
    padded = torch.nn.functional.pad(images, (3, 3, 3, 3), mode="reflect")
    g = torch.Generator().manual_seed(0)
    out = random_crop(images, 3, generator=g)
    windows = [padded[0, :, i : i + 6, j : j + 6] for i in range(7) for j in range(7)]
    assert any(torch.equal(out[0], w) for w in windows)


def test_randaugment_magnitude_zero_vs_positive():
    images, labels = _batch(n=64)
    base, _ = _run(AugmentConfig(), seed=0, images=images, labels=labels)
    zero, _ = _run(AugmentConfig(randaug_layers=2), seed=0, images=images, labels=labels)
    strong = AugmentConfig(randaug_layers=2, randaug_magnitude=15)
    x, _ = _run(strong, seed=0, images=images, labels=labels)
    changed_zero = (zero != base).flatten(1).any(1).float().mean()
    changed_strong = (x != base).flatten(1).any(1).float().mean()
    assert changed_strong > changed_zero and changed_strong > 0.5


def test_mixup_and_cutmix_mix_targets():
    for config in (AugmentConfig(mixup_alpha=1.0), AugmentConfig(cutmix_alpha=1.0)):
        _, t = _run(config, seed=3)
        assert torch.allclose(t.sum(1), torch.ones(16))
        assert ((t > 0).sum(1) == 2).any()


def test_config_validation():
    with pytest.raises(ValueError, match="randaug_magnitude"):
        AugmentConfig(randaug_magnitude=31)
    with pytest.raises(ValueError, match="crop_mode"):
        AugmentConfig(crop_mode="edge")
    images, _ = _batch()
    with pytest.raises(ValueError, match="channels"):
        eval_batch(images, resolution=8, mean=(0.5,), std=(0.2,))
    with pytest.raises(ValueError, match="uint8"):
        eval_batch(images.float(), resolution=8, mean=MEAN, std=STD)
