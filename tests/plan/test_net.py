"""A spec's layer plan: every block kind has a reader, and complexity is a sum over it."""

import dataclasses
import math
import subprocess
import sys

import pytest

import netscale
from netscale.plan import BLOCKS, LAYOUTS, param_shapes, plan
from netscale.plan.layers import num_params
from netscale.spec.net import BLOCK_KINDS


def test_every_block_kind_is_registered(airbench94):
    assert set(BLOCKS) == set(BLOCK_KINDS)
    specs = [netscale.get_spec(n) for n in netscale.list_models()] + [airbench94]
    kinds = {b.kind for spec in specs for s in plan(spec).stages for b in s}
    assert kinds == set(LAYOUTS)  # every layout is used by a registered model or airbench94


@pytest.mark.parametrize("name", netscale.list_models())
def test_count_is_a_sum_over_the_plan(name):
    """Per part: params are the plan's parameter shapes; sizes the plan's feature maps."""
    spec = netscale.get_spec(name)
    net, cx = plan(spec), netscale.complexity(name)
    assert cx.parts[0].params == num_params(param_shapes(net.stem))
    for part, stage in zip(cx.parts[1:-1], net.stages, strict=True):
        assert part.params == sum(num_params(block.layers.params()) for block in stage)
    assert net.sizes(spec.resolution) == tuple(p.resolution for p in cx.parts[:-1])
    odd = netscale.complexity(name, resolution=spec.resolution + 1)
    assert net.sizes(spec.resolution + 1) == tuple(p.resolution for p in odd.parts[:-1])


def test_block_args_are_plain_numbers_and_strings():
    for stage in plan(netscale.get_spec("coatnet_0")).stages:
        for block in stage:
            assert all(isinstance(v, int | float | str | bool) for v in block.args.values())
            assert LAYOUTS[block.kind](**block.args) == block.layers


def test_attention_tables_are_sized_at_the_spec_resolution():
    spec = netscale.get_spec("coatnet_0")
    last = plan(spec).stages[-1][0].layers.residuals[0].branch[-1]
    assert last.size == math.ceil(spec.resolution / 32)


def test_plan_is_torch_free():
    code = (
        "import sys, netscale.plan as p, netscale\n"
        "p.plan(netscale.get_spec('coatnet_0'))\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_airbench94_sizes_and_layers(airbench94):
    """A 2x2 unpadded whitening stem takes 32 px to 31; each stride-2 conv_pool block halves
    in floor mode: 31 -> 15 -> 7 -> 3 (the 'same' rule would give 16, 8, 4)."""
    net = plan(airbench94)
    assert net.sizes(32) == (31, 15, 7, 3)
    assert net.sizes(9) == (8, 4, 2, 1)  # the smallest input, min_resolution
    assert [x.name for x in net.stem] == ["conv", "act"]
    assert [b.kind for s in net.stages for b in s] == ["conv_pool"] * 3
    first = net.stages[0][0]
    assert first.args == dict(w_in=24, w_out=64, stride=2, act="gelu", eps=1e-5, kernel=3)
    assert first.layers.params() == {
        "conv1.weight": (64, 24, 3, 3),
        "bn1.weight": (64,),
        "bn1.bias": (64,),
        "conv2.weight": (64, 64, 3, 3),
        "bn2.weight": (64,),
        "bn2.bias": (64,),
    }
    deeper = dataclasses.replace(airbench94.stages[1], depth=2)
    spec = dataclasses.replace(airbench94, stages=(airbench94.stages[0], deeper))
    second = plan(spec).stages[1][1]  # stride 1: no pool
    assert [x.name for x in second.layers.layers()] == [
        *("conv1", "bn1", "act1", "conv2", "bn2", "act2")
    ]
    assert plan(spec).sizes(32) == (31, 15, 7)
