"""The public facade: each function reaches the layer below with its arguments intact."""

import inspect

import pytest
import torch

import netscale
from netscale import api
from netscale.build.weights import WeightImportError
from netscale.complexity import count
from netscale.families import resolve
from netscale.spec import HeadSpec, NetSpec, SpecError, StageSpec, StemSpec, save
from netscale.training.recipe import RecipeError


def _tiny(**changes) -> NetSpec:
    fields = dict(
        name="tiny_api",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=(StageSpec(block="bottleneck", depth=1, width=16, stride=2, group_width=8),),
        head=HeadSpec(num_classes=4),
        resolution=16,
    )
    return NetSpec(**{**fields, **changes})


def test_everything_listed_exists_and_the_package_exports_it():
    for name in api.__all__:
        assert callable(getattr(api, name)), name
    exported = set(api.__all__) - {"model_card"}  # the card is `netscale.api.model_card`
    assert all(getattr(netscale, name) is getattr(api, name) for name in exported)
    assert api.model_card is resolve.model_card and api.resolve_spec is resolve.resolve_spec


def test_complexity_of_names_specs_and_files(tmp_path):
    spec = netscale.get_spec("resnet_18")
    assert api.complexity("resnet_18") == count(spec)
    assert api.complexity(spec, 128) == count(spec, 128)
    assert api.complexity("resnet_18", resolution=128).resolution == 128
    path = save(_tiny(), tmp_path / "tiny.yaml")
    assert api.complexity(path) == api.complexity(str(path)) == count(_tiny())


def test_complexity_errors_name_the_model():
    with pytest.raises(netscale.families.registry.UnknownModelError, match="resnet_5"):
        api.complexity("resnet_5")


def test_create_model_applies_num_classes_and_overrides():
    model = api.create_model(_tiny(), num_classes=7, resolution=32)
    assert model.spec.head.num_classes == 7 and model.spec.resolution == 32
    assert model.spec.name == "tiny_api"
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    default = api.create_model(_tiny())
    assert default.spec == _tiny()  # no override: the spec as given
    with pytest.raises(SpecError, match="num_classes=0"):
        api.create_model(_tiny(), num_classes=0)


def test_create_model_leaves_the_callers_overrides_alone():
    overrides = {"resolution": 32}
    api.create_model(_tiny(), 5, **overrides)
    assert overrides == {"resolution": 32}


def test_import_weights_passes_strict_and_source():
    model = api.create_model("resnet_18", num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightImportError, match="missing"):
        api.import_weights(model, {})  # strict: every model key must come from it
    fc = {"fc.weight": torch.ones(10, 512), "fc.bias": torch.zeros(10)}
    assert api.import_weights(model, fc, source="torchvision", strict=False) is model
    assert torch.equal(model.head.fc.weight, torch.ones(10, 512))
    assert torch.equal(model.stem.conv.weight, before["stem.conv.weight"])  # the rest kept
    with pytest.raises(ValueError, match="source='keras' is invalid"):
        api.import_weights(model, fc, source="keras")


def test_optimize_for_inference_keeps_outputs():
    torch.manual_seed(0)
    model = api.create_model(_tiny())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 16, 16)
    fused = api.optimize_for_inference(model, channels_last=False)
    assert fused is not model and model.training  # a copy; the original untouched
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert fused.stem.conv.weight.is_contiguous()  # channels_last=False passed through
    last = api.optimize_for_inference(model)
    assert last.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = model.eval()(x)
        assert torch.allclose(fused(x), expected, atol=1e-5)
        assert torch.allclose(last(x), expected, atol=1e-5)


def test_profile_passes_its_settings():
    result = api.profile(_tiny(), batch=2, warmup=1, iters=2, precision="fp32", resolution=16)
    assert (result.name, result.device, result.mode, result.precision) == (
        "tiny_api",
        "cpu",
        "infer",
        "fp32",
    )
    assert (result.batch, result.resolution, result.steps) == (2, 16, 2)
    assert result.flops == count(_tiny()).flops and result.images_per_s > 0
    with pytest.raises(ValueError, match="mode"):
        api.profile(_tiny(), mode="fly", iters=1)


def test_scale_to_speed_resolves_the_model_and_passes_its_settings(tmp_path):
    from netscale.profiling.speed_cache import Measurement

    seen = []

    def fake(spec, **settings):  # latency from the analytic count: nothing is timed
        seen.append(settings)
        lat = 1e-3 + 2e-11 * count(spec).flops * settings["batch"]
        return Measurement(lat, settings["batch"] / lat)

    path = save(_tiny(), tmp_path / "tiny.yaml")
    result = api.scale_to_speed(
        path, "width", target_latency_s="1.3ms", batch=2, measure=fake, cache=False, tolerance=0.5
    )
    assert result.rule == "width" and result.spec.name == "tiny_api_width_1_3ms_cpu"
    assert seen[0] == dict(
        device="cpu", batch=2, mode="infer", precision="fp32", channels_last=True
    )
    with pytest.raises(ValueError, match="target_latency='fast' is invalid"):
        api.scale_to_speed(_tiny(), target_latency_s="fast", measure=fake)


def test_export_passes_format_and_path(tmp_path):
    out = api.export(api.create_model(_tiny()), tmp_path / "m.pt2", format="torch-export")
    assert out == tmp_path / "m.pt2" and out.is_file()
    loaded = torch.export.load(out).module()
    x = torch.randn(3, 3, 16, 16)  # another batch size: the batch dimension is dynamic
    assert loaded(x).shape == (3, 4)
    with pytest.raises(ValueError, match="format='tflite' is invalid; allowed: onnx, torch"):
        api.export(_tiny(), tmp_path / "m.tflite", format="tflite")


def test_train_passes_recipe_overrides_and_options():
    """Checked before any data is loaded or model built: the arguments did arrive."""
    with pytest.raises(RecipeError, match="epochs=0 is invalid"):
        api.train(_tiny(), "digits", "quick", None, epochs=0)
    with pytest.raises(RecipeError, match="unknown recipe 'slow'"):
        api.train(_tiny(), recipe="slow")
    with pytest.raises(ValueError, match="tensorboard=True needs a run directory"):
        api.train(_tiny(), tensorboard=True)


def test_train_defaults_are_documented():
    params = inspect.signature(api.train).parameters
    assert params["data"].default == "digits" and params["recipe"].default == "quick"
    assert params["out"].default is None
