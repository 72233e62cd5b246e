"""`netscale profile`: JSON and CSV schema, the text table, the study, one-line errors."""

import csv
import dataclasses
import io
import json

import pytest
import torch

from netscale.cli.main import main
from netscale.profiling import ProfileResult
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec, save

FAST = ["--batch", "2", "--warmup", "1", "--iters", "2"]
FIELDS = [f.name for f in dataclasses.fields(ProfileResult)]


@pytest.fixture
def spec_path(tmp_path):
    spec = NetSpec(
        name="tiny",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=(StageSpec(block="bottleneck", depth=1, width=16, stride=2, group_width=8),),
        head=HeadSpec(num_classes=5),
        resolution=16,
    )
    return str(save(spec, tmp_path / "tiny.yaml"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(capsys, spec_path):
    code, out, _ = run(capsys, "profile", spec_path, spec_path, "--mode", "train", "--json", *FAST)
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 2 and all(list(r) == FIELDS for r in rows)
    r = rows[0]
    assert (r["name"], r["mode"], r["batch"], r["steps"], r["resolution"]) == (
        "tiny",
        "train",
        2,
        2,
        16,
    )
    assert isinstance(r["images_per_s"], float) and isinstance(r["peak_memory_bytes"], int)
    assert r["flops"] > 0 and r["mfu"] > 0


def test_csv_schema(capsys, spec_path):
    code, out, _ = run(capsys, "profile", spec_path, "--csv", "--no-channels-last", *FAST)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and list(rows[0]) == FIELDS
    assert rows[0]["channels_last"] == "False" and float(rows[0]["images_per_s"]) > 0


def test_text_table_has_units(capsys, spec_path):
    code, out, _ = run(capsys, "profile", spec_path, "--resolution", "32", *FAST)
    assert code == 0
    header, row = out.splitlines()[:2]
    for column in ("images/s", "latency p50 (ms)", "peak mem (MiB)", "MFU (%)", "GMACs/image"):
        assert column in header
    assert row.startswith("tiny ") and " 32 " in row


def test_study_writes_plot_and_table(capsys, tmp_path):
    out_dir = tmp_path / "study"
    code, out, err = run(
        capsys,
        *("profile", "--space", "regnet_x", "--samples", "3", "--flops", "200M:400M"),
        *("--resolution", "32", "--batch", "1", "--warmup", "0", "--iters", "1"),
        *("--out", str(out_dir)),
    )
    assert code == 0, err
    assert "| acts |" in out and "[3/3]" in err
    assert (out_dir / "correlation.png").is_file() and (out_dir / "points.csv").is_file()


def _unavailable_cuda() -> str:
    return "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", _unavailable_cuda()], "is not available here"),
        (["--device", "tpu"], "device='tpu' is invalid"),
        (["--batch", "0"], "batch=0 is invalid; allowed: an int >= 1"),
        (["--iters", "0"], "iters=0 is invalid"),
        (["--space", "regnet_x"], "give model names or --space, not both"),
        (["--out", "x"], "--out and --flops apply to --space studies only"),
    ],
)
def test_errors(capsys, spec_path, argv, message):
    code, out, err = run(capsys, "profile", spec_path, *argv)
    assert code == 2 and out == ""
    assert err.startswith("netscale: error: ") and message in err and err.count("\n") == 1


def test_usage_errors(capsys):
    code, _, err = run(capsys, "profile")
    assert code == 2 and "give at least one model name" in err
    code, _, err = run(capsys, "profile", "--space", "regnet_x", "--flops", "200M")
    assert code == 2 and "--flops='200M' is invalid" in err
    with pytest.raises(SystemExit) as exit_info:  # argparse's own usage error
        main(["profile", "resnet_18", "--json", "--csv"])
    assert exit_info.value.code == 2 and "not allowed with" in capsys.readouterr().err
