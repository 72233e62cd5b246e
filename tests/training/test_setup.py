"""setup.py: the resolution a run trains at, the memory check and the data fingerprint."""

import dataclasses

import pytest
import torch

from netscale.data import load_data
from netscale.families import resolve_spec
from netscale.training.recipe import load_recipe
from netscale.training.setup import check_fits, fingerprint, train_resolution, whitening_images

R18 = resolve_spec("resnet_18")  # total stride 32


def test_resolution_is_the_datas_raised_to_the_total_stride():
    quick = load_recipe("quick")
    assert train_resolution(R18, quick, 64) == (64, "")
    size, note = train_resolution(R18, quick, 8)
    assert size == 32 and "8 px images are smaller" in note
    assert train_resolution(R18, load_recipe("quick", resolution=48), 8) == (48, "")
    with pytest.raises(ValueError, match="--resolution 32 or more"):
        train_resolution(R18, load_recipe("quick", resolution=16), 8)


def test_check_fits_refuses_what_cannot_fit_only():
    quick = load_recipe("quick")
    check_fits(resolve_spec(R18, resolution=224), quick, torch.device("cpu"), 1)
    with pytest.raises(ValueError, match=r"GiB for the activations of resnet_18"):
        check_fits(resolve_spec(R18, resolution=100_000), quick, torch.device("cpu"), 1)


def test_fingerprint_sees_labels_and_images():
    data = load_data("digits")
    first = fingerprint(data)
    assert fingerprint(load_data("digits")) == first
    labels = data.train.labels.clone()
    labels[0] = (labels[0] + 1) % 10
    other = dataclasses.replace(data, train=dataclasses.replace(data.train, labels=labels))
    assert fingerprint(other) != first


def test_a_whitening_stems_lost_pixels_raise_the_smallest_resolution(airbench94):
    """Total stride 8 plus the pixel a 2x2 unpadded stem removes: 9 px at least."""
    quick = load_recipe("quick")
    size, note = train_resolution(airbench94, quick, 8)
    assert size == 9 and "8 px images are smaller than" in note and "whitening stem" in note
    with pytest.raises(ValueError, match="--resolution 9 or more"):
        train_resolution(airbench94, load_recipe("quick", resolution=8), 8)


def test_whitening_images_are_a_seeded_normalized_sample():
    data = load_data("digits")
    a = whitening_images(data, 8, seed=0, n=100)
    assert a.shape == (100, 1, 8, 8) and a.dtype == torch.float32
    assert torch.equal(a, whitening_images(data, 8, seed=0, n=100))
    assert not torch.equal(a, whitening_images(data, 8, seed=1, n=100))
    everything = whitening_images(data, 8, seed=0, n=10**6)  # at most the training set
    assert len(everything) == len(data.train)
    assert abs(everything.mean().item()) < 0.05  # normalized with the training statistics
