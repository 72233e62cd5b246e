"""netscale.data.randaugment: each op of the "tf" and "timm" sets against a hand computation
of the reference formula (TF autoaugment.py's level_to_arg / timm's level functions, f =
magnitude / 10), written out here rather than derived from the module; then the batched
driver: determinism, chunks, per-op probabilities, magnitude noise, errors."""

import math

import numpy as np
import pytest
import torch

from netscale.data.randaugment import OP_SETS, apply_op, rand_augment, sample_magnitudes


def _images(b=2, c=3, h=12, w=12, seed=0, low=0, high=256):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (b, c, h, w), dtype=torch.uint8, generator=g)


def _op(x, op, m, ops, sign=1, seed=0):
    return apply_op(x, op, m, ops=ops, sign=sign, generator=torch.Generator().manual_seed(seed))


def _nearest(x, xi, yi):
    """x sampled at (xi, yi) (pixel indices, nearest), 128 outside; and where the rounding is
    not a tie within float error (ties may round either way, in TF as here)."""
    h, w = x.shape[2:]
    xr, yr = np.floor(xi + 0.5).astype(int), np.floor(yi + 0.5).astype(int)
    inside = (xr >= 0) & (xr < w) & (yr >= 0) & (yr < h)
    out = np.full(x.shape, 128, np.uint8)
    out[:, :, inside] = x.numpy()[:, :, yr[inside], xr[inside]]
    sure = (np.abs(xi - np.floor(xi) - 0.5) > 1e-3) & (np.abs(yi - np.floor(yi) - 0.5) > 1e-3)
    return out, sure


def _bilinear(x, xi, yi):
    """x sampled bilinearly at (xi, yi); and the pixels whose four neighbours are inside."""
    h, w = x.shape[2:]
    x0, y0 = np.floor(xi).astype(int), np.floor(yi).astype(int)
    inside = (x0 >= 0) & (x0 + 1 < w) & (y0 >= 0) & (y0 + 1 < h)
    x0, y0 = x0.clip(0, w - 2), y0.clip(0, h - 2)
    ax, ay = xi - x0, yi - y0
    v = x.numpy().astype(np.float64)
    top = v[:, :, y0, x0] * (1 - ax) + v[:, :, y0, x0 + 1] * ax
    bottom = v[:, :, y0 + 1, x0] * (1 - ax) + v[:, :, y0 + 1, x0 + 1] * ax
    return np.round(top * (1 - ay) + bottom * ay), inside


def _grid(h, w):
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")  # fmt: skip
    return xs, ys


def _blend(degenerate, x, factor):
    """TF's blend / PIL's Image.blend: degenerate + factor (x - degenerate), clip, truncate."""
    return np.trunc(np.clip(degenerate + factor * (x - degenerate), 0, 255))


def _gray(x):
    v = x.numpy().astype(np.float64)
    return 0.2989 * v[:, 0] + 0.587 * v[:, 1] + 0.114 * v[:, 2]  # (B, H, W)


def test_op_sets_are_the_reference_lists():
    tf = ["AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "Color",
          "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
          "Cutout", "SolarizeAdd"]  # fmt: skip
    timm = ["AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing",
            "SolarizeIncreasing", "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing",
            "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel",
            "TranslateYRel"]  # fmt: skip

    def snake(name):
        name = name.replace("Increasing", "").replace("Rel", "").replace("AutoContrast", "Auto")
        return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).strip("_")

    assert [snake(n) for n in tf] == [o.replace("autocontrast", "auto") for o in OP_SETS["tf"]]
    assert [snake(n) for n in timm] == [o.replace("autocontrast", "auto") for o in OP_SETS["timm"]]


# ---- "tf": geometric ops (nearest, fill 128) ----


@pytest.mark.parametrize(("m", "sign", "degrees"), [(10, 1, 30.0), (10, -1, -30.0), (25, 1, 75.0)])
def test_tf_rotate(m, sign, degrees):
    x = _images(h=13, w=17)
    t = math.radians(degrees)  # tfa rotate: about ((W-1)/2, (H-1)/2), counter-clockwise
    xs, ys = _grid(13, 17)
    cx, cy = 8.0, 6.0
    xi = math.cos(t) * (xs - cx) - math.sin(t) * (ys - cy) + cx
    yi = math.sin(t) * (xs - cx) + math.cos(t) * (ys - cy) + cy
    want, sure = _nearest(x, xi, yi)
    got = _op(x, "rotate", m, "tf", sign).numpy()
    assert sure.mean() > 0.9 and np.array_equal(got[:, :, sure], want[:, :, sure])


@pytest.mark.parametrize(("op", "m", "sign", "s"), [
    ("shear_x", 7, 1, 0.21), ("shear_x", 7, -1, -0.21), ("shear_y", 7, 1, 0.21),
    ("shear_x", 20, 1, 0.6),
])  # fmt: skip
def test_tf_shear(op, m, sign, s):
    x = _images(h=11, w=14)
    xs, ys = _grid(11, 14)  # projective [1, s, 0, 0, 1, 0]: x_in = x + s y, origin pixel (0, 0)
    xi, yi = (xs + s * ys, ys) if op == "shear_x" else (xs, ys + s * xs)
    want, sure = _nearest(x, xi, yi)
    got = _op(x, op, m, "tf", sign).numpy()
    assert sure.mean() > 0.9 and np.array_equal(got[:, :, sure], want[:, :, sure])


@pytest.mark.parametrize(("op", "size", "m", "sign", "pixels"), [
    ("translate_x", 224, 5, 1, 50),  # 100 px at level 10 at 224 px: 5 -> 50 px
    ("translate_x", 224, 5, -1, -50),
    ("translate_y", 224, 10, 1, 100),
    ("translate_x", 32, 10, 1, 14),  # 100 * 32 / 224 = 14.29 px, nearest -> 14
    ("translate_y", 32, 7, -1, -10),  # 70 * 32 / 224 = 10.0
])  # fmt: skip
def test_tf_translate(op, size, m, sign, pixels):
    x = _images(b=1, h=size, w=size)
    xs, ys = _grid(size, size)  # translate by [-pixels, 0]: x_in = x + pixels
    xi, yi = (xs + pixels, ys) if op == "translate_x" else (xs, ys + pixels)
    want, _ = _nearest(x, xi, yi)
    assert np.array_equal(_op(x, op, m, "tf", sign).numpy(), want)


@pytest.mark.parametrize(("size", "m", "pad"), [(224, 10, 40), (224, 5, 20), (32, 10, 5),
                                               (32, 25, 14), (48, 7, 6)])  # fmt: skip
def test_tf_cutout(size, m, pad):
    # pad = int(f * 40 * size / 224); the box is rows [cy - pad, cy + pad) x cols likewise
    x = _images(b=32, h=size, w=size, high=100)  # no 128 in the image
    got = _op(x, "cutout", m, "tf", seed=3)
    for image, out in zip(x, got, strict=True):
        gray = (out == 128).all(0)
        rows, cols = gray.any(1).nonzero().squeeze(1), gray.any(0).nonzero().squeeze(1)
        top, bottom = int(rows.min()), int(rows.max()) + 1
        left, right = int(cols.min()), int(cols.max()) + 1
        assert gray[top:bottom, left:right].all() and gray.sum() == (bottom - top) * (right - left)
        assert torch.equal(out[:, ~gray], image[:, ~gray])
        for lo, hi in ((top, bottom), (left, right)):
            centres = [c for c in range(size) if (max(0, c - pad), min(size, c + pad)) == (lo, hi)]
            assert centres, (lo, hi)
    assert torch.equal(_op(x, "cutout", 0, "tf"), x)


# ---- "tf": pixel ops ----


@pytest.mark.parametrize(("m", "mask"), [
    (0, 0x80),  # bits int(0) = 0: shift 8, clamped to 7 by TF's kernel: 1 bit
    (2.5, 0x80),  # 1 bit
    (5, 0xC0),  # 2 bits
    (10, 0xF0),  # 4 bits
    (15, 0xFC),  # 6 bits
    (20, 0xFF),  # 8 bits: shift 0
    (25, 0x80),  # 10 bits: shift -2 -> uint8 254 -> clamped to 7
])  # fmt: skip
def test_tf_posterize(m, mask):
    x = _images()
    assert torch.equal(_op(x, "posterize", m, "tf"), x & mask)


@pytest.mark.parametrize(("m", "threshold"), [
    (0, 0), (5, 128), (9, 230), (10, 0),  # int(256 f) = 256 -> uint8 0
    (15, 128), (20, 0),  # 384 -> 128, 512 -> 0
])  # fmt: skip
def test_tf_solarize(m, threshold):
    x = _images()
    v = x.numpy()
    want = np.where(v < threshold, v, 255 - v)
    assert np.array_equal(_op(x, "solarize", m, "tf").numpy(), want)


@pytest.mark.parametrize("ops", ["tf", "timm"])
@pytest.mark.parametrize(("m", "addition"), [(0, 0), (5, 55), (10, 110), (25, 275)])
def test_solarize_add(ops, m, addition):
    x = _images()
    v = x.numpy().astype(int)
    want = np.where(v < 128, np.minimum(v + addition, 255), v)
    assert np.array_equal(_op(x, "solarize_add", m, ops).numpy(), want)


@pytest.mark.parametrize("ops", ["tf", "timm"])
def test_invert_autocontrast_equalize(ops):
    x = _images(b=3, low=30, high=200)
    x[2, 1] = 77  # a flat channel: autocontrast and equalize leave it
    v = x.numpy().astype(np.float64)
    assert np.array_equal(_op(x, "invert", 5, ops).numpy(), 255 - v)
    lo, hi = v.min((2, 3), keepdims=True), v.max((2, 3), keepdims=True)
    stretched = np.where(hi > lo, np.trunc((v - lo) * 255 / np.maximum(hi - lo, 1)), v)
    assert np.abs(_op(x, "autocontrast", 5, ops).numpy() - stretched).max() <= 1
    want = np.empty_like(v)
    for i in range(3):
        for c in range(3):  # PIL's / TF's equalize
            ch = x[i, c].numpy()
            hist = np.bincount(ch.ravel(), minlength=256)
            nonzero = hist[hist > 0]
            step = (nonzero.sum() - nonzero[-1]) // 255
            lut = np.concatenate([[0], ((np.cumsum(hist) + step // 2) // max(step, 1))[:-1]])
            want[i, c] = ch if step == 0 else np.clip(lut, 0, 255)[ch]
    assert np.array_equal(_op(x, "equalize", 5, ops).numpy(), want)


def _enhanced(x, op, factor):
    """PIL / TF enhance ops by hand: blend toward black, gray, mean gray or the smoothed
    image (kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, borders kept)."""
    v = x.numpy().astype(np.float64)
    if op == "brightness":
        return _blend(0.0, v, factor)
    gray = np.round(_gray(x))[:, None]
    if op == "color":
        return _blend(gray, v, factor)
    if op == "contrast":
        return _blend(np.round(gray.mean((2, 3), keepdims=True)), v, factor)
    smooth = v.copy()
    h, w = v.shape[2:]
    acc = sum(
        v[:, :, 1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )
    smooth[:, :, 1:-1, 1:-1] = np.round((acc + 4 * v[:, :, 1:-1, 1:-1]) / 13)
    return _blend(smooth, v, factor)


@pytest.mark.parametrize("op", ["brightness", "color", "contrast", "sharpness"])
@pytest.mark.parametrize(("m", "factor"), [(0, 0.1), (5, 1.0), (10, 1.9), (15, 2.8)])
def test_tf_enhance(op, m, factor):
    # factor 1.8 f + 0.1, no sign; the degenerate image may differ by one level (TF truncates
    # the gray and the smoothed image, torchvision floors or rounds them)
    x = _images(b=3, h=9, w=10)
    for sign in (1, -1):
        got = _op(x, op, m, "tf", sign).numpy()
        assert np.abs(got - _enhanced(x, op, factor)).max() <= (0 if factor == 1.0 else 2)


# ---- "timm" ----


@pytest.mark.parametrize(("op", "m", "sign"), [("rotate", 10, 1), ("rotate", 7, -1),
                                               ("shear_x", 10, 1), ("shear_y", 6, -1)])  # fmt: skip
def test_timm_rotate_and_shear(op, m, sign):
    x = _images(h=15, w=16)
    xs, ys = _grid(15, 16)
    a = sign * m / 10  # rotate 30 a degrees about the centre; shear 0.3 a about the corner
    if op == "rotate":
        t, cx, cy = math.radians(30 * a), 7.5, 7.0
        xi = math.cos(t) * (xs - cx) - math.sin(t) * (ys - cy) + cx
        yi = math.sin(t) * (xs - cx) + math.cos(t) * (ys - cy) + cy
    elif op == "shear_x":  # PIL affine (1, s, 0, 0, 1, 0) on pixel centres (x + 0.5, y + 0.5)
        xi, yi = xs + 0.3 * a * (ys + 0.5), ys
    else:
        xi, yi = xs, ys + 0.3 * a * (xs + 0.5)
    want, inside = _bilinear(x, xi, yi)
    got = _op(x, op, m, "timm", sign).numpy()
    assert inside.mean() > 0.4 and np.abs(got[:, :, inside] - want[:, :, inside]).max() <= 1


@pytest.mark.parametrize(("op", "m", "sign", "pixels"), [
    ("translate_x", 10, 1, 9.0), ("translate_y", 10, -1, -9.0),  # 0.45 * 20 px
    ("translate_x", 9, 1, 8.1), ("translate_y", 5, 1, 4.5),
])  # fmt: skip
def test_timm_translate(op, m, sign, pixels):
    x = _images(h=20, w=20)
    xs, ys = _grid(20, 20)
    xi, yi = (xs + pixels, ys) if op == "translate_x" else (xs, ys + pixels)
    want, inside = _bilinear(x, xi, yi)
    got = _op(x, op, m, "timm", sign).numpy()
    assert np.abs(got[:, :, inside] - want[:, :, inside]).max() <= 1
    if pixels == 9.0:  # whole pixels: exact, and the vacated columns are gray
        assert np.array_equal(got[..., :11], x.numpy()[..., 9:]) and (got[..., 11:] == 128).all()


@pytest.mark.parametrize(("m", "mask"), [(0, 0xF0), (5, 0xC0), (9, 0x80), (10, 0x00)])
def test_timm_posterize(m, mask):
    x = _images()  # keep 4 - int(4 f) bits; 0 bits is black (PIL's posterize)
    assert torch.equal(_op(x, "posterize", m, "timm"), x & mask)


@pytest.mark.parametrize(("m", "threshold"), [(0, 256), (2, 205), (5, 128), (10, 0)])
def test_timm_solarize(m, threshold):
    x = _images()  # threshold 256 - int(256 f)
    v = x.numpy()
    assert np.array_equal(
        _op(x, "solarize", m, "timm").numpy(), np.where(v < threshold, v, 255 - v)
    )


@pytest.mark.parametrize("op", ["brightness", "color", "contrast", "sharpness"])
@pytest.mark.parametrize(("m", "sign", "factor"), [(5, 1, 1.45), (5, -1, 0.55), (10, -1, 0.1),
                                                   (10, 1, 1.9), (0, -1, 1.0)])  # fmt: skip
def test_timm_enhance(op, m, sign, factor):
    x = _images(b=3, h=9, w=10)  # factor 1 +- 0.9 f
    got = _op(x, op, m, "timm", sign).numpy()
    assert np.abs(got - _enhanced(x, op, factor)).max() <= (0 if factor == 1.0 else 2)


# ---- every op ----

_IDENTITY_AT_ZERO = {
    "tf": {"rotate", "shear_x", "shear_y", "translate_x", "translate_y", "cutout", "solarize_add"},
    "timm": {"rotate", "shear_x", "shear_y", "translate_x", "translate_y", "solarize",
             "solarize_add", "color", "contrast", "brightness", "sharpness"},
}  # fmt: skip


@pytest.mark.parametrize("ops", ["tf", "timm"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_shape_dtype_and_magnitude_zero(ops, channels):
    x = _images(b=4, c=channels, h=24, w=20, low=20, high=230)
    for op in OP_SETS[ops]:
        for m, sign in ((0, 1), (0, -1), (7, -1), (25, 1)):
            y = _op(x, op, m, ops, sign)
            assert y.shape == x.shape and y.dtype == torch.uint8, (op, m)
            if m == 0 and op in _IDENTITY_AT_ZERO[ops]:
                assert torch.equal(y, x), op
            if m == 0 and op not in _IDENTITY_AT_ZERO[ops] and channels == 3:
                assert not torch.equal(y, x), op  # e.g. TF's solarize at 0 inverts


# ---- rand_augment ----


@pytest.mark.parametrize("ops", ["tf", "timm"])
def test_determinism_from_the_generator_only(ops):
    x = _images(b=32, h=16, w=16)

    def run(seed, global_seed):
        torch.manual_seed(global_seed)
        g = torch.Generator().manual_seed(seed)
        return rand_augment(x, num_layers=2, magnitude=9, generator=g, ops=ops, magnitude_std=0.5)

    assert torch.equal(run(0, 1), run(0, 2))
    assert not torch.equal(run(0, 1), run(1, 1))
    g = torch.Generator()
    assert torch.equal(rand_augment(x, num_layers=0, magnitude=9, generator=g, ops=ops), x)
    assert rand_augment(x[:3], num_layers=2, magnitude=9, generator=g, ops=ops).shape == x[:3].shape


def test_each_chunk_gets_its_own_ops():
    x = _images(b=1, h=16, w=16, high=100).expand(32, -1, -1, -1).contiguous()
    g = torch.Generator().manual_seed(0)
    y = rand_augment(x, num_layers=1, magnitude=10, generator=g, num_chunks=8, ops="tf")
    outputs = set()
    for chunk in y.view(8, 4, 3, 16, 16):
        differ = (chunk != chunk[:1]).any(1).any(0)  # only cutout differs within a chunk
        assert ((chunk == 128) | (chunk == x[0])).all(1)[:, differ].all()
        outputs.add(chunk[0].numpy().tobytes())
    assert len(outputs) >= 4


def test_tf_applies_every_op_timm_half_of_them():
    x = _images(b=1, h=32, w=32, low=40, high=200).expand(400, -1, -1, -1).contiguous()
    for seed in range(6):
        changed = {}
        for ops in ("tf", "timm"):
            g = torch.Generator().manual_seed(seed)
            y = rand_augment(x, num_layers=1, magnitude=10, generator=g, num_chunks=1, ops=ops)
            changed[ops] = (y != x).flatten(1).any(1).float().mean().item()
        assert changed["tf"] == 1.0 and 0.4 < changed["timm"] < 0.6


def test_magnitude_noise():
    g = torch.Generator().manual_seed(0)
    timm = sample_magnitudes(9.0, 0.5, (40_000,), "timm", g)  # N(9, 0.5) clipped to [0, 10]
    assert abs(timm.mean() - 9.0) < 0.02 and 0.47 < timm.std() < 0.51
    assert timm.max() <= 10.0 and timm.max() > 9.9
    tf = sample_magnitudes(15.0, 2.0, (40_000,), "tf", g)  # no upper clip
    assert abs(tf.mean() - 15.0) < 0.05 and abs(tf.std() - 2.0) < 0.05 and tf.max() > 20
    uniform = sample_magnitudes(8.0, math.inf, (40_000,), "timm", g)  # timm's mstd > 100
    assert abs(uniform.mean() - 4.0) < 0.05 and uniform.min() >= 0 and uniform.max() <= 8
    assert (sample_magnitudes(15.0, 0.0, (3,), "timm", g) == 10.0).all()
    assert (sample_magnitudes(15.0, 0.0, (3,), "tf", g) == 15.0).all()
    x = _images(b=64, h=16, w=16)

    def run(magnitude, std=0.0):
        g = torch.Generator().manual_seed(0)
        return rand_augment(x, num_layers=2, magnitude=magnitude, generator=g, num_chunks=64,
                            ops="timm", magnitude_std=std)  # fmt: skip

    assert not torch.equal(run(5), run(5, std=2.0))
    assert torch.equal(run(30), run(10))  # timm clips the magnitude at 10


def test_bad_arguments():
    x, g = _images(), torch.Generator()
    with pytest.raises(ValueError, match="ops='torchvision' is unknown; allowed: tf, timm"):
        rand_augment(x, num_layers=2, magnitude=9, generator=g, ops="torchvision")
    with pytest.raises(ValueError, match="ops='TF'"):
        apply_op(x, "rotate", 9, ops="TF")
    with pytest.raises(ValueError, match="must be >= 0"):
        rand_augment(x, num_layers=2, magnitude=-1, generator=g)
    with pytest.raises(ValueError, match="must be >= 0"):
        rand_augment(x, num_layers=2, magnitude=9, generator=g, magnitude_std=-0.5)
    with pytest.raises(ValueError, match="op 'identity' is unknown"):
        apply_op(x, "identity", 9)
    with pytest.raises(ValueError, match="generator"):
        apply_op(x, "cutout", 9)
