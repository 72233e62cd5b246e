"""`netscale profile`: JSON and CSV schema, the text table, the study, one-line errors."""

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
import torch

import netscale
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


SPACE = str(Path(netscale.__file__).parent / "space" / "examples" / "anynet_small.yaml")
STUDY = ["--space", SPACE, "--samples", "3", "--flops", "1M:4M", "--resolution", "16",
         "--batch", "2", "--warmup", "0", "--iters", "1"]  # fmt: skip


def test_study_runs_the_runtime_planner_and_resumes(capsys, tmp_path):
    out_dir = tmp_path / "study"
    code, out, err = run(capsys, "profile", *STUDY, "--out", str(out_dir))
    assert code == 0, err
    assert "| acts |" in out and "[3/3] models measured" in err
    assert f"report: {out_dir / 'report.html'}" in out
    assert (out_dir / "study.db").is_file()
    assert (out_dir / "report" / "runtime_correlation.png").is_file()
    code, out, err = run(capsys, "profile", *STUDY, "--out", str(out_dir), "--json")
    assert code == 0 and err == ""  # resumed: nothing left to measure, no progress lines
    data = json.loads(out)
    assert [c["metric"] for c in data["correlations"]] == ["flops", "acts", "params"]
    assert data["fit"] is None  # three models: too few for the three-coefficient fit
    assert [t["metrics"]["steps"] for t in data["trials"]] == [1, 1, 1]
    code, out, _ = run(capsys, "profile", *STUDY, "--out", str(out_dir), "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 3 and float(rows[0]["metrics.runtime_ms"]) > 0
    code, _, err = run(capsys, "profile", *STUDY, "--samples", "4", "--out", str(out_dir))
    assert code == 2 and "holds a different study" in err and "runtime_correlation.samples" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--samples", "2"], "runtime_correlation.samples=2 is invalid: an integer >= 3"),
        (["--device", "tpu"], "device='tpu' is invalid"),
        (["--mode", "infer", "--warmup", "-1"], "runtime_correlation.warmup=-1 is invalid"),
    ],
)
def test_study_errors(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, "profile", *STUDY, *argv, "--out", str(tmp_path / "s"))
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()  # refused before a study was created


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
