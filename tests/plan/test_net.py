"""A spec's layer plan: every block kind has a reader, and complexity is a sum over it."""

import math
import subprocess
import sys

import pytest

import netscale
from netscale.plan import BLOCKS, LAYOUTS, param_shapes, plan
from netscale.plan.layers import num_params
from netscale.spec.net import BLOCK_KINDS


def test_every_block_kind_is_registered():
    assert set(BLOCKS) == set(BLOCK_KINDS)
    kinds = {
        b.kind for n in netscale.list_models() for s in plan(netscale.get_spec(n)).stages for b in s
    }
    assert kinds == set(LAYOUTS)  # every layout is used by a registered model


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
