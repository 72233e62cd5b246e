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
    with pytest.raises(
        ValueError, match=r"randaug_ops='torchvision' must be one of \('tf', 'timm'\)"
    ):
        AugmentConfig(randaug_ops="torchvision")
    with pytest.raises(ValueError, match="randaug_magnitude_std"):
        AugmentConfig(randaug_magnitude_std=-0.5)
    with pytest.raises(ValueError, match="crop_mode"):
        AugmentConfig(crop_mode="edge")
    images, _ = _batch()
    with pytest.raises(ValueError, match="channels"):
        eval_batch(images, resolution=8, mean=(0.5,), std=(0.2,))
    with pytest.raises(ValueError, match="uint8"):
        eval_batch(images.float(), resolution=8, mean=MEAN, std=STD)


def test_random_resized_crop_in_memory_uses_the_shared_boxes():
    from torchvision.ops import roi_align  # noqa: F401  (the in-memory resize)

    from netscale.data.augment import random_resized_crop
    from netscale.data.boxes import crop_boxes

    x = torch.arange(2 * 3 * 40 * 40, dtype=torch.int64).remainder(251).to(torch.uint8)
    x = x.view(2, 3, 40, 40)
    out = random_resized_crop(x, 20, 0.3, generator=torch.Generator().manual_seed(1))
    assert out.shape == (2, 3, 20, 20) and out.dtype == torch.uint8
    # a box of whole pixels resized to its own size is that box: check one exactly
    boxes = crop_boxes(40, 40, 2, 0.3, torch.Generator().manual_seed(1))
    left, top, right, bottom = (int(v) for v in boxes[0])
    same = random_resized_crop(x, right - left, 0.3, generator=torch.Generator().manual_seed(1))
    if right - left == bottom - top:
        assert torch.equal(same[0], x[0, :, top:bottom, left:right])
    else:  # non-square box: resampled; its mean stays close to the box's mean
        box = x[0, :, top:bottom, left:right].float().mean()
        assert abs(same[0].float().mean() - box) < 8


def test_random_erasing_replaces_one_box_per_chosen_image():
    from netscale.data.augment import random_erase

    x = torch.full((64, 3, 24, 24), 7.0)
    none = random_erase(x, 0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(none, x)
    erased = random_erase(x, 1.0, generator=torch.Generator().manual_seed(0))
    changed = (erased != 7.0).all(dim=1)  # (B, H, W): erased pixels get noise in all channels
    share = changed.float().mean(dim=(1, 2))
    assert (share > 0).float().mean() > 0.9  # nearly every image (some draws do not fit)
    assert share.max() <= 1 / 3 * 1.1 and share[share > 0].min() >= 0.02 * 0.5  # rounding
    for i in range(64):  # each erased region is one axis-aligned box
        rows, cols = changed[i].nonzero(as_tuple=True)
        if len(rows):
            h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
            assert h * w == len(rows)
    half = random_erase(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert 0.25 < ((half != 7.0).flatten(1).any(1)).float().mean() < 0.75


def test_eval_crop_fraction_takes_the_central_square():
    x = torch.zeros((1, 1, 40, 40), dtype=torch.uint8)
    x[:, :, 10:30, 10:30] = 255
    whole = eval_batch(x, resolution=40, mean=(0.0,), std=(1.0,), channels_last=False)
    centre = eval_batch(x, resolution=20, mean=(0.0,), std=(1.0,), channels_last=False,
                        crop_fraction=0.5)  # fmt: skip
    assert torch.equal(whole, x.float() / 255)
    assert centre.shape == (1, 1, 20, 20) and (centre == 1).all()


def test_sampled_batches_skip_the_per_image_steps():
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    cfg = AugmentConfig(crop_padding=4, flip=True, randaug_layers=2, randaug_magnitude=20.0)
    kw = dict(resolution=16, mean=MEAN, std=STD, num_classes=10, channels_last=False)
    y = torch.arange(4)
    sampled, _ = train_batch(x, y, config=cfg, generator=torch.Generator(), sampled=True, **kw)
    plain, _ = train_batch(x, y, config=AugmentConfig(), generator=torch.Generator(), **kw)
    assert torch.equal(sampled, plain)


def test_randaugment_settings_reach_rand_augment(monkeypatch):
    """train_batch, sample_train and the trainer's augment_config pass the op set and the
    magnitude noise through (as recipe fields randaug_ops / randaug_magnitude_std)."""
    import netscale.data.augment as augment
    import netscale.data.transforms as transforms
    from netscale.training.epoch import augment_config
    from netscale.training.recipe import Recipe
    from netscale.training.schedule import Stage

    seen = []

    def spy(images, **kw):
        seen.append({k: kw[k] for k in ("num_layers", "magnitude", "ops", "magnitude_std")})
        return images

    monkeypatch.setattr(augment, "rand_augment", spy)
    monkeypatch.setattr(transforms, "rand_augment", spy)
    recipe = Recipe(randaug_layers=2, randaug_magnitude=9.0, randaug_ops="timm",
                    randaug_magnitude_std=0.5)  # fmt: skip
    stage = Stage(start=0, resolution=12, dropout_rate=None, randaug_magnitude=7.0,
                  mixup_alpha=0.0)  # fmt: skip
    config = augment_config(recipe, stage)
    _run(config, seed=0)
    settings = transforms.SampleSettings(config=config, resolution=12, seed=0, epoch=0)
    transforms.sample_train(_batch(n=1)[0][0], 0, settings)
    want = {"num_layers": 2, "magnitude": 7.0, "ops": "timm", "magnitude_std": 0.5}
    assert seen == [want, want]


def test_randaugment_op_sets_differ():
    tf = AugmentConfig(randaug_layers=2, randaug_magnitude=9)
    timm = AugmentConfig(randaug_layers=2, randaug_magnitude=9, randaug_ops="timm")
    noisy = AugmentConfig(randaug_layers=2, randaug_magnitude=9, randaug_ops="timm",
                          randaug_magnitude_std=0.5)  # fmt: skip
    x_tf, _ = _run(tf, seed=0)
    x_timm, _ = _run(timm, seed=0)
    assert not torch.equal(x_tf, x_timm)
    assert torch.equal(_run(noisy, seed=0)[0], _run(noisy, seed=0)[0])


def test_soft_targets_are_taken_as_they_are_and_mixed_like_the_rest():
    images, labels = _batch()
    soft = torch.softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(1)), 1)
    g = torch.Generator().manual_seed(0)
    kw = dict(resolution=12, mean=MEAN, std=STD, num_classes=5, generator=g)
    x, t = train_batch(images, labels[:12], config=AugmentConfig(label_smoothing=0.2),
                       soft_targets=soft, **kw)  # fmt: skip
    assert x.shape[0] == t.shape[0] == 16
    smoothed = torch.nn.functional.one_hot(labels[:12], 5).float() * 0.8 + 0.04
    assert torch.allclose(t[:12], smoothed) and torch.equal(t[12:], soft)  # not smoothed
    _, mixed = train_batch(images, labels[:12], config=AugmentConfig(mixup_alpha=1.0),
                           soft_targets=soft, **kw)  # fmt: skip
    assert torch.allclose(mixed.sum(1), torch.ones(16)) and not torch.equal(mixed[12:], soft)
    with pytest.raises(ValueError, match="11 labels and 4 soft targets for 16 images"):
        train_batch(images, labels[:11], config=AugmentConfig(), soft_targets=soft, **kw)
