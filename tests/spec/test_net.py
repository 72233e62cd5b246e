"""Validation of the spec dataclasses: errors name the field path and the allowed values."""

import dataclasses

import pytest

import netscale
from netscale.spec import HeadSpec, NetSpec, SpecError, StageSpec, StemSpec


def _net(**stage_fields) -> NetSpec:
    fields = dict(block="bottleneck", depth=2, width=64, stride=2)
    fields.update(stage_fields)
    good = StageSpec(block="bottleneck", depth=1, width=32)
    return NetSpec(stages=(good, good, StageSpec(**fields)))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(width=0), "stages[2].width=0"),
        (dict(width=-8), "stages[2].width=-8"),
        (dict(depth=0), "stages[2].depth=0"),
        (dict(block="resnext"), "stages[2].block='resnext'"),
        (dict(stride=3), "stages[2].stride=3"),
        (dict(kernel=4), "stages[2].kernel=4"),
        (dict(se_ratio=1.5), "stages[2].se_ratio=1.5"),
        (dict(se_placement="end"), "stages[2].se_placement='end'"),
        (dict(width="64"), "stages[2].width='64'"),
        (dict(group_width=8, block="basic"), "stages[2].group_width=8"),
    ],
)
def test_invalid_stage_field_is_named(fields, message):
    with pytest.raises(SpecError, match=__import__("re").escape(message)):
        _net(**fields)


def test_group_width_must_divide_bottleneck_width():
    with pytest.raises(SpecError) as err:
        _net(width=100, group_width=24)
    assert "stages[2].group_width=24 does not divide bottleneck width 100" in str(err.value)


def test_allowed_values_are_listed():
    with pytest.raises(SpecError) as err:
        _net(block="resnext")
    for kind in netscale.spec.BLOCK_KINDS:
        assert repr(kind) in str(err.value)
    with pytest.raises(SpecError, match="allowed: 1, 2"):
        _net(stride=3)


def test_stem_head_and_net_fields_are_named():
    with pytest.raises(SpecError, match=r"stem\.width=0"):
        StemSpec(width=0)
    with pytest.raises(SpecError, match=r"stem\.kind='vit'"):
        StemSpec(kind="vit")
    with pytest.raises(SpecError, match=r"head\.num_classes=0"):
        HeadSpec(num_classes=0)
    with pytest.raises(SpecError, match=r"head\.dropout_rate=1\.0"):
        HeadSpec(dropout_rate=1.0)
    stage = StageSpec(block="basic", depth=1, width=8)
    with pytest.raises(SpecError, match=r"act='tanh'"):
        NetSpec(stages=(stage,), act="tanh")
    with pytest.raises(SpecError, match=r"stages=\(\)"):
        NetSpec(stages=())
    with pytest.raises(SpecError, match="resolution=16"):
        NetSpec(stages=(stage,) * 4, resolution=16)  # total stride 2 * 2**4 = 32


def test_transformer_head_width_must_divide_width():
    with pytest.raises(SpecError, match=r"stages\[0\]\.head_width=32 does not divide width 48"):
        NetSpec(stages=(StageSpec(block="transformer", depth=1, width=48),))


def test_ints_for_float_fields_are_stored_as_floats():
    a = StageSpec(block="bottleneck", depth=1, width=32, bottleneck_ratio=1)
    assert isinstance(a.bottleneck_ratio, float)
    assert a == StageSpec(block="bottleneck", depth=1, width=32, bottleneck_ratio=1.0)


def test_specs_are_frozen():
    spec = netscale.get_spec("resnet_18")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.resolution = 32  # type: ignore[misc]


def test_derived_properties():
    spec = netscale.get_spec("regnet_y_400mf")
    assert spec.total_stride == 32
    assert spec.num_blocks == 16
    assert spec.num_features == 440
    assert spec.stages[0].groups == 48 // 8


def test_derived_widths():
    """Widths every reader (plan, builder, weight import) takes from the spec."""
    mb = StageSpec(block="mbconv", depth=1, width=24, expansion_ratio=6.0, se_ratio=0.25)
    assert mb.expanded_width(16) == 96  # x the block input width
    assert mb.se_width(16) == 4  # "mid": from the block input width
    pre = dataclasses.replace(mb, pre_norm=True, expansion_ratio=4.0)
    assert pre.expanded_width(16) == 96 and pre.se_width(16) == 6  # from the output width
    out = StageSpec(block="bottleneck", depth=1, width=256, se_ratio=0.25, se_placement="out")
    assert out.se_width(64) == 64 and dataclasses.replace(out, se_ratio=0.0).se_width(64) == 0
    assert StageSpec(block="convnext", depth=1, width=96).expanded_width(48) == 384
    assert StemSpec(kind="deep", width=64).deep_mid_width == 32
    assert StemSpec(kind="deep", width=64, mid_width=24).deep_mid_width == 24


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            dict(group_width=8),
            "stages[2].group_width=8 is invalid: only None for block='conv_pool'",
        ),
        (dict(se_ratio=0.25), "stages[2].se_ratio=0.25 is invalid: only 0 for block='conv_pool'"),
        (
            dict(layer_scale=1e-6),
            "stages[2].layer_scale=1e-06 is invalid: only 0 for block='conv_pool'",
        ),
        (
            dict(pre_norm=True),
            "stages[2].pre_norm=True is invalid: only false for block='conv_pool'",
        ),
        (dict(kernel=2), "stages[2].kernel=2 is invalid: must be odd"),
    ],
)
def test_conv_pool_rejects_fields_it_has_no_use_for(fields, message):
    with pytest.raises(SpecError, match=__import__("re").escape(message)):
        _net(block="conv_pool", **fields)
    _net(block="conv_pool", stride=1)  # the defaults are fine, stride 1 or 2


def _whiten(**stem_fields) -> NetSpec:
    stem = dict(kind="whiten", width=24, kernel=2, stride=1)
    stem.update(stem_fields)
    stage = StageSpec(block="conv_pool", depth=1, width=16)
    return NetSpec(stem=StemSpec(**stem), stages=(stage,), resolution=32)


def test_whitening_stem_checks():
    assert _whiten().stem.shrink == 1 and _whiten().stem.total_stride == 1
    assert _whiten(kernel=3, width=54).stem.kernel == 3  # odd kernels too
    with pytest.raises(SpecError, match=r"stem\.stride=2 is invalid: only 1 for kind='whiten'"):
        _whiten(stride=2)
    with pytest.raises(SpecError, match=r"stem\.pool='max' is invalid: only 'none'"):
        _whiten(pool="max")
    with pytest.raises(SpecError) as err:
        _whiten(width=32)
    assert str(err.value) == (
        "stem.width=32 is invalid: a whitening stem has 2 * in_width * kernel**2 = 24 "
        "channels (each eigenvector of the patch covariance and its negative)"
    )
    with pytest.raises(SpecError, match=r"stem\.width=24 .* = 8 channels"):
        NetSpec(stem=_whiten().stem, stages=_whiten().stages, in_width=1)


def test_min_resolution_counts_what_the_whitening_stem_removes(airbench94):
    assert airbench94.total_stride == 8 and airbench94.min_resolution == 9
    assert dataclasses.replace(airbench94, resolution=9).resolution == 9
    with pytest.raises(SpecError) as err:
        dataclasses.replace(airbench94, resolution=8)
    assert str(err.value) == (
        "resolution=8 is invalid: must be >= 9 (the network's total stride 8 + 1 px its "
        "unpadded 2x2 whitening stem removes)"
    )
    resnet = netscale.get_spec("resnet_18")
    assert resnet.min_resolution == resnet.total_stride == 32


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(pool="min"), "head.pool='min' is invalid: allowed: 'avg', 'max'"),
        (dict(logit_scale=0.0), "head.logit_scale=0.0 is invalid: expected a finite number > 0"),
        (dict(logit_scale=-1), "head.logit_scale=-1.0 is invalid: expected a finite number > 0"),
        (dict(logit_scale=float("inf")), "head.logit_scale=inf is invalid"),
        (dict(logit_scale=float("nan")), "head.logit_scale=nan is invalid"),
        (dict(logit_scale=True), "head.logit_scale=True is invalid"),
        (dict(logit_scale="1/9"), "head.logit_scale='1/9' is invalid"),
    ],
)
def test_head_pool_and_logit_scale_checks(fields, message):
    with pytest.raises(SpecError, match=__import__("re").escape(message)):
        HeadSpec(**fields)


def test_head_defaults_and_int_scale_is_a_float():
    head = HeadSpec()
    assert (head.pool, head.logit_scale) == ("avg", 1.0)
    assert isinstance(HeadSpec(logit_scale=2).logit_scale, float)
