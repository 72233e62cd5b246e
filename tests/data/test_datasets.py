"""netscale.data.datasets: sources, splits, statistics and errors."""

import numpy as np
import pytest
import torch

from netscale.data import load_data
from netscale.data.datasets import stratified_split


def test_digits_shapes_and_split():
    d = load_data("digits")
    assert d.num_classes == 10
    assert (len(d.train), len(d.test)) == (1438, 359)  # fixed stratified 80/20: round(0.2 * 1797)
    assert d.train.images.shape == (1438, 1, 8, 8)
    assert d.train.images.dtype == torch.uint8 and d.train.labels.dtype == torch.int64
    assert int(d.train.images.max()) == 255
    assert len(d.mean) == len(d.std) == 1 and 0 < d.mean[0] < 1
    assert set(d.test.labels.tolist()) == set(range(10))
    assert torch.equal(load_data("digits", seed=5).test.images, d.test.images)


def _write_npz(path, n_train=40, n_test=12, classes=4, names=True):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 6, 5, 3), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, 6, 5, 3), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }
    if names:
        arrays["class_names"] = np.array([f"c{i}" for i in range(classes)])
    np.savez(path, **arrays)
    return arrays


def test_npz_round_trip(tmp_path):
    arrays = _write_npz(tmp_path / "tiny.npz")
    d = load_data(f"npz:{tmp_path / 'tiny.npz'}")
    assert d.train.images.shape == (40, 3, 6, 5) and d.train.images.is_contiguous()
    assert np.array_equal(d.train.images.permute(0, 2, 3, 1).numpy(), arrays["x_train"])
    assert np.array_equal(d.test.labels.numpy(), arrays["y_test"])
    assert d.num_classes == 4 and d.class_names == ("c0", "c1", "c2", "c3")
    want = arrays["x_train"].reshape(-1, 3).astype(np.float64) / 255
    assert np.allclose(d.mean, want.mean(0)) and np.allclose(d.std, want.std(0))


def test_npz_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        load_data(f"npz:{tmp_path / 'absent.npz'}")
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="y_train"):
        load_data(f"npz:{tmp_path / 'bad.npz'}")
    np.savez(
        tmp_path / "float.npz",
        **{k: np.zeros((2, 4, 4, 3)) for k in ("x_train", "x_test")},
        **{k: np.zeros(2, np.int64) for k in ("y_train", "y_test")},
    )
    with pytest.raises(ValueError, match="uint8"):
        load_data(f"npz:{tmp_path / 'float.npz'}")


def test_minival_split_sizes_and_disjoint(tmp_path):
    _write_npz(tmp_path / "tiny.npz", names=False)
    full = load_data(f"npz:{tmp_path / 'tiny.npz'}")
    d = load_data(f"npz:{tmp_path / 'tiny.npz'}", minival=0.25, seed=3)
    assert (len(d.train), len(d.test)) == (30, 10)
    assert d.test.name == "tiny/minival"
    rows = {tuple(x.flatten().tolist()) for x in full.train.images}
    train = {tuple(x.flatten().tolist()) for x in d.train.images}
    held = {tuple(x.flatten().tolist()) for x in d.test.images}
    assert train.isdisjoint(held) and train | held == rows
    assert torch.bincount(d.test.labels).tolist() == [3, 3, 2, 2]  # stratified
    again = load_data(f"npz:{tmp_path / 'tiny.npz'}", minival=0.25, seed=3)
    assert torch.equal(again.test.images, d.test.images)


def test_minival_on_digits():
    d = load_data("digits", minival=0.1)
    assert (len(d.train), len(d.test)) == (1294, 144)


def test_stratified_split_exact_total():
    labels = torch.tensor([0] * 7 + [1] * 5 + [2] * 3)
    kept, held = stratified_split(labels, 0.3, seed=0)
    assert len(held) == round(0.3 * 15) and len(kept) + len(held) == 15
    assert set(kept.tolist()).isdisjoint(held.tolist())
    with pytest.raises(ValueError, match="empty split"):
        stratified_split(labels, 0.01, seed=0)


@pytest.mark.parametrize("minival", [-0.1, 1.0])
def test_minival_range(minival):
    with pytest.raises(ValueError, match="minival"):
        load_data("digits", minival=minival)


def test_cifar_absent_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_data("cifar10", root=str(tmp_path))
    assert str(tmp_path) in str(err.value) and "never downloads" in str(err.value)


def test_cifar_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSCALE_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError, match="env"):
        load_data("cifar100")


@pytest.mark.parametrize("source", ["mnist", "npz:", "folder:", "tiny.npz", ""])
def test_bad_source_names_allowed_forms(source):
    with pytest.raises(ValueError) as err:
        load_data(source)
    for form in ("digits", "cifar10", "npz:PATH", "folder:PATH"):
        assert form in str(err.value)
