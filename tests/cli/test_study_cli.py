"""`netscale study run|status|report|export`: outputs and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import sqlite3

import pytest
import yaml

from netscale.cli.main import main
from netscale.study import runner
from netscale.study.api import export, open_or_create
from netscale.study.store import Store

from ..study.conftest import ledger_of_errors, tiny_config
from .conftest import usage_error

# fp32 forced: what the tests read must not depend on the CPU that runs them
_FP32 = {"recipe_overrides": {"batch_size": 128, "precision": "fp32"}}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(epochs=1, **_FP32).to_dict()))
    assert main(["study", "run", str(config), "--out", str(root / "s"), "--threads", "1"]) == 0
    return root / "s"


def test_run_writes_a_self_contained_report(study_dir, capsys):
    html = (study_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # EDFs, trends, staircases ...
    assert "anynet_xa" in html and "anynet_xe" in html and "KS" in html


def test_status_export_report(study_dir, capsys):
    assert main(["study", "status", str(study_dir)]) == 0
    out = capsys.readouterr().out
    assert "4 trials planned" in out and "completed 4" in out
    assert "precision: fp32 4" in out.splitlines()
    assert main(["study", "export", str(study_dir)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["trial_id"] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        assert r["status"] == "completed" and len(r["spec_id"]) == 12
        assert r["precision"] == "fp32"
        assert 0.0 <= r["metrics"]["top1"] <= 100.0
    assert main(["study", "export", str(study_dir), "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 4 and "metrics.top1" in table[0] and "design.w1" in table[0]
    assert {row["precision"] for row in table} == {"fp32"}
    assert main(["study", "report", str(study_dir)]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "precision: fp32 4" in out
    assert "<p>precision: fp32 4</p>" in (study_dir / "report.html").read_text()


def test_errors_are_one_line(tmp_path, capsys):
    assert "example='nope' is unknown" in usage_error(
        ["study", "run", "--example", "nope", "--out", str(tmp_path / "x")], capsys
    )
    assert "exactly one" in usage_error(["study", "run", "--out", str(tmp_path / "x")], capsys)
    assert "holds no study" in usage_error(["study", "status", str(tmp_path)], capsys)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config().to_dict()))
    run = ["study", "run", str(config), "--out", str(tmp_path / "y")]
    assert "workers=0 is invalid: --workers" in usage_error([*run, "--workers", "0"], capsys)
    for threads in ("-2", "0"):
        err = usage_error([*run, "--threads", threads], capsys)
        assert f"threads={threads} is invalid: --threads" in err and ">= 1" in err
    assert not (tmp_path / "y").exists()  # refused before the study was created


def test_other_schema_is_refused_untouched(study_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(study_dir, copy)
    db = sqlite3.connect(copy / "study.db")
    db.execute("UPDATE meta SET value='0' WHERE key='schema'")
    db.commit()
    db.close()
    before = (copy / "study.db").read_bytes()
    assert "schema 0" in usage_error(["study", "export", str(copy)], capsys)
    assert (copy / "study.db").read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [random.Random(0).randbytes(4096), b"not a database, a text file\n" * 100, b""],
    ids=["random", "text", "empty"],
)
def test_garbage_database_is_one_line_for_every_command(tmp_path, capsys, content):
    (tmp_path / "study.db").write_bytes(content)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config().to_dict()))
    for args in (
        ["study", "status", str(tmp_path)],
        ["study", "export", str(tmp_path)],
        ["study", "export", str(tmp_path), "--format", "csv"],
        ["study", "report", str(tmp_path)],
        ["study", "run", str(config), "--out", str(tmp_path)],
    ):
        assert "is not a netscale study database" in usage_error(args, capsys), args
    assert (tmp_path / "study.db").read_bytes() == content


def test_failed_trials_exit_1_and_status_says_why(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(**_FP32).to_dict()))
    out = tmp_path / "s"
    # a device this machine lacks: each worker fails each trial when it fixes its precision
    args = ["study", "run", str(config), "--out", str(out), "--device", "tpu", "--no-report"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "0 of 4 planned trials completed, 4 failed" in captured.out
    err = captured.err.strip().splitlines()[-1]  # after the progress lines
    assert err.startswith("netscale: error: 4 of 4 trials failed;")
    assert f"netscale study status {out}" in err
    assert main(["study", "status", str(out)]) == 0
    status = capsys.readouterr().out
    assert "trial 0 (anynet_xa) failed: ValueError: device='tpu' is invalid" in status


def test_crashed_worker_exits_1(tmp_path, capsys, monkeypatch):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(**_FP32).to_dict()))

    def crashed(study_dir, options, workers=1, monitor=None):
        raise runner.WorkerError("worker 1 of 1 was killed by SIGKILL; 4 trials not finished")

    monkeypatch.setattr(runner, "run_local", crashed)
    assert main(["study", "run", str(config), "--out", str(tmp_path / "s")]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1] == (
        "netscale: error: worker 1 of 1 was killed by SIGKILL; 4 trials not finished"
    )
    assert "0 of 4 planned trials completed" in captured.out


def test_diverged_metrics_export_as_valid_json(tmp_path, capsys):
    open_or_create(tiny_config(**_FP32), tmp_path).close()
    store = Store.open(tmp_path)
    store.claim("h:1", 60)
    nan, inf = float("nan"), float("inf")
    history = [{"epoch": 1, "train_loss": nan, "test_top1": 10.0}]
    store.finish(0, "h:1", "diverged", {"top1": 10.0, "error": 90.0, "loss": nan,
                 "train_loss": inf, "extra": [1.0, -inf]}, history)  # fmt: skip
    store.close()
    lines = export(tmp_path).splitlines()
    rows = [
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in JSON")) for line in lines
    ]
    assert rows[0]["status"] == "diverged"
    assert rows[0]["metrics"] == {"top1": 10.0, "error": 90.0, "loss": None, "train_loss": None,
                                  "extra": [1.0, None]}  # fmt: skip
    for row in rows:
        json.dumps(row, allow_nan=False)  # valid JSON, nothing left to refuse
    table = list(csv.DictReader(io.StringIO(export(tmp_path, "csv"))))
    assert table[0]["metrics.loss"] == "" and not math.isnan(float(table[0]["metrics.top1"]))
    assert main(["study", "report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 diverged" in out.splitlines()[0] and "failed" not in out.splitlines()[0]
    assert main(["study", "status", str(tmp_path)]) == 0
    assert "diverged 1" in capsys.readouterr().out


def test_plan_prints_the_trials_and_creates_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["study", "plan", "--example", "ablation-digits"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "study 'ablation-digits' (ablation, data digits): 22 trials planned; nothing was run "
        "or created"
    )
    assert lines[1].startswith("every trial's recipe, beyond Recipe's defaults: name=ablation")
    assert lines[2].split()[:5] == ["#", "kind", "group", "seed", "epochs"]
    rows = lines[3:]
    assert len(rows) == 22 and rows[0].split()[:5] == ["0", "train", "baseline", "0", "3"]
    assert "schedule=step" in rows[0] and "label_smoothing" not in rows[0]
    assert "schedule=cosine" in rows[2]  # the cosine step's change
    assert rows[4].split()[:5] == ["4", "train", "more_epochs", "0", "12"]
    assert "se=0.25 stem=deep shortcut=avg" in rows[20]
    assert main(["study", "plan", "--example", "ablation-digits", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["planned"] == len(info["trials"]) == 22 and info["data"] == "digits"
    base, more = info["trials"][0], info["trials"][4]
    assert base["recipe"]["label_smoothing"] == 0.0 and base["recipe_changes"]["lr_batch"] == 256
    assert more["epochs"] == more["recipe"]["epochs"] == 12
    assert more["meta"] == {"step": 2, "name": "more_epochs", "changes": {"epochs": 12}}
    assert list(tmp_path.iterdir()) == []  # no study directory, no file


def test_plan_is_what_run_creates(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(**_FP32).to_dict()))
    assert main(["study", "plan", str(config), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)["trials"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]
    open_or_create(tiny_config(**_FP32), tmp_path / "s").close()
    store = Store.open(tmp_path / "s")
    stored = store.trials()
    store.close()
    keys = ("group", "spec_id", "recipe", "seed", "epochs", "kind", "design")
    assert [{k: p[k] for k in keys} for p in planned] == [
        {k: getattr(t, k) for k in keys} for t in stored
    ]
    assert planned[0]["recipe_changes"]["precision"] == "fp32"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "b", "planner": "ablation",
                                   "ablation": {"steps": ["cosine", "mixup"]}}))  # fmt: skip
    err = usage_error(["study", "plan", str(bad)], capsys)
    assert "ablation.steps[1]: step 'mixup' is unknown; allowed: cosine" in err


def test_compare_prints_the_rank_agreement(tmp_path, capsys):
    short = {("anynet_xa", i): 70.0 - i for i in range(4)} | {("anynet_xe", 4): 60.0}
    long = {("anynet_xa", i): 40.0 - i for i in range(4)} | {("anynet_xe", 4): 45.0}
    a = ledger_of_errors(tmp_path / "a", "e1", short, epochs=1)
    b = ledger_of_errors(tmp_path / "b", "e4", long, epochs=4)
    assert main(["study", "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"A: e1 ({a}), 1 epoch, 5 of 6 trials completed" in out
    assert f"B: e4 ({b}), 4 epochs, 5 of 6 trials completed" in out
    assert "over the 5 models completed in both" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[4:6]}
    assert rows["all"][1:3] == ["5", "0.000"]  # ranks 5 4 3 2 1 against 4 3 2 1 5
    assert rows["anynet_xa"][1:3] == ["4", "1.000"]  # 3 models or more per group
    assert "anynet_xe" not in out.split("Spearman")[1].split("best quarter")[0]
    assert "best quarter: 0 of A's best 1 are among B's best 1" in out
    assert main(["study", "compare", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["all"]["n"] == 5


def test_compare_errors_are_one_line(tmp_path, capsys):
    a = ledger_of_errors(tmp_path / "a", "e1", {("g", i): float(i) for i in range(3)}, epochs=1)
    assert "none" in usage_error(["study", "compare", str(a), str(tmp_path / "none")], capsys)
    assert "ci" in usage_error(["study", "compare", str(a), str(a), "--ci", "1.5"], capsys)
