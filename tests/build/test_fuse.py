"""optimize_for_inference: BN folded for every family, outputs equal, input untouched."""

import pytest
import torch
from torch import nn

import netscale
from netscale.build.fuse import FuseError, optimize_for_inference

# one small model per family, plus ResNet-RS (deep stem, strided-conv "pool", avg shortcut)
MODELS = [
    ("resnet_18", 32),
    ("resnet_rs_50", 32),
    ("regnet_y_200mf", 32),
    ("efficientnet_b0", 32),
    ("efficientnet_v2_b0", 32),
    ("convnext_atto", 32),
    ("coatnet_nano", 64),
]
_BN = (nn.BatchNorm2d, nn.SyncBatchNorm)


def _randomize(model: nn.Module, gen: torch.Generator) -> None:
    """Random BN statistics and affine parameters, and layer scales, so folding matters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BN):
                n = m.num_features
                m.running_mean.copy_(0.3 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.3 * torch.randn(n, generator=gen))
            if getattr(m, "gamma", None) is not None:
                m.gamma.copy_(0.5 + torch.rand(m.gamma.shape, generator=gen))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference relative to the reference's largest magnitude."""
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize(("name", "res"), MODELS)
def test_equivalent_for_every_family(name, res):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = netscale.create_model(name, num_classes=10, resolution=res)
    _randomize(model, gen)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, res, res, generator=gen)

    fused = optimize_for_inference(model)

    assert not any(isinstance(m, _BN) for m in fused.modules())
    assert not fused.training
    assert fused.spec == model.spec
    assert all(getattr(m, "gamma", None) is None for m in fused.modules())
    with torch.no_grad():
        ref = model.eval()(x)
        out = fused(x.contiguous(memory_format=torch.channels_last))
        out_nchw = fused(x)
    assert _rel(out, ref) <= 1e-5
    assert _rel(out_nchw, ref) <= 1e-5
    # the input model is untouched (it still has its BN layers and values)
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_randomized_statistics_change_the_output():
    """Guards the equivalence test: with these statistics, dropping a BN would show."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = netscale.create_model("resnet_18", num_classes=10, resolution=32).eval()
    x = torch.randn(2, 3, 32, 32, generator=gen)
    with torch.no_grad():
        plain = model(x)
        _randomize(model, gen)
        assert _rel(model(x), plain) > 1e-2


def test_channels_last_weights_and_option():
    model = netscale.create_model("regnet_x_200mf", num_classes=10, resolution=32)
    convs = [m for m in optimize_for_inference(model).modules() if isinstance(m, nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    convs = [
        m
        for m in optimize_for_inference(model, channels_last=False).modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)
    ]
    assert all(c.weight.is_contiguous() for c in convs)


def test_generic_sequential_conv_bn():
    gen = torch.Generator().manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)
    )
    _randomize(model, gen)
    fused = optimize_for_inference(model)
    assert isinstance(fused[1], nn.Identity) and fused[0].bias is not None
    x = torch.randn(2, 3, 8, 8, generator=gen)
    with torch.no_grad():
        assert _rel(fused(x), model.eval()(x)) <= 1e-5


class _Unplaced(nn.Module):
    """A BN applied before a padded conv: nothing may fold it."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x))


def test_errors_for_what_it_cannot_take():
    with pytest.raises(FuseError, match=r"needs an nn\.Module"):
        optimize_for_inference("resnet_18")
    with pytest.raises(
        FuseError, match=r"cannot fold 1 BatchNorm layer\(s\) of _Unplaced \(norm\)"
    ):
        optimize_for_inference(_Unplaced())
    with pytest.raises(FuseError, match="no running statistics"):
        optimize_for_inference(
            nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, track_running_stats=False))
        )
    with torch.device("meta"):
        meta = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    with pytest.raises(FuseError, match="meta device"):
        optimize_for_inference(meta)
    compiled = torch.compile(nn.Sequential(nn.Conv2d(3, 4, 1)))
    with pytest.raises(FuseError, match="before compiling"):
        optimize_for_inference(compiled)
    assert issubclass(FuseError, ValueError)


@pytest.mark.parametrize("negative", [False, True])
def test_conv_pool_bn_folds_through_the_max_pool_unless_a_scale_is_negative(negative, airbench94):
    """bn(max_pool(conv(x))) = max_pool(bn(conv(x))) when every BN scale is >= 0; a
    negative scale turns the max into a min, so that BN stays (and the output is equal)."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = netscale.create_model(airbench94)
    _randomize(model, gen)
    block = model.stages[1][0]
    if negative:
        with torch.no_grad():
            block.bn1.weight[::3] *= -1
    x = torch.randn(2, 3, 32, 32, generator=gen)

    fused = optimize_for_inference(model)

    bns = [name for name, m in fused.named_modules() if isinstance(m, _BN)]
    assert bns == (["stages.1.0.bn1"] if negative else [])
    assert isinstance(fused.stages[1][0].bn2, nn.Identity)  # after conv2: folded anyway
    assert isinstance(fused.stages[0][0].bn1, nn.Identity)
    with torch.no_grad():
        ref = model.eval()(x)
        out = fused(x.contiguous(memory_format=torch.channels_last))
    assert _rel(out, ref) <= 1e-5
    # a guard: folding the negative-scale BN through the pool would change the output
    if negative:
        wrong = optimize_for_inference(model)
        from netscale.build.fuse import _fold_after

        with torch.no_grad():
            b = wrong.stages[1][0]
            _fold_after(b.conv1, b.bn1)
            b.bn1 = nn.Identity()
            assert _rel(wrong(x), ref) > 1e-3
