"""`netscale export`: its arguments, the call it makes, and the line it prints."""

import argparse
import re

import pytest

from netscale.build import export as build_export
from netscale.cli import export as export_command
from netscale.cli.format import millions
from netscale.complexity import count
from netscale.families import get_spec
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec, save


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    export_command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["export", *argv])


def test_arguments_and_defaults():
    args = _parse("resnet_18", "--out", "m.onnx")
    assert (args.model, args.out, args.format, args.resolution, args.optimize) == (
        "resnet_18",
        "m.onnx",
        "onnx",
        None,
        True,
    )
    args = _parse("net.yaml", "--out", "m.pt2", "--format", "torch-export", "--resolution",
                  "96", "--no-optimize")  # fmt: skip
    assert (args.format, args.resolution, args.optimize) == ("torch-export", 96, False)


@pytest.mark.parametrize(
    "argv",
    [
        ("resnet_18",),  # --out is required
        ("resnet_18", "--out", "m", "--format", "tflite"),
        ("resnet_18", "--out", "m", "--resolution", "big"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parse(*argv)
    assert exit_info.value.code == 2


def test_formats_are_the_exporters():
    """The CLI lists the formats without importing torch; they must be export()'s."""
    assert export_command._FORMATS == build_export.FORMATS


@pytest.fixture
def fake_export(monkeypatch, tmp_path):
    """export() replaced by one that records its call and writes 3 MiB."""
    calls = []

    def export(model, path, **kwargs):
        calls.append((model, path, kwargs))
        out = tmp_path / "written.bin"
        out.write_bytes(b"\0" * (3 * 2**20))
        return out

    monkeypatch.setattr(build_export, "export", export)
    return calls


def test_run_calls_export_and_describes_the_file(fake_export, tmp_path):
    args = _parse("resnet_18", "--out", "m.onnx", "--resolution", "160", "--no-optimize")
    text = export_command.run(args)
    assert fake_export == [
        ("resnet_18", "m.onnx", {"format": "onnx", "resolution": 160, "optimize": False})
    ]
    cx = count(get_spec("resnet_18", resolution=160))
    assert text == (
        f"wrote {tmp_path / 'written.bin'} (onnx, 3.0 MiB): resnet_18 at 160x160 px, "
        f"{millions(cx.params)} params; input 'images' (batch, C, H, W) -> output 'logits'"
    )


def test_run_without_resolution_reports_the_specs(fake_export):
    text = export_command.run(_parse("resnet_18", "--out", "m.pt2", "--format", "torch-export"))
    assert fake_export[0][2] == {"format": "torch-export", "resolution": None, "optimize": True}
    assert " (torch-export, 3.0 MiB): resnet_18 at 224x224 px, 11.69 M params" in text
    assert "logits" not in text  # the input/output names are ONNX's


def _tiny() -> NetSpec:
    return NetSpec(
        name="tiny_export",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=(StageSpec(block="bottleneck", depth=1, width=16, stride=2, group_width=8),),
        head=HeadSpec(num_classes=3),
        resolution=16,
    )


def test_run_writes_the_file_it_describes(tmp_path):
    path = save(_tiny(), tmp_path / "tiny.yaml")
    out = tmp_path / "tiny.pt2"
    text = export_command.run(_parse(str(path), "--out", str(out), "--format", "torch-export"))
    assert out.is_file() and out.stat().st_size > 0
    size = re.search(r"\(torch-export, ([0-9.]+) MiB\)", text).group(1)
    assert size == f"{out.stat().st_size / 2**20:.1f}"
    assert text.startswith(f"wrote {out} ") and "tiny_export at 16x16 px" in text
