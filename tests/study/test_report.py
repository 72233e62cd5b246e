"""Report tests: summary table and rows, and report.html for every planner kind, complete,
mid-study (pending, running, failed trials) and with no completed trial at all."""

from __future__ import annotations

import base64
import dataclasses
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from netscale.study import findings, report

from .trials import (
    ablation_trials,
    compound_trials,
    design_space_trials,
    runtime_trials,
    scaling_trials,
    search_trials,
    study_record,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def _check_html(path: Path) -> list[bytes]:
    """The report parses, closes its document, and every image is an inline PNG."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    parser = _Images()
    parser.feed(text)
    assert "h1" in parser.tags and "table" in parser.tags
    pngs = []
    for src in parser.srcs:
        assert src.startswith("data:image/png;base64,")
        pngs.append(base64.b64decode(src.split(",", 1)[1], validate=True))
        assert pngs[-1].startswith(PNG_MAGIC)
    return pngs


_study = study_record


# planner -> (trials, images expected, a phrase the recommendation must hold, sections)
CASES = {
    "design_space": (
        lambda: design_space_trials(10),
        5,
        "anynet_xe&#x27;s error EDF lies left of anynet_xa&#x27;s (KS D=",
        ("Error EDFs", "Trends with bootstrap bands", "Best models", "Random-search", "Pareto"),
    ),
    "scaling": (
        scaling_trials,
        3,
        "depth scaling beats width at 4x FLOPs in this regime",
        ("Scaling curves", "Pareto front", "Rules matched on FLOPs"),
    ),
    "compound_search": (
        compound_trials,
        1,
        "Lowest mean error: a=1.2,b=1.1,g=1.15 (10.10%, of 2 candidates). a=1.2,b=1.1,g=1.15 beats",
        ("Compound-coefficient candidates", "Pareto front"),
    ),
    "ablation": (
        ablation_trials,
        1,
        "largest single gain is randaugment: +1.80 points top-1",
        ("Additive ablation",),
    ),
    "runtime_correlation": (
        runtime_trials,
        1,
        "Runtime follows acts most closely: Pearson r=",
        ("Runtime versus complexity", "Runtime model", "Measurements"),
    ),
    "training_aware": (
        search_trials,
        3,
        "Best by reward: trial ",
        (
            "Reward ranking",
            "Error versus training step time",
            "Random-search efficiency",
            "Trends with bootstrap bands",
            "Chosen model",
        ),
    ),
}


@pytest.mark.parametrize("planner", list(CASES))
def test_report_for_each_planner(tmp_path, planner):
    make, n_images, phrase, sections = CASES[planner]
    trials = make()
    path = report.write_report(tmp_path, _study(planner, trials), trials, n_resamples=200)
    assert path == tmp_path / "report.html"
    pngs = _check_html(path)
    assert len(pngs) >= n_images
    on_disk = sorted((tmp_path / "report").glob("*.png"))
    assert len(on_disk) == len(pngs)
    assert sorted(p.read_bytes() for p in on_disk) == sorted(pngs)  # the same images inline
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary file left behind
    text = path.read_text()
    assert phrase in text
    for section in sections:
        assert f"<h2>{section}" in text or f"<p>{section}" in text


def test_mid_study_report(tmp_path):
    trials = design_space_trials(
        8, statuses=("completed", "completed", "pending", "running", "failed", "completed")
    )
    study = _study("design_space", trials)
    _check_html(report.write_report(tmp_path, study, trials, n_resamples=200))
    rows = {r.group: r for r in report.summary_rows(study, trials)}
    assert rows["anynet_xa"].planned == 8 and rows["anynet_xe"].planned == 8
    done = findings.completed(trials)
    assert rows["anynet_xa"].completed + rows["anynet_xe"].completed == len(done) == 8
    assert rows["anynet_xa"].failed == 2 and rows["anynet_xe"].failed == 0
    for planner, trials in (
        ("scaling", scaling_trials(statuses=("completed", "pending"))),
        ("ablation", ablation_trials(pending_last=True)),
    ):
        sub = tmp_path / planner
        sub.mkdir()
        _check_html(report.write_report(sub, _study(planner, trials), trials, n_resamples=200))


@pytest.mark.parametrize("planner", list(CASES))
def test_zero_completed_trials(tmp_path, planner):
    trials = [dataclasses.replace(t, status="pending", metrics=None) for t in CASES[planner][0]()]
    study = _study(planner, trials)
    pngs = _check_html(report.write_report(tmp_path, study, trials, n_resamples=50))
    assert pngs  # message figures stand in for the plots
    assert "No completed trials yet" in (tmp_path / "report.html").read_text()
    assert "0 of" in report.summary_table(study, trials)


@pytest.mark.parametrize("planner", list(CASES))
def test_one_completed_trial(tmp_path, planner):
    trials = CASES[planner][0]()
    trials = [trials[0]] + [
        dataclasses.replace(t, status="running", metrics=None) for t in trials[1:]
    ]
    study = _study(planner, trials)
    text = report.write_report(tmp_path, study, trials, n_resamples=50).read_text()
    _check_html(tmp_path / "report.html")
    assert f"1 of {len(trials)} planned trials completed, {len(trials) - 1} running" in text


def test_regenerating_overwrites_and_drops_stale_images(tmp_path):
    trials = scaling_trials()
    report.write_report(tmp_path, _study("scaling", trials), trials, n_resamples=100)
    assert (tmp_path / "report" / "scaling_flops.png").exists()
    (tmp_path / "report" / "mine.txt").write_text("user file")
    first = (tmp_path / "report.html").read_text()
    trials = ablation_trials()
    report.write_report(tmp_path, _study("ablation", trials), trials, n_resamples=100)
    assert (tmp_path / "report.html").read_text() != first
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["ablation.png", "mine.txt"]


def test_summary_table_and_rows():
    trials = design_space_trials(5)
    study = _study("design_space", trials)
    rows = report.summary_rows(study, trials)
    assert [r.group for r in rows] == ["anynet_xa", "anynet_xe"]
    for r in rows:
        errs = [t.metrics["error"] for t in trials if t.group == r.group]
        best = min((t for t in trials if t.group == r.group), key=lambda t: t.metrics["error"])
        assert r.best == pytest.approx(min(errs))
        assert r.median == pytest.approx(float(np.median(errs)))
        assert (r.best_trial, r.best_flops, r.best_params) == (best.trial_id, best.flops,
                                                               best.params)  # fmt: skip
    text = report.summary_table(study, trials)
    lines = text.splitlines()
    assert lines[0] == "study test-design_space (design_space): 10 of 10 planned trials completed"
    assert re.match(r"anynet_xa\s+5/5\s+0\s+0\s+\d+\.\d\d%", lines[2])
    assert not any(line.startswith("precision") for line in lines)  # no trial claimed


def test_diverged_trials_count_as_diverged_not_failed(tmp_path):
    # groups alternate and statuses cycle: each group gets 2 of each status
    trials = design_space_trials(6, statuses=("completed", "diverged", "failed"))
    nan = float("nan")
    trials = [  # what the runner stores for a diverged run
        dataclasses.replace(t, metrics={"top1": nan, "error": nan, "loss": nan})
        if t.status == "diverged"
        else t
        for t in trials
    ]
    study = _study("design_space", trials)
    rows = {r.group: r for r in report.summary_rows(study, trials)}
    for row in rows.values():
        assert (row.completed, row.failed, row.diverged) == (2, 2, 2)
    text = report.summary_table(study, trials)
    assert text.splitlines()[0].endswith("4 of 12 planned trials completed, 4 failed, 4 diverged")
    assert re.match(r"group\s+done/planned\s+failed\s+diverged\s", text.splitlines()[1])
    assert re.match(r"anynet_xa\s+2/6\s+2\s+2\s+\d+\.\d\d%", text.splitlines()[2])
    html_text = report.write_report(tmp_path, study, trials, n_resamples=50).read_text()
    assert "<th>diverged</th>" in html_text
    assert "<td>anynet_xa</td><td>2/6</td><td>2</td><td>2</td>" in html_text


def test_precision_per_trial_in_summary_and_html(tmp_path):
    trials = design_space_trials(4, statuses=("completed", "pending"))
    fixed = ["bf16", None, "fp32", None, "bf16", None, "bf16", None]  # pending: none yet
    trials = [
        dataclasses.replace(t, precision=precision)
        for t, precision in zip(trials, fixed, strict=True)
    ]
    study = _study("design_space", trials)
    assert report.summary_table(study, trials).splitlines()[-1] == "precision: bf16 3, fp32 1"
    html_text = report.write_report(tmp_path, study, trials, n_resamples=50).read_text()
    assert "<p>precision: bf16 3, fp32 1</p>" in html_text


def test_report_rejects_bad_input(tmp_path):
    trials = design_space_trials(3)
    with pytest.raises(ValueError, match="unknown planner 'nas'; expected one of design_space"):
        report.write_report(tmp_path, _study("nas", trials), trials)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.write_report(tmp_path / "missing", _study("design_space", trials), trials)


def test_plotting_leaves_pyplot_alone():
    code = (
        "import sys, tempfile\n"
        "from netscale.study import report\n"
        "from netscale.study.records import Trial\n"
        "trials = [Trial(trial_id=0, group='baseline', spec={}, spec_id='', recipe={}, seed=0,\n"
        "                epochs=1, design={}, meta={'step': 0, 'name': 'baseline'}, flops=1,\n"
        "                params=1, acts=1, status='completed', attempts=1, error=None,\n"
        "                lease_owner=None, precision=None, history=[],\n"
        "                metrics={'top1': 70.0, 'error': 30.0})]\n"
        "study = {'name': 's', 'planner': 'ablation', 'planned': 1}\n"
        "report.write_report(tempfile.mkdtemp(), study, trials)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
