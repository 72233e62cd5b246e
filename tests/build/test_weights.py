"""Weight import: outputs equal those of randomly initialized timm / torchvision models."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch
from safetensors.torch import save_file

import netscale
from netscale.build import Net, build
from netscale.build.weights import (
    WeightImportError,
    import_weights,
    load_checkpoint,
    supported_sources,
)

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

_NORMS = (torch.nn.BatchNorm2d, torch.nn.LayerNorm)
# (source, netscale name, source model name)
PAIRS = [
    ("timm", "resnet_18", "resnet18"),
    ("timm", "resnet_50", "resnet50"),
    ("timm", "resnet_d_50", "resnet50d"),
    ("timm", "resnet_rs_50", "resnetrs50"),
    ("timm", "regnet_x_200mf", "regnetx_002"),
    ("timm", "regnet_y_200mf", "regnety_002"),
    ("torchvision", "resnet_18", "resnet18"),
    ("torchvision", "resnet_50", "resnet50"),
    ("torchvision", "regnet_x_800mf", "regnet_x_800mf"),
    ("torchvision", "regnet_y_400mf", "regnet_y_400mf"),
    ("timm", "efficientnet_b0", "efficientnet_b0"),
    ("timm", "efficientnet_b3", "efficientnet_b3"),
    ("timm", "efficientnet_v2_s", "efficientnetv2_s"),  # BN eps 1e-5, ours 1e-3
    ("timm", "efficientnet_v2_m", "efficientnetv2_m"),
    ("torchvision", "efficientnet_b0", "efficientnet_b0"),
    ("torchvision", "efficientnet_b3", "efficientnet_b3"),
    ("torchvision", "efficientnet_b5", "efficientnet_b5"),  # BN eps 1e-3, ours 1e-5
    ("torchvision", "efficientnet_v2_s", "efficientnet_v2_s"),
    ("timm", "convnext_atto", "convnext_atto"),  # conv_mlp: its MLP is two 1x1 convs
    ("timm", "convnext_tiny", "convnext_tiny"),
    ("torchvision", "convnext_tiny", "convnext_tiny"),
    ("timm", "coatnet_0", "coatnet_0_224"),
]
# CoAtNet's relative-position tables are sized from the feature maps, so both sides are
# built for 64 px (fast). Nothing else: the import sets the source's norm epsilons.
BUILD_OPTIONS = {("timm", "coatnet_0"): {"resolution": 64}}
SOURCE_OPTIONS = {("timm", "coatnet_0_224"): {"img_size": 64}}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """The forward passes here are small: on 2 busy cores (load 3.8), 2 threads ran the
    output tests 5-10x slower than 1 thread, side by side; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def source_model(source: str, name: str, seed: int = 0) -> torch.nn.Module:
    """A randomly initialized source model whose every norm, layer scale and relative
    position bias has random parameters, and every BatchNorm statistics that fit its
    activations.

    Both libraries start the last BN of each block at zero (and all BN stats at 0 / 1),
    LayerNorms at 1 / 0, ConvNeXt's layer scales at 1e-6 and bias tables near zero, which
    would hide a swapped or dropped layer; randomizing makes every parameter matter.
    Statistics drawn blindly make deep nets collapse or blow up (EfficientNet-B0's logits
    then hardly depend on the input), so they are measured on a random batch (train-mode
    forward, momentum 1) and then perturbed: every layer keeps a signal of order one.
    """
    torch.manual_seed(seed)  # the libraries' own init draws from the global generator
    options = SOURCE_OPTIONS.get((source, name), {})
    if source == "timm":
        model = timm.create_model(name, pretrained=False, **options)
    else:
        model = torchvision.models.get_model(name, weights=None, **options)
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):  # timm's and torchvision's LayerNorm2d too
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0.0, 0.2, generator=g)
        for key, p in model.named_parameters():
            if key.endswith(("gamma", "layer_scale")):  # (C,) timm, (C, 1, 1) torchvision
                p.uniform_(0.5, 1.5, generator=g)
            elif key.endswith("relative_position_bias_table"):  # (rows, heads)
                p.normal_(0.0, 1.0, generator=g)
        for m in norms:
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.normal_(0.0, 0.2, generator=g)
            m.momentum = 1.0  # running stats := the statistics of the next batch
        model.train()(torch.randn(8, 3, 64, 64, generator=g))
        for m in norms:
            m.momentum = 0.1
            noise = torch.randn(m.running_mean.shape, generator=g)
            m.running_mean.add_(0.1 * noise * m.running_var.sqrt())
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25, generator=g))
    return model.eval()


def assert_same_outputs(reference: torch.nn.Module, model: torch.nn.Module) -> None:
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        expected, actual = reference(x), model(x)  # (2, num_classes)
    assert actual.shape == expected.shape
    assert (expected[0] - expected[1]).abs().max() > 1e-3  # not a constant function
    assert expected.std() > 1e-3
    scale = expected.abs().max().item()
    assert (actual - expected).abs().max().item() <= 1e-5 * scale


def norm_eps(model: torch.nn.Module) -> dict[str, float]:
    return {k: m.eps for k, m in model.named_modules() if isinstance(m, _NORMS)}


def assert_spec_eps_is_built(model: Net) -> None:
    """Every norm layer's epsilon is the one `model.spec` builds it with."""
    with torch.device("meta"):
        assert norm_eps(model) == norm_eps(build(model.spec))


@pytest.mark.parametrize(
    ("source", "ours", "theirs"),
    PAIRS,
)
def test_outputs_match_source_model(source: str, ours: str, theirs: str) -> None:
    reference = source_model(source, theirs)
    state_dict = reference.state_dict()
    keys = list(state_dict)
    model = netscale.create_model(ours, **BUILD_OPTIONS.get((source, ours), {}))
    assert import_weights(model, state_dict, source=source) is model
    assert list(state_dict) == keys  # the caller's dict is left as it was
    assert_same_outputs(reference, model)
    assert set(norm_eps(model).values()) == set(norm_eps(reference).values())
    assert_spec_eps_is_built(model)


def test_registry_counterparts_are_supported() -> None:
    for ours in {ours for _, ours, _ in PAIRS}:
        info = netscale.model_info(ours)
        expected = tuple(s for s in ("timm", "torchvision") if getattr(info, s))
        assert supported_sources(netscale.get_spec(ours)) == expected


def test_public_api_wraps_import() -> None:
    reference = source_model("timm", "regnetx_002")
    model = netscale.import_weights(netscale.create_model("regnet_x_200mf"), reference.state_dict())
    assert_same_outputs(reference, model)


def test_load_from_safetensors_file(tmp_path) -> None:
    reference = source_model("timm", "regnety_002")
    path = tmp_path / "regnety_002.safetensors"
    save_file(reference.state_dict(), path)
    model = import_weights(netscale.create_model("regnet_y_200mf"), path)
    assert_same_outputs(reference, model)


def test_load_from_pth_file(tmp_path) -> None:
    reference = source_model("torchvision", "regnet_y_400mf")
    state_dict = reference.state_dict()
    # a bare state dict, then the wrappers of training checkpoints
    for wrapper in (None, "state_dict", "model", "state_dict_ema"):
        path = tmp_path / f"{wrapper}.pth"
        torch.save({wrapper: state_dict, "epoch": 3} if wrapper else state_dict, path)
        model = netscale.create_model("regnet_y_400mf")
        import_weights(model, str(path), source="torchvision")
        assert_same_outputs(reference, model)


def test_checkpoint_without_bn_counters_and_ddp_prefix() -> None:
    reference = source_model("timm", "resnet18")
    state_dict = {
        f"module.{k}": v
        for k, v in reference.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    model = import_weights(netscale.create_model("resnet_18"), state_dict)
    assert_same_outputs(reference, model)


def test_bad_paths_raise(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"unknown extension.*\.safetensors.*\.pth"):
        load_checkpoint(tmp_path / "weights.ckpt")
    with pytest.raises(FileNotFoundError, match=r"missing\.pth"):
        load_checkpoint(tmp_path / "missing.pth")


def test_wrong_family_lists_missing_and_unexpected_keys() -> None:
    state_dict = source_model("timm", "resnet50").state_dict()
    model = netscale.create_model("resnet_d_50")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightImportError) as info:
        import_weights(model, state_dict)
    message = str(info.value)
    assert "missing" in message and "unexpected" in message
    assert "stem.conv1.weight" in message  # a missing key, by our name
    assert "more)" in message  # long lists are capped
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_wrong_num_classes_names_the_classifier() -> None:
    state_dict = source_model("timm", "resnet18").state_dict()
    model = netscale.create_model("resnet_18", num_classes=10)
    with pytest.raises(WeightImportError, match=r"head\.fc.*num_classes=1000"):
        import_weights(model, state_dict)
    with pytest.raises(WeightImportError, match=r"\(1000, 512\) vs model \(10, 512\)"):
        import_weights(model, state_dict, strict=False)  # wrong shapes raise even then


def test_non_strict_skips_keys_on_one_side() -> None:
    reference = source_model("timm", "resnet18")
    state_dict = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    state_dict["extra.weight"] = torch.zeros(3)
    model = netscale.create_model("resnet_18", num_classes=10)
    with pytest.raises(WeightImportError, match=r"extra\.weight"):
        import_weights(model, state_dict)
    import_weights(model, state_dict, strict=False)
    assert torch.equal(model.stem.conv.weight, reference.conv1.weight)


def test_unknown_source_raises() -> None:
    with pytest.raises(ValueError, match="allowed: timm, torchvision"):
        import_weights(netscale.create_model("resnet_18"), {}, source="keras")


def test_unsupported_pair_names_supported_sources() -> None:
    model = netscale.create_model("resnet_rs_50")
    with pytest.raises(ValueError, match=r"supported sources for this model: timm$"):
        import_weights(model, {}, source="torchvision")
    # torchvision has no ResNet-D, and its regnet_x_400mf rounds widths unlike pycls
    for name in ("resnet_d_50", "regnet_x_400mf"):
        assert supported_sources(netscale.get_spec(name)) == ("timm",)


def test_model_without_mapping_raises() -> None:
    spec = netscale.get_spec("regnet_x_200mf")
    spec = dataclasses.replace(spec, name="", head=dataclasses.replace(spec.head, width=64))
    with pytest.raises(ValueError, match="no weight mapping"):
        import_weights(netscale.create_model(spec), {})


def test_non_netscale_model_raises() -> None:
    with pytest.raises(TypeError, match="netscale Net"):
        import_weights(torch.nn.Linear(2, 2), {})


def test_efficientnet_of_other_size_lists_what_differs() -> None:
    # B1 is B0 with more blocks (depth x1.1): stage 0 has 2 blocks, not 1.
    for source in ("timm", "torchvision"):
        state_dict = source_model(source, "efficientnet_b0").state_dict()
        model = netscale.create_model("efficientnet_b1")
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(WeightImportError, match=r"missing.*stages\.0\.1\.conv2\.weight"):
            import_weights(model, state_dict, source=source)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert model.spec == netscale.get_spec("efficientnet_b1")  # epsilons untouched
    # B2 is also wider (x1.1): stage 2 has 48 channels, not 40; wrong shapes raise anyway.
    model = netscale.create_model("efficientnet_b2")
    with pytest.raises(WeightImportError, match=r"stages\.2\.0\.conv3\.weight checkpoint \(40,"):
        import_weights(model, state_dict, source="torchvision", strict=False)


def test_import_sets_the_source_bn_epsilon() -> None:
    reference = source_model("torchvision", "efficientnet_b0")  # BN eps 1e-5
    model = netscale.create_model("efficientnet_b0", norm_eps=1e-3)
    import_weights(model, reference.state_dict(), source="torchvision")
    assert model.spec.norm_eps == 1e-5
    assert_spec_eps_is_built(model)
    assert_same_outputs(reference, model)
    # an unnamed spec takes the epsilons of the registered model of its architecture
    spec = dataclasses.replace(netscale.get_spec("efficientnet_v2_s"), name="", resolution=64)
    reference = source_model("timm", "efficientnetv2_s")
    model = import_weights(netscale.create_model(spec), reference.state_dict())
    assert model.spec.norm_eps == 1e-5
    assert_same_outputs(reference, model)


def test_efficientnet_sources_by_structure() -> None:
    v1, v2 = netscale.get_spec("efficientnet_b0"), netscale.get_spec("efficientnet_v2_s")
    unnamed = [dataclasses.replace(s, name="") for s in (v1, v2)]
    assert [supported_sources(s) for s in unnamed] == [("timm", "torchvision")] * 2
    # torchvision's Fused-MBConv has no SE and its MBConv always has one; timm's may vary
    stages = tuple(dataclasses.replace(s, se_ratio=0.25) for s in v2.stages)
    assert supported_sources(dataclasses.replace(v2, name="", stages=stages)) == ("timm",)
    # both libraries hard-code SiLU and a conv head
    assert supported_sources(dataclasses.replace(v1, name="", act="relu")) == ()
    no_head = dataclasses.replace(v1, name="", head=dataclasses.replace(v1.head, width=0))
    assert supported_sources(no_head) == ()
    assert supported_sources(netscale.get_spec("efficientnet_v2_xl")) == ("timm",)


@pytest.mark.parametrize("name", [f"efficientnet_v2_b{i}" for i in range(4)])
def test_efficientnet_v2_base_has_no_counterpart(name: str) -> None:
    assert supported_sources(netscale.get_spec(name)) == ()
    with pytest.raises(ValueError, match=r"no timm or torchvision counterpart.*tf_efficientnetv2"):
        import_weights(netscale.create_model(name), {}, source="timm")


def test_convnext_of_other_size_lists_what_differs() -> None:
    # atto's 1x1-conv MLP weights are reshaped, then checked: femto is wider (48, not 40)
    state_dict = source_model("timm", "convnext_atto").state_dict()
    mlp = {k: v for k, v in state_dict.items() if k.startswith("stages.0.blocks.0.mlp.fc1.")}
    model = netscale.create_model("convnext_femto")
    match = r"stages\.0\.0\.fc1\.weight checkpoint \(160, 40\) vs model \(192, 48\)"
    with pytest.raises(WeightImportError, match=match):
        import_weights(model, mlp, strict=False)
    # small is tiny with 27 blocks in stage 2, not 9
    for source in ("timm", "torchvision"):
        state_dict = source_model(source, "convnext_tiny").state_dict()
        model = netscale.create_model("convnext_small")
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(WeightImportError, match=r"missing.*stages\.2\.9\.gamma"):
            import_weights(model, state_dict, source=source)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_import_sets_the_source_layer_norm_epsilon_only() -> None:
    reference = source_model("timm", "convnext_atto")
    model = netscale.create_model("convnext_atto", norm_eps=1e-3, layer_norm_eps=1e-5)
    import_weights(model, reference.state_dict())
    # no BatchNorm in a ConvNeXt: its norm_eps is left as it was
    assert (model.spec.layer_norm_eps, model.spec.norm_eps) == (1e-6, 1e-3)
    assert_spec_eps_is_built(model)
    assert_same_outputs(reference, model)


def test_coatnet_of_other_size_or_resolution_lists_what_differs() -> None:
    state_dict = source_model("timm", "coatnet_0_224").state_dict()  # built for 64 px
    # coatnet_1 has 6 blocks in stage 1, not 3
    model = netscale.create_model("coatnet_1", resolution=64)
    with pytest.raises(WeightImportError, match=r"missing.*stages\.1\.3\.pre_norm\.weight"):
        import_weights(model, state_dict)
    # at 224 px the tables hold the offsets of 14x14 maps (stage 2), not 4x4
    model = netscale.create_model("coatnet_0")
    with pytest.raises(WeightImportError) as info:
        import_weights(model, state_dict)
    message = str(info.value)
    assert "stages.2.0.attn.bias_table checkpoint (49, 12) vs model (729, 12)" in message
    assert "for 4x4 feature maps where this model's are for 14x14" in message


def test_coatnet_sources() -> None:
    with pytest.raises(ValueError, match=r"supported sources for this model: timm$"):
        import_weights(netscale.create_model("coatnet_0", resolution=64), {}, "torchvision")
    with pytest.raises(ValueError, match="coatnet_nano has no timm or torchvision counterpart"):
        import_weights(netscale.create_model("coatnet_nano", resolution=32), {})
    assert [supported_sources(netscale.get_spec(f"coatnet_{i}")) for i in range(5)] == [
        ("timm",)
    ] * 5


def test_convnext_and_coatnet_sources_by_structure() -> None:
    def unnamed(name: str, **changes: object) -> netscale.NetSpec:
        return dataclasses.replace(netscale.get_spec(name), name="", **changes)

    convnext, coatnet = unnamed("convnext_atto"), unnamed("coatnet_0")
    assert supported_sources(convnext) == ("timm", "torchvision")
    assert supported_sources(coatnet) == ("timm",)  # torchvision has no CoAtNet
    # torchvision's ConvNeXt always has a layer scale
    stages = tuple(dataclasses.replace(s, layer_scale=0.0) for s in convnext.stages)
    assert supported_sources(dataclasses.replace(convnext, stages=stages)) == ("timm",)
    # both have a non-overlapping patchify stem and a GELU; timm's pre-logits use GELU
    stem = dataclasses.replace(convnext.stem, kernel=7)
    head = dataclasses.replace(convnext.head, hidden_width=320)
    for spec in (
        dataclasses.replace(convnext, stem=stem),
        dataclasses.replace(convnext, act="relu"),
        dataclasses.replace(convnext, head=head),
    ):
        assert supported_sources(spec) == ()
    # timm normalizes before pooling without a pre-logits layer (as coatnet_nano), and
    # halves the resolution in every stage
    head = dataclasses.replace(coatnet.head, hidden_width=0)
    stages = (dataclasses.replace(coatnet.stages[0], stride=1), *coatnet.stages[1:])
    for spec in (
        dataclasses.replace(coatnet, head=head),
        dataclasses.replace(coatnet, stages=stages),
        unnamed("coatnet_nano"),
    ):
        assert supported_sources(spec) == ()
    # the other families are not taken for one of these
    assert supported_sources(unnamed("resnet_50")) == ("timm", "torchvision")
    assert supported_sources(unnamed("efficientnet_b0")) == ("timm", "torchvision")


def test_airbench_kinds_have_no_source(airbench94) -> None:
    """Neither library has a whitening stem, conv_pool blocks, a max-pooled head or a
    logit scale: no sources, and import says there is no mapping."""
    assert supported_sources(airbench94) == ()
    with pytest.raises(ValueError, match="no weight mapping for airbench94"):
        import_weights(netscale.create_model(airbench94), {})
    resnet = dataclasses.replace(netscale.get_spec("resnet_50"), name="")
    assert supported_sources(resnet) == ("timm", "torchvision")
    for head in (dict(pool="max"), dict(logit_scale=0.5)):
        changed = dataclasses.replace(resnet, head=dataclasses.replace(resnet.head, **head))
        assert supported_sources(changed) == ()
