"""netscale.data.stream and steps: the streamed ImageFolder, per-sample transforms, workers,
corrupt files, user Datasets."""

import numpy as np
import pytest
import torch
from PIL import Image

from netscale.data import AugmentConfig, load_data
from netscale.data.augment import normalize
from netscale.data.loader import train_batches
from netscale.data.steps import eval_steps, train_steps
from netscale.data.stream import IMAGENET_MEAN, StreamSplits, stream_datasets
from netscale.data.transforms import SampleSettings, sample_eval, sample_train


def make_jpeg_folder(root, per_class=12, val=3, classes=("ant", "bee", "cat"), seed=0):
    """JPEGs of varied sizes (24-60 px), one color per class plus noise."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("val", val)):
        for k, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                h, w = rng.integers(24, 61, 2)
                base = np.zeros((h, w, 3), np.uint8)
                base[..., k % 3] = 200
                noise = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
                Image.fromarray(base + noise).save(root / split / name / f"{i}.jpg", quality=90)
    return root


def test_folder_streams_with_its_listing_checked(tmp_path):
    d = load_data(f"folder:{make_jpeg_folder(tmp_path)}")
    assert isinstance(d, StreamSplits)
    assert (len(d.train), len(d.test), d.num_classes) == (36, 9, 3)
    assert d.class_names == ("ant", "bee", "cat") and d.mean == IMAGENET_MEAN
    (tmp_path / "train" / "dog").mkdir()
    with pytest.raises(ValueError, match=r"train/dog holds no image files"):
        load_data(f"folder:{tmp_path}")


def test_minival_holds_out_train_files(tmp_path):
    d = load_data(f"folder:{make_jpeg_folder(tmp_path)}", minival=0.25, seed=1)
    assert (len(d.train), len(d.test)) == (27, 9)
    held = {p for p, _ in d.test.dataset.files}
    assert all("train" in str(p) for p in held)
    assert held.isdisjoint(p for p, _ in d.train.dataset.files)


def _batches(data, workers, config, epoch=0, resolution=32):
    steps = train_steps(
        data, config, resolution=resolution, per_rank=8, seed=5, epoch=epoch, workers=workers
    )
    return [(b.images, b.labels) for b in steps]


def test_samples_do_not_depend_on_the_workers(tmp_path):
    data = load_data(f"folder:{make_jpeg_folder(tmp_path)}")
    config = AugmentConfig(crop="resized", crop_min_scale=0.2, flip=True, randaug_layers=2,
                           randaug_magnitude=9.0)  # fmt: skip
    zero, two = _batches(data, 0, config), _batches(data, 2, config)
    assert len(zero) == 36 // 8
    for (xa, ya), (xb, yb) in zip(zero, two, strict=True):
        assert xa.shape == (8, 3, 32, 32) and xa.dtype == torch.uint8
        # workers on a CPU also normalize: the same numbers as normalizing here
        assert xb.dtype == torch.float32
        assert torch.equal(normalize(xa, data.mean, data.std), xb) and torch.equal(ya, yb)
    other = _batches(data, 0, config, epoch=1)
    assert not torch.equal(zero[0][0], other[0][0])  # a new epoch draws anew


def test_a_sample_is_a_function_of_seed_epoch_and_index_only(tmp_path):
    data = load_data(f"folder:{make_jpeg_folder(tmp_path)}")
    config = AugmentConfig(crop="resized", flip=True)
    settings = SampleSettings(config, 24, seed=5, epoch=0)
    batch = next(iter(_batches(data, 0, config, resolution=24)))
    first = next(train_batches(36, 8, seed=5, epoch=0))[0].item()
    image, label, _ = data.train.dataset[first]
    assert torch.equal(sample_train(image, first, settings), batch[0][0])
    assert label == batch[1][0].item()


def test_pad_crop_and_eval_center_crop(tmp_path):
    image = torch.zeros((3, 40, 80), dtype=torch.uint8)
    image[:, 10:30, 30:50] = 255  # a white square in the center of a 40 x 80 image
    centre = sample_eval(image, 20, 0.5)  # the central 20 x 20 of the shorter side 40
    assert centre.shape == (3, 20, 20) and centre.min() == 255
    whole = sample_eval(image, 20, 1.0)  # central 40 x 40: the square is half of it
    assert 0.2 < (whole > 128).float().mean() < 0.3
    settings = SampleSettings(AugmentConfig(crop="pad", crop_padding=4), 20, seed=0, epoch=0)
    shifted = sample_train(image, 0, settings)
    assert shifted.shape == (3, 20, 20) and not torch.equal(shifted, whole)


def test_corrupt_files_leave_the_batch_and_are_named(tmp_path):
    root = make_jpeg_folder(tmp_path, per_class=4, val=1)
    good = (root / "train" / "ant" / "0.jpg").read_bytes()
    (root / "train" / "ant" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "train" / "bee" / "empty.jpg").write_bytes(b"")
    (root / "train" / "cat" / "text.png").write_text("not an image")
    data = load_data(f"folder:{root}")
    assert len(data.train) == 15
    config = AugmentConfig()
    steps = list(train_steps(data, config, resolution=16, per_rank=15, seed=0, epoch=0))
    (batch,) = steps
    names = sorted(p.rsplit("/", 1)[-1] for p in batch.skipped)
    assert names == ["empty.jpg", "text.png", "truncated.jpg"]
    assert batch.images.shape == (12, 3, 16, 16) and len(batch.labels) == 12
    evaluated = list(eval_steps(data.test, resolution=16, crop_fraction=0.875, batch_size=2))
    assert sum(len(b.labels) for b in evaluated) == 3


def test_an_unreadable_file_is_an_error_before_training(tmp_path, monkeypatch):
    import os

    from netscale.data import scan

    root = make_jpeg_folder(tmp_path, per_class=2, val=1)
    denied = root / "train" / "ant" / "0.jpg"
    # tests may run as root, who reads any file: deny this one the way the OS would
    monkeypatch.setattr(scan.os, "access", lambda p, mode: p != denied and os.access(p, mode))
    with pytest.raises(ValueError, match=r"cannot read .*0.jpg \(Permission denied\)"):
        load_data(f"folder:{root}")


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.images = [torch.randint(0, 256, (3, 20, 28), generator=g, dtype=torch.uint8)
                       for _ in range(n)]  # fmt: skip

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = self.images[i]
        if i % 2:  # PIL images are accepted too
            image = Image.fromarray(image.permute(1, 2, 0).numpy())
        return image, i % 2


def test_any_dataset_of_image_label_pairs_streams():
    data = stream_datasets(_Pairs(16, 0), _Pairs(4, 1), num_classes=2, name="pairs")
    batches = _batches(data, 0, AugmentConfig(crop="resized"), resolution=12)
    assert [b[0].shape for b in batches] == [(8, 3, 12, 12)] * 2
    with pytest.raises(ValueError, match=r"num_classes=1 is invalid"):
        stream_datasets(_Pairs(2, 0), _Pairs(2, 0), num_classes=1)
    with pytest.raises(TypeError, match=r"not a map-style Dataset"):
        stream_datasets(iter([]), _Pairs(2, 0), num_classes=2)
    with pytest.raises(ValueError, match=r"minival needs the labels"):
        from netscale.data.datasets import stratified_split
        from netscale.data.stream import stream_minival

        stream_minival(data, 0.25, 0, stratified_split)
