"""setup.py: the resolution a run trains at, the memory check and the data fingerprint."""

import dataclasses

import pytest
import torch

from netscale.data import load_data
from netscale.families import resolve_spec
from netscale.training.recipe import load_recipe
from netscale.training.setup import check_fits, fingerprint, train_resolution

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
