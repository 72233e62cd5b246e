"""export(): ONNX checked with onnxruntime, torch.export round trip, errors, atomic writes;
and the `netscale export` command."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from netscale.build import build
from netscale.build.export import export, load_model
from netscale.cli.main import main
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec, save


def tiny_spec() -> NetSpec:
    """Bottleneck (grouped, SE) and MBConv (SE) stages on 16 px inputs: BN everywhere."""
    stages = (
        StageSpec(block="bottleneck", depth=1, width=16, stride=2, group_width=8, se_ratio=0.25),
        StageSpec(block="mbconv", depth=2, width=16, stride=2, expansion_ratio=4, se_ratio=0.25),
    )
    return NetSpec(
        name="tiny",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=stages,
        head=HeadSpec(num_classes=5),
        resolution=16,
    )


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build(tiny_spec())
    with torch.no_grad():  # BN statistics away from (0, 1) so that folding is exercised
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    return model


def _images(n: int) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(n))


def test_onnx_matches_torch_with_dynamic_batch(tmp_path):
    model = _model()
    path = export(model, tmp_path / "tiny.onnx", format="onnx")
    assert path == tmp_path / "tiny.onnx" and model.training  # the input is not changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx"]  # no temp file left
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    x = _images(3)  # traced at batch 2: batch 3 proves the dimension is dynamic
    (out,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    assert out.shape == (3, 5)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()


def test_torch_export_round_trip(tmp_path):
    model = _model()
    path = export(model, tmp_path / "tiny.pt2", format="torch-export", optimize=False)
    loaded = torch.export.load(path).module()
    x = _images(4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=1e-5, atol=1e-6)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="format='tflite' is invalid; allowed: onnx, torch-export"):
        export(_model(), tmp_path / "m", format="tflite")
    with pytest.raises(ValueError, match="batch=0 is invalid"):
        export(_model(), tmp_path / "m.onnx", batch=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export(_model(), tmp_path / "absent" / "m.onnx")
    with pytest.raises(ValueError, match="resolution is needed"):
        export(torch.nn.Conv2d(3, 4, 1), tmp_path / "m.onnx")
    norm_first = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.Conv2d(3, 4, 3, padding=1))
    with pytest.raises(ValueError, match=r"optimize=False \(--no-optimize\)"):
        export(norm_first, tmp_path / "m.onnx", resolution=8)
    with pytest.raises(TypeError, match="registered name, a spec file"):
        load_model(3)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch.export, "save", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        export(_model(), tmp_path / "m.pt2", format="torch-export")
    assert list(tmp_path.iterdir()) == []


def test_load_model_resolution_and_seed(tmp_path):
    path = save(tiny_spec(), tmp_path / "tiny.yaml")
    a, spec, res = load_model(str(path), resolution=32, seed=3)
    b, _, _ = load_model(tiny_spec(), resolution=32, seed=3)
    assert spec.resolution == res == 32
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    state = torch.random.get_rng_state()
    load_model("resnet_18", seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG left as it was


def test_cli_export(tmp_path, capsys):
    spec_path = save(tiny_spec(), tmp_path / "tiny.yaml")
    out = tmp_path / "tiny.pt2"
    code = main(["export", str(spec_path), "--format", "torch-export", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert "wrote" in capsys.readouterr().out
    code = main(["export", str(spec_path), "--out", str(tmp_path / "x" / "m.onnx")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_airbench_kinds_export(tmp_path, airbench94):
    """Whitening stem, conv_pool blocks (BN folded through the pool), max-pooled scaled head."""
    torch.manual_seed(0)
    model = build(airbench94)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model.eval()(x)
    path = export(model, tmp_path / "a.onnx", format="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": x.numpy()})
    assert np.abs(out - ref.numpy()).max() <= 1e-5 * np.abs(ref.numpy()).max()
    loaded = torch.export.load(export(model, tmp_path / "a.pt2", format="torch-export")).module()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), ref, rtol=1e-4, atol=1e-5)
