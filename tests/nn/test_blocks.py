"""Every block module is its plan: same parameters, same output size, plan-driven forward."""

import pytest
import torch

import netscale
from netscale.nn import (
    BLOCK_MODULES,
    BasicBlock,
    BottleneckBlock,
    ConvPoolBlock,
    Head,
    MBConv,
    Stem,
)
from netscale.plan import block_plan, param_shapes, plan

EPS = 1e-5
# (plan kind, args): every branch of every layout (SE or not, skip or not, fused, ...)
CASES = [
    ("basic", dict(w_in=8, w_out=8, stride=1, kernel=3, se_width=0, avg_shortcut=False)),
    ("basic", dict(w_in=8, w_out=16, stride=2, kernel=3, se_width=4, avg_shortcut=True)),
    *(
        (
            "bottleneck",
            dict(
                w_in=8,
                w_out=32,
                stride=s,
                kernel=3,
                inner=16,
                groups=g,
                se_width=se,
                se_placement=place,
                avg_shortcut=avg,
            ),
        )
        for s, g, se, place, avg in [
            (1, 1, 0, "mid", False),
            (2, 4, 4, "mid", False),
            (2, 2, 8, "out", True),
        ]
    ),
    *(
        ("mbconv", dict(w_in=8, w_out=w_out, stride=s, kernel=k, inner=inner, se_width=se, fused=f))
        for w_out, s, k, inner, se, f in [
            (8, 1, 3, 32, 2, False),
            (16, 2, 5, 8, 2, False),
            (8, 1, 3, 32, 0, True),
            (16, 2, 3, 8, 0, True),
            (8, 1, 3, 8, 2, True),
        ]
    ),
    ("pre_norm_mbconv", dict(w_in=8, w_out=16, stride=2, kernel=3, inner=64, se_width=4)),
    ("pre_norm_mbconv", dict(w_in=16, w_out=16, stride=1, kernel=3, inner=64, se_width=0)),
    ("transformer", dict(w_in=8, w_out=16, stride=2, head_width=8, inner=32, size=5)),
    ("transformer", dict(w_in=16, w_out=16, stride=1, head_width=8, inner=32, size=9)),
    ("conv_pool", dict(w_in=8, w_out=16, stride=2, kernel=3)),
    ("conv_pool", dict(w_in=16, w_out=8, stride=1, kernel=5)),
]  # ConvNeXt: tests/nn/test_convnext.py (torch lists its own `gamma` before its children)


def _args(kind, args):
    return {**args, "act": "silu", "eps": EPS}


@pytest.mark.parametrize(("kind", "args"), CASES)
def test_module_is_its_plan(kind, args):
    args = _args(kind, args)
    bp = block_plan(kind, **args)
    block = BLOCK_MODULES[kind](**args, drop_path_rate=0.1)
    assert {k: tuple(v.shape) for k, v in block.named_parameters()} == bp.layers.params()
    # in plan order too: the optimizer's parameter list (and its checkpoints) follow it
    assert [k for k, _ in block.named_parameters()] == list(bp.layers.params())
    x = torch.randn(2, args["w_in"], 9, 9)
    y = block.eval()(x)
    assert y.shape == (2, args["w_out"], bp.layers.out_size(9), bp.layers.out_size(9))


def test_forward_follows_the_branch():
    block = BasicBlock(
        8, 8, stride=1, kernel=3, se_width=0, avg_shortcut=False, act="relu", eps=EPS
    ).eval()
    x = torch.randn(1, 8, 6, 6)
    branch = block.bn2(block.conv2(block.act1(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(block(x), torch.relu(x + branch))
    mb = MBConv(8, 16, stride=2, kernel=3, inner=32, se_width=0, fused=False, act="relu", eps=EPS)
    assert mb.last_norm() is None  # no skip: nothing to zero-initialize
    bott = BottleneckBlock(
        8,
        8,
        stride=1,
        kernel=3,
        inner=4,
        groups=1,
        se_width=2,
        se_placement="out",
        avg_shortcut=False,
        act="relu",
        eps=EPS,
    )
    assert bott.last_norm() is bott.bn3


def test_stem_is_its_plan():
    stem = Stem("deep", 3, 64, mid_width=32, kernel=3, stride=2, pool="conv", act="relu", eps=EPS)
    assert [n for n, _ in stem.named_children()] == [x.name for x in stem.plan]
    assert {k: tuple(v.shape) for k, v in stem.named_parameters()} == param_shapes(stem.plan)


@pytest.mark.parametrize("name", netscale.list_models())
def test_built_model_parameters_are_the_plan(name):
    """Every stem and block parameter of every registered model, by name and shape."""
    with torch.device("meta"):
        model = netscale.create_model(name)
    net = plan(model.spec)
    want = param_shapes(net.stem, "stem.")
    for i, stage in enumerate(net.stages):
        for j, block in enumerate(stage):
            want |= {f"stages.{i}.{j}.{k}": v for k, v in block.layers.params().items()}
    got = {k: tuple(v.shape) for k, v in model.named_parameters() if not k.startswith("head.")}
    assert got == want


def test_conv_pool_forward_and_airbench_init():
    torch.manual_seed(0)
    block = ConvPoolBlock(8, 16, stride=2, kernel=3, act="gelu", eps=EPS).eval()
    assert isinstance(block.drop_path, torch.nn.Identity) and block.last_norm() is None
    x = torch.randn(2, 8, 9, 9)
    y = torch.nn.functional.max_pool2d(block.conv1(x), 2)  # floor mode: 9 -> 4
    want = block.act2(block.bn2(block.conv2(block.act1(block.bn1(y)))))
    torch.testing.assert_close(block(x), want)
    assert block(x).shape == (2, 16, 4, 4)
    block.init_weights()
    dirac = torch.zeros(8, 8, 3, 3)
    dirac[range(8), range(8), 1, 1] = 1.0
    assert torch.equal(block.conv1.weight[:8], dirac)  # the first min(16, 8) filters
    rest = block.conv1.weight[8:]
    bound = 1 / (8 * 9) ** 0.5  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), +)
    assert rest.abs().max() <= bound and rest.abs().max() > bound / 2
    eye = torch.zeros(16, 16, 3, 3)
    eye[range(16), range(16), 1, 1] = 1.0
    assert torch.equal(block.conv2.weight, eye)  # w_out == w_in: every filter is a Dirac
    narrow = ConvPoolBlock(16, 8, stride=1, kernel=3, act="gelu", eps=EPS)
    narrow.init_weights()
    assert torch.equal(narrow.conv1.weight, eye[:8])  # min(8, 16) = 8 filters, all Dirac


def test_head_pool_and_logit_scale():
    torch.manual_seed(0)
    common = dict(width=0, norm=False, hidden_width=0, dropout_rate=0.0, num_classes=3)
    avg = Head(4, **common, act="relu", eps=EPS).eval()
    mx = Head(4, **common, act="relu", eps=EPS, pool="max", logit_scale=1 / 9).eval()
    mx.load_state_dict(avg.state_dict())  # no new parameters or buffers
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(avg(x), avg.fc(x.mean((2, 3))))
    torch.testing.assert_close(mx(x), mx.fc(x.amax((2, 3))) / 9)
    assert "pool='max', logit_scale=0.111" in repr(mx)
    with pytest.raises(ValueError, match="pool='min' is invalid"):
        Head(4, **common, act="relu", eps=EPS, pool="min")


def test_whitening_stem_module():
    stem = Stem("whiten", 3, 24, mid_width=0, kernel=2, stride=1, pool="none", act="gelu", eps=EPS)
    assert [n for n, _ in stem.named_children()] == ["conv", "act"]
    assert {k: tuple(v.shape) for k, v in stem.named_parameters()} == param_shapes(stem.plan)
    assert stem(torch.randn(1, 3, 32, 32)).shape == (1, 24, 31, 31)
