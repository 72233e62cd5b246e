"""`netscale study run|status|report|export`: outputs and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
import yaml

from netscale.cli.main import main

from ..study.conftest import tiny_config


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(epochs=1).to_dict()))
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
    assert main(["study", "export", str(study_dir)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["trial_id"] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        assert r["status"] == "completed" and len(r["spec_id"]) == 12
        assert 0.0 <= r["metrics"]["top1"] <= 100.0
    assert main(["study", "export", str(study_dir), "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 4 and "metrics.top1" in table[0] and "design.w1" in table[0]
    assert main(["study", "report", str(study_dir)]) == 0
    assert "report.html" in capsys.readouterr().out


def _error(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("netscale: error:") and "\n" not in err
    return err


def test_errors_are_one_line(tmp_path, capsys):
    assert "example='nope' is unknown" in _error(
        ["study", "run", "--example", "nope", "--out", str(tmp_path / "x")], capsys
    )
    assert "exactly one" in _error(["study", "run", "--out", str(tmp_path / "x")], capsys)
    assert "holds no study" in _error(["study", "status", str(tmp_path)], capsys)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config().to_dict()))
    assert "workers=0" in _error(
        ["study", "run", str(config), "--out", str(tmp_path / "y"), "--workers", "0"], capsys
    )


def test_other_schema_is_refused_untouched(study_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(study_dir, copy)
    db = sqlite3.connect(copy / "study.db")
    db.execute("UPDATE meta SET value='0' WHERE key='schema'")
    db.commit()
    db.close()
    before = (copy / "study.db").read_bytes()
    assert "schema 0" in _error(["study", "export", str(copy)], capsys)
    assert (copy / "study.db").read_bytes() == before
