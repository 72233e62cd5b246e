"""EfficientNet and EfficientNetV2: stage tables, rounding, published numbers, timm FLOPs."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import netscale
from netscale.build.counterparts import counterpart_model
from netscale.families.efficientnet import EFFICIENTNET

# Per-stage depths and widths, stem and head of the released models (timm == torchvision).
V1_TABLE = {
    "b0": ([1, 2, 2, 3, 3, 4, 1], [16, 24, 40, 80, 112, 192, 320], 32, 1280),
    "b3": ([2, 3, 3, 5, 5, 6, 2], [24, 32, 48, 96, 136, 232, 384], 40, 1536),
    "b5": ([3, 5, 5, 7, 7, 9, 3], [24, 40, 64, 128, 176, 304, 512], 48, 2048),
    "b7": ([4, 7, 7, 10, 10, 13, 4], [32, 48, 80, 160, 224, 384, 640], 64, 2560),
}


@pytest.mark.parametrize("variant", sorted(V1_TABLE))
def test_v1_tables(variant):
    spec = netscale.get_spec(f"efficientnet_{variant}")
    depths, widths, stem, head = V1_TABLE[variant]
    assert [s.depth for s in spec.stages] == depths
    assert [s.width for s in spec.stages] == widths
    assert (spec.stem.width, spec.head.width) == (stem, head)
    assert spec.resolution == EFFICIENTNET[variant][2]
    assert spec.head.dropout_rate == EFFICIENTNET[variant][3]


def test_b0_matches_the_paper():
    cx = netscale.complexity("efficientnet_b0")
    assert round(cx.flops / 1e9, 2) == 0.39  # paper: 0.39 B FLOPs (multiply-adds)
    assert round(cx.params / 1e6, 1) == 5.3  # paper: 5.3 M
    assert cx.params == 5_288_548


def test_v2_s_layout():
    spec = netscale.get_spec("efficientnet_v2_s")
    assert [s.block for s in spec.stages] == ["fused_mbconv"] * 3 + ["mbconv"] * 3
    assert [s.depth for s in spec.stages] == [2, 4, 4, 6, 9, 15]
    assert [s.se_ratio for s in spec.stages] == [0, 0, 0, 0.25, 0.25, 0.25]
    assert spec.norm_eps == 1e-3 and spec.resolution == 300
    info = netscale.model_info("efficientnet_v2_s")
    assert info.test_resolution == 384
    assert (info.progressive.min_resolution, info.progressive.max_resolution) == (128, 300)
    assert info.progressive.max_dropout == 0.3


def test_v2_base_widths_have_no_ten_percent_rule():
    # 16 * 1.1 = 17.6 rounds to 16 without the 10% rule (16 < 0.9 * 17.6 is false anyway);
    # 1280 * 1.1 = 1408; V2-B3 stem 32 * 1.2 = 38.4 -> 40.
    b3 = netscale.get_spec("efficientnet_v2_b3")
    assert b3.stem.width == 40 and b3.head.width == 1536
    assert netscale.complexity("efficientnet_v2_b0").params == 7_139_704  # V2 code: 7.1 M


@pytest.mark.parametrize("variant", ["b0", "b1", "b2", "b3"])
def test_v2_base_params_equal_timm_tf_port(variant):
    import timm

    with torch.device("meta"):
        theirs = timm.create_model(f"tf_efficientnetv2_{variant}")
    ours = netscale.complexity(f"efficientnet_v2_{variant}").params
    assert sum(p.numel() for p in theirs.parameters()) == ours


TIMM_COUNTERPARTS = [
    n for n in netscale.list_models("efficientnet*") if netscale.model_info(n).timm
]


@pytest.mark.parametrize("name", TIMM_COUNTERPARTS)
def test_flops_within_one_percent_of_timm(name):
    """Analytic multiply-adds vs conv + matmul multiply-adds measured on timm's model."""
    cx = netscale.complexity(name)
    model = counterpart_model(name, "timm", device="meta")
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, cx.resolution, cx.resolution, device="meta"))
    measured = counter.get_total_flops() / 2
    assert abs(cx.flops - measured) / measured < 0.01
