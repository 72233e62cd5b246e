"""The in-memory data containers: ArrayDataset's checks and DataSplits' defaults."""

import dataclasses

import pytest
import torch

from netscale.data.arrays import ArrayDataset, DataSplits


def _images(n=4, c=3, h=5, w=5, dtype=torch.uint8) -> torch.Tensor:
    return torch.zeros(n, c, h, w, dtype=dtype)


def _labels(n=4, dtype=torch.int64) -> torch.Tensor:
    return torch.arange(n, dtype=dtype)


def test_valid_dataset():
    ds = ArrayDataset(images=_images(), labels=_labels(), name="toy")
    assert len(ds) == 4 and isinstance(len(ds), int)
    assert len(ArrayDataset(images=_images(0), labels=_labels(0), name="empty")) == 0


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (_images(dtype=torch.float32), _labels(), r"toy: images must be uint8 \(N, C, H, W\), "
         r"got torch.float32 \(4, 3, 5, 5\)"),
        (torch.zeros(4, 5, 5, dtype=torch.uint8), _labels(), r"got torch.uint8 \(4, 5, 5\)"),
        (_images(), _labels(dtype=torch.int32), r"toy: labels must be int64 of shape \(4,\), "
         r"got torch.int32 \(4,\)"),
        (_images(), _labels(3), r"labels must be int64 of shape \(4,\), got torch.int64 \(3,\)"),
        (_images(), _labels().reshape(4, 1), r"got torch.int64 \(4, 1\)"),
        (_images().permute(0, 2, 3, 1), _labels(), "toy: images must be contiguous"),
    ],
    ids=["float-images", "3d-images", "int32-labels", "short-labels", "2d-labels", "strided"],
)  # fmt: skip
def test_bad_arrays_are_named(images, labels, message):
    with pytest.raises(ValueError, match=message):
        ArrayDataset(images=images, labels=labels, name="toy")


def test_channels_last_images_are_refused_but_a_contiguous_copy_is_not():
    images = _images().to(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="contiguous"):
        ArrayDataset(images=images, labels=_labels(), name="toy")
    ArrayDataset(images=images.contiguous(), labels=_labels(), name="toy")


def test_records_are_frozen():
    ds = ArrayDataset(images=_images(), labels=_labels(), name="toy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"
    splits = DataSplits(train=ds, test=ds, num_classes=4, mean=(0.5,) * 3, std=(0.25,) * 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        splits.num_classes = 3
    assert not hasattr(splits, "__dict__")  # slots: no stray attributes either


def test_splits_defaults():
    ds = ArrayDataset(images=_images(), labels=_labels(), name="toy")
    splits = DataSplits(train=ds, test=ds, num_classes=4, mean=(0.5,), std=(0.25,))
    assert splits.skipped == 0 and splits.class_names == ()
    named = dataclasses.replace(splits, class_names=("a", "b", "c", "d"), skipped=2)
    assert named.class_names == ("a", "b", "c", "d") and named.skipped == 2
    assert splits.class_names == ()  # replace made a new record
