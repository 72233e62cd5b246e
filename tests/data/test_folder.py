"""netscale.data.folder: decoding, sizes, corrupt images, layout errors."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from netscale.data import load_data
from netscale.data.scan import MAX_CORRUPT_FRACTION


def _make_folder(root, per_class=50, corrupt=0, odd_size=False):
    """Two classes in train (``per_class`` PNGs each), 3 per class in val."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", 3)):
        for name in ("cat", "dog"):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    if odd_size:
        Image.new("RGB", (16, 10), (255, 0, 0)).save(root / "val" / "dog" / "big.PNG")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    for i in range(corrupt):
        data = (root / "train" / "dog" / "0.png").read_bytes()
        (root / "train" / "dog" / f"bad{i}.png").write_bytes(data[: len(data) // 2])
    return root


def test_folder_loads(tmp_path):
    d = load_data(f"memfolder:{_make_folder(tmp_path, odd_size=True)}")
    assert d.class_names == ("cat", "dog") and d.num_classes == 2
    assert d.train.images.shape == (100, 3, 6, 8)  # (N, C, H, W) of the common size
    assert len(d.test) == 7 and d.skipped == 0
    assert d.train.labels.tolist() == [0] * 50 + [1] * 50
    red = d.test.images[-1]  # the 16x10 image, fitted to 8x6
    assert red[0].min() == 255 and red[1].max() == 0


def test_folder_skips_one_corrupt_image(tmp_path):
    root = _make_folder(tmp_path, corrupt=1)
    with pytest.warns(UserWarning, match="bad0.png"):
        d = load_data(f"memfolder:{root}")
    assert d.skipped == 1 and len(d.train) == 100


def test_folder_too_many_corrupt_images(tmp_path):
    root = _make_folder(tmp_path, per_class=10, corrupt=2)
    assert MAX_CORRUPT_FRACTION * 28 < 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"2 of 28 image files are corrupt"):
            load_data(f"memfolder:{root}")


def test_folder_grayscale_and_layout_errors(tmp_path):
    for split in ("train", "val"):
        (tmp_path / split / "a").mkdir(parents=True)
        Image.new("L", (4, 4), 7).save(tmp_path / split / "a" / "x.png")
    d = load_data(f"memfolder:{tmp_path}")
    assert d.train.images.shape == (1, 1, 4, 4) and int(d.train.images[0, 0, 0, 0]) == 7
    (tmp_path / "val" / "b").mkdir()
    with pytest.raises(ValueError, match=r"val/b: class in val but not in train"):
        load_data(f"memfolder:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="train"):
        load_data(f"memfolder:{tmp_path / 'nowhere'}")


def test_empty_class_directory_is_refused(tmp_path):
    root = _make_folder(tmp_path, per_class=2)
    (root / "train" / "emu").mkdir()
    (root / "train" / "emu" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError) as err:
        load_data(f"memfolder:{root}")
    assert f"class directory {root / 'train' / 'emu'} holds no image files" in str(err.value)


def test_class_of_only_corrupt_images_is_refused(tmp_path):
    root = _make_folder(tmp_path)  # 106 images, so one corrupt file stays under 1%
    (root / "train" / "emu").mkdir()
    (root / "train" / "emu" / "0.png").write_bytes(b"not a png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"train/emu has no readable images"):
            load_data(f"memfolder:{root}")


def test_val_may_lack_a_class(tmp_path):
    root = _make_folder(tmp_path, per_class=2)
    for path in (root / "val" / "dog").iterdir():
        path.unlink()
    d = load_data(f"memfolder:{root}")
    assert d.num_classes == 2 and d.test.labels.tolist() == [0, 0, 0]


def test_empty_val_is_refused_unless_minival(tmp_path):
    root = _make_folder(tmp_path, per_class=4)
    for path in (root / "val").glob("*/*.png"):
        path.unlink()
    with pytest.raises(ValueError, match=r"test split \(.*/val\) holds 0 images"):
        load_data(f"memfolder:{root}")
    assert len(load_data(f"memfolder:{root}", minival=0.25).test) == 2


def test_unreadable_file_is_an_error_not_a_skip(tmp_path, monkeypatch):
    root = _make_folder(tmp_path, per_class=2)
    locked, real_open = root / "train" / "dog" / "1.png", Image.open

    def open_(path, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", open_)
    with pytest.raises(ValueError, match=rf"cannot read {locked} \(Permission denied\)"):
        load_data(f"memfolder:{root}")


def test_unreadable_directory_is_a_one_line_error(tmp_path, monkeypatch):
    root = _make_folder(tmp_path, per_class=2)
    locked, real_iterdir = root / "val" / "cat", Path.iterdir

    def iterdir(self):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(ValueError, match=rf"cannot read directory {locked} \(Permission"):
        load_data(f"memfolder:{root}")
