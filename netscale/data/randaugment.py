"""RandAugment (Cubuk et al., 2020) on uint8 batches, as the papers' training code runs it.

``magnitude`` is on the scale of the TensorFlow and timm code, whose nominal maximum is 10
(TF's ``_MAX_LEVEL``, timm's ``_LEVEL_DENOM``); every op reads the level f = magnitude / 10.
``ops`` picks the op set and the level-to-argument mapping:

``"tf"``: ``distort_image_with_randaugment`` of the code EfficientNet, EfficientNetV2 and
ResNet-RS trained with (tensorflow/tpu models/official/efficientnet/autoaugment.py, which
ResNet-RS's resnet_preprocessing.py imports; google/automl efficientnetv2/autoaugment.py is
the same code). Each layer picks one of its 16 ``available_ops`` uniformly and ALWAYS
applies it: the loop draws ``prob = uniform(0.2, 0.8)`` per op, but ``_parse_policy_info``
passes it only to functions with a ``prob`` argument and none of the 16 has one. f is not
clamped, so magnitudes above 10 extrapolate (the V2 code goes to 20, its paper to 25).

=========================  ==================================================  =====
op                         argument (``level_to_arg``)                         sign
=========================  ==================================================  =====
autocontrast, equalize,    none                                                -
invert
rotate                     30 f degrees                                        +-
shear_x, shear_y           0.3 f: x_in = x + s y (y_in = y + s x), origin at    +-
                           pixel (0, 0)
translate_x, translate_y   100 f px at 224 px (``translate_const``)           +-
posterize                  keep int(4 f) bits                                  -
solarize                   invert pixels >= int(256 f) (mod 256, below)        -
solarize_add               add int(110 f) to pixels < 128, clip at 255         -
color, contrast,           blend factor 1.8 f + 0.1 (0.1 .. 1.9 up to 10)      -
brightness, sharpness
cutout                     gray square of side 2 int(40 f) px at 224 px        -
                           (``cutout_const``), centre uniform per image
=========================  ==================================================  =====

Rotate, shear and translate sample the nearest pixel (tfa ``transform``'s default) and fill
with 128 (``replace_value``); they negate their argument with p=0.5
(``_randomly_negate_tensor``); no other op takes a sign. Where TF's uint8 arithmetic changes
the result, its result is kept: the solarize threshold and the posterize shift ``8 - bits``
are Python ints that TF converts to uint8, i.e. modulo 256 (google-research/big_vision
issue 110 shows ``t < 256`` is ``t < 0`` for a uint8 ``t``), and TF's shift kernels clamp
the shift to [0, 7] (``right_shift_op``). So solarize inverts the whole image at magnitudes
0, 10 and 20 and thresholds at 128 at 5 and 15; posterize keeps 1 bit at magnitude < 5 and
>= 22.5 and all 8 at [20, 22.5). Small magnitudes are not gentle in TF's set: at 0, solarize
inverts, posterize keeps 1 bit and the enhance ops blend with factor 0.1. One TF quirk is
not copied: its ``contrast`` blends toward ``sum(histogram) / 256`` = H W / 256, the pixel
count (196 at 224 px, 4 at 32 px), where its comment says "the mean pixel value"; here, as
PIL and timm, toward the mean gray.
TF's pixel constants are for the 224-px crops the papers' RandAugment saw (ResNet-RS and
V2 ran it at 128..384 px with the same 100 / 40 px); here they scale with the image, by
width / 224 (translate_x), height / 224 (translate_y) and min(height, width) / 224
(cutout), so a 32-px image shifts by up to 14.3 px and loses up to a 10 x 10 square at
magnitude 10, the same shares of the image as at 224 px.

``"timm"``: ``rand_augment_transform("rand-m9-mstd0.5-inc1")`` as ConvNeXt trained with it:
the 15 ``_RAND_INCREASING_TRANSFORMS`` (TF's without cutout, whose intensity grows with f),
each applied with p=0.5 (``AugmentOp.prob``), the magnitude drawn per application from
N(magnitude, magnitude_std) (std inf: uniform(0, magnitude)) and clipped to [0, 10]
(``magnitude_max`` unset), so magnitudes above 10 act as 10. Arguments: rotate +-30 f deg,
shear +-0.3 f (PIL's origin, the image's corner), translate +-0.45 f of the side
(``translate_pct``), posterize keeps 4 - int(4 f) bits (0 bits: black, as PIL), solarize
threshold 256 - int(256 f), solarize_add int(110 f), color / contrast / brightness /
sharpness factor 1 +- 0.9 f (random sign). Geometric ops are bilinear (timm picks bilinear
or bicubic at random, ConvNeXt's bicubic; torchvision's affine has no bicubic) and fill
with gray 128 (timm's ``_FILL``; its ``create_transform`` passes the dataset mean instead).

Batching: the batch is split into ``num_chunks`` contiguous chunks (batches are already
shuffled, so a chunk is a random group); each chunk gets its own ``num_layers`` ops, signs
and (with ``magnitude_std``) magnitudes, and each op is one ``torchvision.transforms.v2
.functional`` call on the chunk. What is per image in the reference code and cheap here is
per image here too: timm's p=0.5 coin and TF's cutout centre. Every draw comes from the
caller's ``torch.Generator`` (on its device); the global RNG is never used.
"""

from __future__ import annotations

import math

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

__all__ = ["LEVEL_MAX", "OP_SETS", "RANDAUG_OPS", "apply_op", "rand_augment", "sample_magnitudes"]

LEVEL_MAX = 10.0  # TF's _MAX_LEVEL, timm's _LEVEL_DENOM: f = magnitude / LEVEL_MAX
_GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
_ENHANCE = {
    "color": TF.adjust_saturation,
    "contrast": TF.adjust_contrast,
    "brightness": TF.adjust_brightness,
    "sharpness": TF.adjust_sharpness,
}
OP_SETS: dict[str, tuple[str, ...]] = {
    # TF available_ops, in its order
    "tf": (
        "autocontrast", "equalize", "invert", "rotate", "posterize", "solarize", "color",
        "contrast", "brightness", "sharpness", "shear_x", "shear_y", "translate_x",
        "translate_y", "cutout", "solarize_add",
    ),
    # timm _RAND_INCREASING_TRANSFORMS, in its order
    "timm": (
        "autocontrast", "equalize", "invert", "rotate", "posterize", "solarize",
        "solarize_add", "color", "contrast", "brightness", "sharpness", "shear_x", "shear_y",
        "translate_x", "translate_y",
    ),
}  # fmt: skip
RANDAUG_OPS = tuple(OP_SETS)
_SIGNED = {"tf": frozenset(_GEOMETRIC), "timm": frozenset((*_GEOMETRIC, *_ENHANCE))}
REFERENCE_SIZE = 224.0  # the image side TF's pixel constants are meant for
TF_TRANSLATE_CONST = 100.0  # px at 224 (distort_image_with_randaugment's hparams)
TF_CUTOUT_CONST = 40.0  # px at 224
TIMM_TRANSLATE_PCT = 0.45  # of the side (timm's translate_pct default)
TIMM_PROB = 0.5  # timm applies each chosen op with this probability
FILL = 128  # TF's replace value and timm's _FILL
_INTERPOLATION = {"tf": InterpolationMode.NEAREST, "timm": InterpolationMode.BILINEAR}
# shear origin, in torchvision's ``center`` (pixel edges at integers): TF shears about the
# centre of pixel (0, 0), PIL (timm) about the image's corner
_SHEAR_CENTER = {"tf": [0.5, 0.5], "timm": [0.0, 0.0]}


def _check_ops(ops: str) -> tuple[str, ...]:
    if ops not in OP_SETS:
        raise ValueError(f"RandAugment ops={ops!r} is unknown; allowed: {', '.join(OP_SETS)}")
    return OP_SETS[ops]


def rand_augment(
    images: torch.Tensor,
    *,
    num_layers: int,
    magnitude: float,
    generator: torch.Generator,
    num_chunks: int = 8,
    ops: str = "tf",
    magnitude_std: float = 0.0,
) -> torch.Tensor:
    """RandAugment of uint8 (B, C, H, W) images with the ``ops`` set ("tf" or "timm", see
    the module docstring); each of ``num_chunks`` chunks gets its own ops."""
    names = _check_ops(ops)
    if not magnitude >= 0.0 or not magnitude_std >= 0.0:
        raise ValueError(f"magnitude={magnitude!r}, magnitude_std={magnitude_std!r}: must be >= 0")
    if num_layers <= 0 or images.shape[0] == 0:
        return images
    device = generator.device
    size = (num_layers, num_chunks)
    choice = torch.randint(len(names), size, generator=generator, device=device).tolist()
    signs = torch.randint(2, size, generator=generator, device=device).mul(2).sub(1).tolist()
    levels = sample_magnitudes(magnitude, magnitude_std, size, ops, generator).tolist()
    chunks = list(images.tensor_split(num_chunks))
    for k, chunk in enumerate(chunks):
        for layer in range(num_layers):
            if chunk.shape[0] == 0:
                break
            op, level, sign = names[choice[layer][k]], levels[layer][k], signs[layer][k]
            if ops == "tf":
                chunk = apply_op(chunk, op, level, ops=ops, sign=sign, generator=generator)
            else:
                chunk = _with_prob(chunk, op, level, sign, generator)
        chunks[k] = chunk
    return torch.cat(chunks)


def _with_prob(
    x: torch.Tensor, op: str, level: float, sign: int, generator: torch.Generator
) -> torch.Tensor:
    """timm's op on the images of x whose coin (p=0.5) comes up; the others unchanged."""
    coin = torch.rand(x.shape[0], generator=generator, device=generator.device) < TIMM_PROB
    picked = coin.nonzero().squeeze(1).to(x.device)
    if picked.numel() == x.shape[0]:
        return apply_op(x, op, level, ops="timm", sign=sign, generator=generator)
    if picked.numel() == 0:
        return x
    done = apply_op(x[picked], op, level, ops="timm", sign=sign, generator=generator)
    return x.index_copy(0, picked, done)


def sample_magnitudes(
    magnitude: float,
    magnitude_std: float,
    size: tuple[int, ...],
    ops: str,
    generator: torch.Generator,
) -> torch.Tensor:
    """float64 magnitudes of shape ``size`` on the CPU: ``magnitude`` plus N(0, std) noise
    (std inf: uniform in [0, magnitude]; std 0: no draw), clipped to [0, 10] for "timm"
    (timm's default magnitude_max) and to [0, inf) for "tf" (TF has no noise and no clamp;
    noise there is this module's extension)."""
    _check_ops(ops)
    out = torch.full(size, float(magnitude), dtype=torch.float64)
    if math.isinf(magnitude_std):
        draw = torch.rand(size, generator=generator, device=generator.device, dtype=torch.float64)
        out = draw.cpu() * magnitude
    elif magnitude_std > 0:
        draw = torch.randn(size, generator=generator, device=generator.device, dtype=torch.float64)
        out = out + magnitude_std * draw.cpu()
    return out.clamp(0.0, LEVEL_MAX if ops == "timm" else math.inf)


def apply_op(
    x: torch.Tensor,
    op: str,
    magnitude: float,
    *,
    ops: str = "tf",
    sign: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One RandAugment op of the ``ops`` set on uint8 (B, C, H, W) at ``magnitude`` (>= 0, on
    the 0..10 scale, not clipped here); ``sign`` (+1 or -1) negates the argument of the ops
    that take a sign in that set; ``generator`` draws cutout's centres."""
    _check_ops(ops)
    f = magnitude / LEVEL_MAX
    signed = -1.0 if sign < 0 and op in _SIGNED[ops] else 1.0
    h, w = x.shape[-2:]
    if op == "autocontrast":
        return TF.autocontrast(x)
    if op == "equalize":
        return TF.equalize(x)
    if op == "invert":
        return TF.invert(x)
    if op in _GEOMETRIC:
        return _geometric(x, op, signed * _geometric_arg(op, f, ops, h, w), ops)
    if op in _ENHANCE:
        factor = f * 1.8 + 0.1 if ops == "tf" else max(0.1, 1.0 + signed * f * 0.9)
        return _ENHANCE[op](x, factor)
    if op == "posterize":
        # TF: keep int(4 f) bits, the shift 8 - bits as uint8 (mod 256), clamped to [0, 7]
        # by TF's kernel; timm: keep 4 - int(4 f) bits
        bits = int(f * 4)
        shift = min((8 - bits) % 256, 7) if ops == "tf" else 8 - (4 - bits)
        return _keep_high_bits(x, shift)
    if op == "solarize":
        threshold = int(f * 256) % 256 if ops == "tf" else 256 - int(f * 256)
        return _solarize(x, threshold)
    if op == "solarize_add":
        return _solarize_add(x, int(f * 110))
    if op == "cutout":
        return _cutout(x, int(f * TF_CUTOUT_CONST * min(h, w) / REFERENCE_SIZE), generator)
    raise ValueError(f"RandAugment op {op!r} is unknown; allowed: {', '.join(OP_SETS['tf'])}")


def _geometric_arg(op: str, f: float, ops: str, h: int, w: int) -> float:
    """Unsigned argument of a geometric op: degrees, shear factor or pixels."""
    if op == "rotate":
        return f * 30.0
    if op.startswith("shear"):
        return f * 0.3
    side = w if op == "translate_x" else h
    if ops == "tf":
        return f * TF_TRANSLATE_CONST * side / REFERENCE_SIZE
    return f * TIMM_TRANSLATE_PCT * side


def _geometric(x: torch.Tensor, op: str, arg: float, ops: str) -> torch.Tensor:
    """Rotate by ``arg`` degrees (counter-clockwise as displayed, about the centre), shear
    (x_in = x + arg y, or y_in = y + arg x) or translate (x_in = x + arg: content moves
    left / up for arg > 0), as TF's and PIL's transforms define them; fill 128."""
    if arg == 0.0:
        return x
    fill = [float(FILL)] * x.shape[-3]
    mode = _INTERPOLATION[ops]
    if op == "rotate":
        return TF.rotate(x, arg, interpolation=mode, fill=fill)
    shear, shift, center = [0.0, 0.0], [0.0, 0.0], None
    axis = 0 if op.endswith("_x") else 1
    if op.startswith("shear"):
        shear[axis] = math.degrees(math.atan(arg))
        center = _SHEAR_CENTER[ops]
    else:
        shift[axis] = -arg
    return TF.affine(
        x,
        angle=0.0,
        translate=shift,
        scale=1.0,
        shear=shear,
        interpolation=mode,
        fill=fill,
        center=center,
    )


def _keep_high_bits(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Zero the low ``shift`` bits (posterize to 8 - shift bits; shift 8: all zero)."""
    shift = min(max(shift, 0), 8)
    return x if shift == 0 else x & ((0xFF << shift) & 0xFF)


def _solarize(x: torch.Tensor, threshold: int) -> torch.Tensor:
    """Invert the pixels >= ``threshold`` (TF's and PIL's solarize)."""
    if threshold > 255:
        return x
    if threshold <= 0:
        return TF.invert(x)
    return torch.where(x < threshold, x, 255 - x)


def _solarize_add(x: torch.Tensor, addition: int) -> torch.Tensor:
    """Add ``addition`` to the pixels < 128, clipped at 255."""
    if addition == 0:
        return x
    added = (x.to(torch.int32) + addition).clamp_(0, 255).to(torch.uint8)
    return torch.where(x < 128, added, x)


def _cutout(x: torch.Tensor, pad: int, generator: torch.Generator | None) -> torch.Tensor:
    """TF's cutout: per image, rows [cy - pad, cy + pad) and columns [cx - pad, cx + pad)
    (clipped to the image) set to 128, with (cy, cx) uniform over the pixels."""
    if pad <= 0 or x.shape[0] == 0:
        return x
    if generator is None:
        raise ValueError("cutout needs a generator for its centres")
    b, _, h, w = x.shape
    cy = torch.randint(h, (b, 1), generator=generator, device=generator.device).to(x.device)
    cx = torch.randint(w, (b, 1), generator=generator, device=generator.device).to(x.device)
    rows = torch.arange(h, device=x.device)[None]
    cols = torch.arange(w, device=x.device)[None]
    in_rows = (rows >= cy - pad) & (rows < cy + pad)  # (B, H)
    in_cols = (cols >= cx - pad) & (cols < cx + pad)  # (B, W)
    mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return x.masked_fill(mask, FILL)
