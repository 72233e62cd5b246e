"""The builder against the analytic counts, torch's FLOP counter, and in real forward passes."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import netscale
from netscale.build import Net, build
from netscale.nn import BottleneckBlock, DropPath
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec, save


def _meta_model(name: str) -> Net:
    with torch.device("meta"):
        return netscale.create_model(name)


@pytest.mark.parametrize("name", netscale.list_models())
def test_params_and_flops_match_analytic(name):
    """params == sum of parameters; torch counts 2 per multiply-add and no bias additions."""
    model = _meta_model(name)
    cx = netscale.complexity(name)
    assert sum(p.numel() for p in model.parameters()) == cx.params
    res = cx.resolution
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, res, res, device="meta"))
    assert counter.get_total_flops() == 2 * (cx.flops - cx.bias_flops)


@pytest.mark.parametrize(
    ("name", "res"),
    [
        ("resnet_18", 64),
        ("regnet_y_200mf", 32),
        ("resnet_rs_50", 33),
        ("efficientnet_b0", 32),
        ("efficientnet_v2_b0", 64),
        ("convnext_atto", 64),
        ("coatnet_nano", 64),
    ],
)
def test_forward_shapes_and_channels_last(name, res):
    torch.manual_seed(0)
    model = netscale.create_model(name, num_classes=10).eval()
    x = torch.randn(2, 3, res, res)
    with torch.no_grad():
        y = model(x)
        feats = model.forward_features(x)
        model_cl = model.to(memory_format=torch.channels_last)
        y_cl = model_cl(x.to(memory_format=torch.channels_last))
    assert y.shape == (2, 10)
    assert feats.shape[1] == model.spec.stages[-1].width
    assert feats.shape[-1] == netscale.complexity(model.spec, res).parts[-2].resolution
    torch.testing.assert_close(y_cl, y, rtol=1e-4, atol=1e-5)


def test_state_dict_layout():
    keys = set(netscale.create_model("regnet_y_200mf").state_dict())
    assert {
        "stem.conv.weight",
        "stages.0.0.conv2.weight",
        "stages.0.0.se_mid.fc1.bias",
        "stages.0.0.shortcut.conv.weight",
        "head.fc.weight",
    } <= keys
    keys = set(_meta_model("resnet_rs_50").state_dict())
    assert {
        "stem.conv3.weight",
        "stem.pool_conv.weight",
        "stages.1.0.se_out.fc2.weight",
        "stages.1.0.shortcut.conv.weight",
    } <= keys


def test_zero_init_residual_and_init():
    model = netscale.create_model("resnet_50")
    for block in model.modules():
        if isinstance(block, BottleneckBlock):
            assert torch.count_nonzero(block.bn3.weight) == 0
    model = netscale.create_model("resnet_50", zero_init_residual=False)
    assert torch.all(model.stages[0][0].bn3.weight == 1)
    assert model.head.fc.weight.std().item() == pytest.approx(0.01, rel=0.1)


def test_drop_path_schedule_and_behaviour():
    model = netscale.create_model("resnet_18", drop_path_rate=0.2)
    rates = [m.rate for m in model.modules() if isinstance(m, DropPath)]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2) and rates == sorted(rates)
    drop = DropPath(0.5)
    x = torch.ones(1000, 1, 1, 1)
    torch.manual_seed(0)
    y = drop(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and rescaled by 1/keep
    assert y.mean().item() == pytest.approx(1.0, abs=0.1)
    assert torch.equal(drop.eval()(x), x)


def test_create_model_from_spec_file_and_spec(tmp_path):
    spec = netscale.get_spec("regnet_x_200mf", resolution=32)
    path = save(spec, tmp_path / "x.yaml")
    for source in (path, str(path), spec):
        model = netscale.create_model(source, num_classes=7)
        assert model.spec.head.num_classes == 7 and model.spec.resolution == 32


def test_bad_input():
    with pytest.raises(TypeError, match="needs a NetSpec"):
        build({"stages": []})


@pytest.mark.parametrize("name", ["coatnet_nano", "convnext_atto"])
@pytest.mark.parametrize("res", [32, 224])
def test_trains_a_step(name, res):
    torch.manual_seed(0)
    model = netscale.create_model(name, num_classes=10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(2, 3, res, res), torch.tensor([1, 7])
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed > len(before) // 2


def _new_features_spec() -> NetSpec:
    """Every new feature beside others: an odd 3x3 whitening stem, conv_pool stages at
    stride 2 and 1 (depth 2: a stride-1 block without pool), a basic stage, and a head with
    a conv, max-pooling and a logit scale."""
    return NetSpec(
        stem=StemSpec(kind="whiten", width=54, kernel=3, stride=1),
        stages=(
            StageSpec(block="conv_pool", depth=2, width=32, stride=2),
            StageSpec(block="conv_pool", depth=1, width=16, stride=1, kernel=5),
            StageSpec(block="basic", depth=1, width=48, stride=2),
        ),
        head=HeadSpec(width=64, pool="max", logit_scale=0.5, num_classes=7),
        act="silu",
        resolution=35,
    )


@pytest.mark.parametrize("which", ["airbench94", "new_features"])
@pytest.mark.parametrize("res", [None, 33])
def test_new_kinds_match_analytic_and_flop_counter(which, res, airbench94):
    spec = airbench94 if which == "airbench94" else _new_features_spec()
    with torch.device("meta"):
        model = build(spec)
    cx = netscale.complexity(spec, res)
    assert sum(p.numel() for p in model.parameters()) == cx.params
    r = cx.resolution
    with FlopCounterMode(display=False) as counter:
        feats = model.forward_features(torch.empty(1, 3, r, r, device="meta"))
        model.head(feats)
    assert counter.get_total_flops() == 2 * (cx.flops - cx.bias_flops)
    assert feats.shape[-1] == cx.parts[-2].resolution


@pytest.mark.parametrize("which", ["airbench94", "new_features"])
def test_new_kinds_forward_backward_channels_last(which, airbench94):
    spec = airbench94 if which == "airbench94" else _new_features_spec()
    torch.manual_seed(0)
    model = build(spec)
    n = spec.head.num_classes
    x = torch.randn(2, 3, spec.resolution, spec.resolution)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = model.eval()(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(x_cl)
    assert out.shape == (2, n)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    loss = torch.nn.functional.cross_entropy(model_cl.train()(x_cl), torch.arange(2) % n)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model_cl.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model_cl.stem.conv.bias.grad.abs().sum() > 0


def test_new_kinds_state_dict_and_init(airbench94):
    torch.manual_seed(0)
    model = build(airbench94)
    keys = set(model.state_dict())
    assert {"stem.conv.weight", "stem.conv.bias", "head.fc.weight", "head.fc.bias"} <= keys
    for i in range(3):
        block = {k.split(".", 3)[3] for k in keys if k.startswith(f"stages.{i}.0.")}
        assert {k.rsplit(".", 1)[0] for k in block} == {"conv1", "bn1", "conv2", "bn2"}
    first = model.stages[0][0]
    eye = torch.zeros(24, 24, 3, 3)
    eye[range(24), range(24), 1, 1] = 1.0
    assert torch.equal(first.conv1.weight[:24], eye)  # airbench's init, not He-normal
    assert first.conv1.weight[24:].abs().max() <= 1 / (24 * 9) ** 0.5
    # zero_init_residual (true) has nothing to zero: no skip
    assert all(torch.all(b.bn2.weight == 1) for s in model.stages for b in s)
    assert torch.count_nonzero(model.stem.conv.bias) == 0
