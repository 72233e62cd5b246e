"""netscale.data.npz: bad npz archives are refused up front with one-line messages."""

import re
from pathlib import Path

import numpy as np
import pytest

from netscale.data import load_data


def _arrays(n_train=8, n_test=4, shape=(6, 5, 3), classes=2):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def _load(tmp_path, name="d.npz", **changes):
    path = tmp_path / name
    np.savez(path, **{**_arrays(), **changes})
    return load_data(f"npz:{path}")


def _refused(tmp_path, pattern, name="d.npz", **changes):
    with pytest.raises(ValueError) as err:
        _load(tmp_path, name, **changes)
    message = str(err.value)
    assert str(tmp_path / name) in message and "\n" not in message
    assert re.search(pattern, message), message
    return message


def test_zero_byte_file(tmp_path):
    (tmp_path / "zero.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"zero\.npz: the file is empty \(0 bytes\)"):
        load_data(f"npz:{tmp_path / 'zero.npz'}")


def test_text_file_is_not_an_archive_and_pickle_is_never_suggested(tmp_path):
    (tmp_path / "notes.npz").write_text("x_train = [1, 2, 3]\n")
    with pytest.raises(ValueError) as err:
        load_data(f"npz:{tmp_path / 'notes.npz'}")
    assert "notes.npz: not an npz archive" in str(err.value)
    assert "pickle" not in str(err.value)


def test_truncated_archive(tmp_path):
    np.savez(tmp_path / "full.npz", **_arrays())
    data = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: not a readable npz archive"):
        load_data(f"npz:{tmp_path / 'cut.npz'}")


def test_object_array_is_refused_without_suggesting_pickle(tmp_path):
    objects = np.array([{"a": 1}, {"b": 2}], dtype=object)
    message = _refused(tmp_path, r"array 'y_test' has dtype object", y_test=objects)
    assert "allow_pickle" not in message


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.bool_])
def test_image_dtype_names_file_key_dtype_and_allowed(tmp_path, dtype):
    x = np.zeros((8, 6, 5, 3), dtype=dtype)
    _refused(tmp_path, rf"array 'x_train' has dtype {np.dtype(dtype)}; allowed: uint8", x_train=x)


def test_label_dtype_names_the_allowed_ones(tmp_path):
    y = np.array(["a", "b"] * 4)
    _refused(tmp_path, r"array 'y_train' has dtype <U1; allowed: integer", y_train=y)


def test_huge_label_is_refused_naming_the_value(tmp_path):
    y = np.arange(8) % 2
    y[5] = 10**9
    _refused(
        tmp_path,
        r"y_train\[5\]=1000000000 would make 1000000001 classes, more than the 8 training",
        y_train=y,
    )


def test_too_many_classes_in_the_test_labels(tmp_path):
    _refused(tmp_path, r"y_test\[3\]=8 would make 9 classes", y_test=np.array([0, 1, 0, 8]))


def test_negative_label_is_refused_naming_the_value(tmp_path):
    _refused(tmp_path, r"y_test\[2\]=-3 is negative", y_test=np.array([0, 1, -3, 1]))


def test_non_integer_label_is_refused_naming_the_value(tmp_path):
    y = np.array([0.0, 1.0, 0.5, 1.0])
    _refused(tmp_path, r"y_test\[2\]=0\.5 is not an integer class index", y_test=y)
    _refused(tmp_path, r"y_test\[1\]=nan", y_test=np.array([0.0, np.nan, 0.0, 1.0]))


def test_whole_float_and_column_labels_are_accepted(tmp_path):
    d = _load(tmp_path, y_train=(np.arange(8) % 2).astype(np.float32), y_test=np.ones((4, 1)))
    assert d.num_classes == 2 and d.test.labels.tolist() == [1, 1, 1, 1]


def test_labels_beyond_class_names(tmp_path):
    names = np.array(["cat", "dog"])
    _refused(
        tmp_path, r"y_test\[1\]=2 is out of range", y_test=np.array([0, 2, 1, 0]), class_names=names
    )


def test_label_count_must_match_images(tmp_path):
    _refused(tmp_path, r"array 'y_train' has shape \(7,\); allowed: \(8,\)", y_train=np.zeros(7))


def test_nchw_is_transposed_when_unambiguous(tmp_path):
    arrays = _arrays(shape=(8, 8, 3))
    nchw = {k: v.transpose(0, 3, 1, 2) for k, v in arrays.items() if k.startswith("x_")}
    d = _load(tmp_path, **nchw, y_train=arrays["y_train"], y_test=arrays["y_test"])
    assert d.train.images.shape == (8, 3, 8, 8) and d.train.images.is_contiguous()
    assert np.array_equal(d.train.images.numpy(), nchw["x_train"])
    gray = _load(
        tmp_path,
        "g.npz",
        x_train=np.zeros((8, 1, 8, 8), np.uint8),
        x_test=np.zeros((4, 1, 8, 8), np.uint8),
    )
    assert gray.train.images.shape == (8, 1, 8, 8)


def test_nhw_is_one_channel(tmp_path):
    d = _load(tmp_path, x_train=np.zeros((8, 6, 5), np.uint8), x_test=np.zeros((4, 7, 7), np.uint8))
    assert d.train.images.shape == (8, 1, 6, 5) and d.test.images.shape == (4, 1, 7, 7)


def test_ambiguous_layout_is_refused(tmp_path):
    x = np.zeros((8, 3, 8, 3), np.uint8)
    _refused(tmp_path, r"array 'x_train' of shape \(8, 3, 8, 3\) is ambiguous", x_train=x)


@pytest.mark.parametrize("shape", [(8, 5, 8, 8), (8, 6, 6, 4), (8, 6, 6, 3, 1), (8,)])
def test_layout_without_channels_is_refused(tmp_path, shape):
    x = np.zeros(shape, np.uint8)
    _refused(tmp_path, r"array 'x_train' .*allowed: NHWC \(N, H, W, C\) or NCHW", x_train=x)


def test_split_channel_counts_must_match(tmp_path):
    x = np.zeros((4, 6, 5), np.uint8)
    _refused(tmp_path, r"x_test has 1 channel\(s\) but x_train has 3", x_test=x)


def test_empty_test_split_is_refused_unless_minival(tmp_path):
    empty = {"x_test": np.zeros((0, 6, 5, 3), np.uint8), "y_test": np.zeros(0, np.int64)}
    message = _refused(tmp_path, r"the test split \(d/test\) holds 0 images", **empty)
    assert "minival" in message
    d = load_data(f"npz:{tmp_path / 'd.npz'}", minival=0.25)
    assert (len(d.train), len(d.test)) == (6, 2)


def test_empty_train_split_is_refused(tmp_path):
    empty = {"x_train": np.zeros((0, 6, 5, 3), np.uint8), "y_train": np.zeros(0, np.int64)}
    _refused(tmp_path, r"x_train holds 0 images", **empty)


def test_class_names_must_be_one_dimensional(tmp_path):
    names = np.array([["a", "b"]])
    _refused(tmp_path, r"array 'class_names' .*allowed: a 1-D array of strings", class_names=names)


def test_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", **_arrays())

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(ValueError, match=r"d\.npz: cannot read the file \(Permission denied\)"):
        load_data(f"npz:{tmp_path / 'd.npz'}")
