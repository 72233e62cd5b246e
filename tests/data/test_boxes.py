"""netscale.data.boxes: the random-resized-crop and center boxes both data paths use."""

import math

import pytest
import torch

from netscale.data.boxes import CROP_RATIO, center_box, crop_boxes


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("h", "w"), [(64, 64), (48, 96), (300, 200), (7, 9)])
def test_crop_boxes_lie_inside_and_follow_the_scale_and_ratio(h, w):
    boxes = crop_boxes(h, w, 2000, 0.08, _gen())
    left, top, right, bottom = boxes.unbind(1)
    assert boxes.dtype == torch.float64 and boxes.shape == (2000, 4)
    assert (left >= 0).all() and (top >= 0).all() and (right <= w).all() and (bottom <= h).all()
    cw, ch = right - left, bottom - top
    assert (cw >= 1).all() and (ch >= 1).all()
    assert torch.equal(boxes, boxes.round())  # whole pixels
    if h >= 48:  # large enough that rounding is small: the drawn area and ratio hold
        area = cw * ch / (h * w)
        assert area.min() >= 0.08 * 0.9 and area.max() <= 1.0
        ratio = cw / ch
        assert ratio.min() >= CROP_RATIO[0] * 0.9 and ratio.max() <= CROP_RATIO[1] * 1.1
    if h == w == 64:  # square: few rejections, so the area fraction stays nearly uniform
        assert 0.45 < (cw * ch / (h * w)).mean() < 0.6  # uniform in [0.08, 1]: mean 0.54


def test_crop_boxes_are_a_pure_function_of_the_generator():
    assert torch.equal(crop_boxes(50, 70, 8, 0.2, _gen(3)), crop_boxes(50, 70, 8, 0.2, _gen(3)))
    assert not torch.equal(crop_boxes(50, 70, 8, 0.2, _gen(3)), crop_boxes(50, 70, 8, 0.2, _gen(4)))


def test_crop_boxes_fall_back_to_the_whole_image_cut_to_the_ratio():
    # a 10 x 200 strip: no box of ratio <= 4/3 and area >= 0.9 fits; every attempt fails
    boxes = crop_boxes(10, 200, 50, 0.9, _gen())
    expected = torch.tensor([93.0, 0.0, 93.0 + round(10 * 4 / 3), 10.0], dtype=torch.float64)
    assert torch.equal(boxes, expected.expand(50, 4))


def test_center_box():
    assert center_box(256, 256, 0.875) == (16.0, 16.0, 240.0, 240.0)
    left, top, right, bottom = center_box(100, 300, 0.5)  # shorter side 100 -> 50 px square
    assert (right - left, bottom - top) == (50.0, 50.0)
    assert math.isclose((left + right) / 2, 150) and math.isclose((top + bottom) / 2, 50)


def test_one_image_boxes_equal_the_batched_rule():
    from netscale.data.boxes import _boxes

    for i in range(3000):
        h, w = 7 + i % 313, 9 + (i * 7) % 301
        scale = (0.05, 0.08, 0.5, 0.95)[i % 4]
        g = _gen(i)  # the draws crop_boxes makes for one image, in the batched order
        draws = torch.rand((1, 10, 2), generator=g, dtype=torch.float64)
        where = torch.rand((1, 2), generator=g, dtype=torch.float64)
        batched = _boxes(h, w, scale, draws, where)
        assert torch.equal(crop_boxes(h, w, 1, scale, _gen(i)), batched), (h, w, scale)
