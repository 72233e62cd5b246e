"""netscale.data.unlabeled: the images predict labels (flat folders, ImageFolders, npz
without labels, digits) and the same images read back by reference, fitted."""

import numpy as np
import pytest
import torch
from PIL import Image

from netscale.data import load_data
from netscale.data.stream import FolderImages, StreamSplit
from netscale.data.unlabeled import load_unlabeled, read_back

from .test_stream import make_jpeg_folder


def _pngs(root, n=5, size=(10, 12), mode="RGB", seed=0):
    """PNGs directly in `root` (lossless, so read back exactly)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = []
    for i in range(n):
        shape = (*size, 3) if mode == "RGB" else size
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(a).save(root / f"im{i}.png")
        arrays.append(a)
    return arrays


def test_a_flat_folder_is_its_images_directly_in_it(tmp_path):
    _pngs(tmp_path / "u", n=3)
    (tmp_path / "u" / "notes.txt").write_text("not an image")
    _pngs(tmp_path / "u" / "sub", n=2)  # subdirectories are not read
    u = load_unlabeled(f"folder:{tmp_path / 'u'}")
    assert u.source == f"folder:{(tmp_path / 'u').resolve()}"
    assert u.files.tolist() == ["im0.png", "im1.png", "im2.png"] and u.split is None
    (part,) = u.parts
    assert isinstance(part, StreamSplit) and isinstance(part.dataset, FolderImages)
    assert part.dataset.labels() == [0, 1, 2]  # row numbers, not classes
    with pytest.raises(ValueError, match=r"unlabeled folder .* has no split 'train'"):
        load_unlabeled(f"folder:{tmp_path / 'u'}", "train")


def test_an_empty_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty holds no image files \(.jpg"):
        load_unlabeled(f"folder:{tmp_path / 'empty'}")
    _pngs(tmp_path / "nested" / "cats", n=1)
    with pytest.raises(ValueError, match=r"holds no image files .*only subdirectories: cats\)"):
        load_unlabeled(f"folder:{tmp_path / 'nested'}")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_unlabeled(f"folder:{tmp_path / 'missing'}")


def test_an_image_folder_keeps_its_layout_checks_and_splits(tmp_path):
    root = make_jpeg_folder(tmp_path / "f", per_class=2, val=1)
    train = load_unlabeled(f"folder:{root}", "train")
    assert train.files.tolist()[:2] == ["train/ant/0.jpg", "train/ant/1.jpg"]
    assert len(train) == 6 and len(load_unlabeled(f"folder:{root}", "test")) == 3
    assert len(load_unlabeled(f"folder:{root}")) == 9
    (root / "val" / "dog").mkdir()  # a val class unknown to train: refused as in training
    with pytest.raises(ValueError, match="class in val but not in train"):
        load_unlabeled(f"folder:{root}")


def test_npz_needs_no_labels(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (7, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "u.npz", x_train=x)
    u = load_unlabeled(f"npz:{tmp_path / 'u.npz'}")
    assert u.split.tolist() == ["train"] * 7 and u.index.tolist() == list(range(7))
    (part,) = u.parts
    assert torch.equal(part.images[:, 0], torch.from_numpy(x)) and part.labels.tolist() == list(
        range(7)
    )
    with pytest.raises(ValueError, match=r"missing arrays \['x_test'\]"):
        load_unlabeled(f"npz:{tmp_path / 'u.npz'}", "test")


def test_digits_rows_number_both_splits(tmp_path):
    u = load_unlabeled("digits")
    assert [len(p) for p in u.parts] == [1438, 359] and u.source == "digits"
    assert u.parts[1].labels[0].item() == 1438  # rows continue across parts
    assert u.split[1438] == "test" and u.index[1438] == 0


def test_sources_that_cannot_be_labeled(tmp_path):
    with pytest.raises(ValueError, match=r"'memfolder:x' cannot be labeled \(use 'folder:PATH'"):
        load_unlabeled("memfolder:x")
    with pytest.raises(ValueError, match="split='val' is invalid; allowed: train, test, all"):
        load_unlabeled("digits", "val")


def test_read_back_fits_channels_and_size(tmp_path):
    arrays = _pngs(tmp_path / "u", n=3, size=(10, 12))
    source = f"folder:{tmp_path / 'u'}"
    same = read_back(source, files=["im2.png", "im0.png"], channels=3, size=(10, 12))
    assert torch.equal(same, torch.from_numpy(np.stack([arrays[2], arrays[0]])).permute(0, 3, 1, 2))
    small = read_back(source, files=["im1.png"], channels=1, size=(8, 8))
    assert small.shape == (1, 1, 8, 8) and small.dtype == torch.uint8
    with pytest.raises(ValueError, match=r"cannot read back the labeled image .*gone.png"):
        read_back(source, files=["gone.png"], channels=3, size=(10, 12))


def test_read_back_by_split_and_index():
    digits = load_data("digits")
    got = read_back("digits", split=["test", "train", "test"], index=[5, 0, 1], channels=1,
                    size=(8, 8))  # fmt: skip
    want = torch.stack([digits.test.images[5], digits.train.images[0], digits.test.images[1]])
    assert torch.equal(got, want)
    rgb = read_back("digits", split=["train"], index=[0], channels=3, size=(16, 16))
    assert rgb.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="index 400 is out of range for its split 'test' of 359"):
        read_back("digits", split=["test"], index=[400], channels=1, size=(8, 8))
