"""Report tests: summary table and rows, and report.html for every planner kind, complete,
mid-study (pending, running, failed trials) and with no completed trial at all."""

from __future__ import annotations

import base64
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from netscale.complexity import count
from netscale.families.regnet import anynet
from netscale.spec.io import spec_id, to_dict
from netscale.study import findings, report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _trial(trial_id, group, spec, design, *, error, status="completed", epochs=2, meta=None):
    c = count(spec)
    metrics = None
    if status == "completed":
        metrics = {
            "top1": 100.0 - error,
            "error": error,
            "loss": 1.0,
            "wall_s": 3.0,
            "images_per_s": 2e9 / c.flops,
            "epochs_run": epochs,
        }
    return {
        "trial_id": trial_id,
        "group": group,
        "spec_id": spec_id(spec),
        "spec": to_dict(spec),
        "design": design,
        "flops": c.flops,
        "params": c.params,
        "acts": c.acts,
        "seed": 0,
        "epochs": epochs,
        "status": status,
        "metrics": metrics,
        "history": [{"epoch": 0, "top1": 50.0, "loss": 2.0, "lr": 0.1}],
        "meta": meta or {},
    }


def _anynet(rng: np.random.Generator, shared: bool):
    depths = sorted(rng.integers(1, 4, 4)) if shared else list(rng.integers(1, 4, 4))
    widths = sorted(8 * rng.integers(1, 9, 4)) if shared else list(8 * rng.integers(1, 9, 4))
    spec = anynet(
        [int(d) for d in depths],
        [int(w) for w in widths],
        stem_width=8,
        stem_stride=1,
        resolution=16,
        num_classes=10,
    )
    design = {f"d{i + 1}": int(d) for i, d in enumerate(depths)}
    design |= {f"w{i + 1}": int(w) for i, w in enumerate(widths)}
    return spec, design


def design_space_trials(n: int, *, statuses=("completed",), seed: int = 0):
    """Two spaces; anynet_xe is 4 points better at equal complexity; statuses cycle."""
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(2 * n):
        group = ("anynet_xa", "anynet_xe")[i % 2]
        spec, design = _anynet(rng, shared=group == "anynet_xe")
        flops = count(spec).flops
        error = 40 - 3 * math.log10(flops) - 4 * (group == "anynet_xe") + rng.normal(0, 0.5)
        status = statuses[i % len(statuses)]
        trials.append(_trial(i, group, spec, design, error=error, status=status))
    return trials


def scaling_trials(*, statuses=("completed",)):
    """As the scaling planner: the base, then depth and width at 2x and 4x FLOPs; the
    design's multiplier is the measured FLOPs ratio, near the nominal one, never equal."""
    base = ([1, 1, 2, 1], [16, 32, 64, 128])
    rules = {"base": (1, 1), "depth": (2, 1), "width": (1, 1.41)}
    points = [("base", 1)] + [(r, m) for r in ("depth", "width") for m in (2, 4)]
    base_flops = None
    trials = []
    for rule, mult in points:
        d, w = (x ** math.log2(mult) for x in rules[rule])
        spec = anynet(
            [math.ceil(v * d) for v in base[0]],
            [8 * round(v * w / 8) for v in base[1]],
            stem_width=8,
            stem_stride=1,
            resolution=16,
            num_classes=10,
        )
        base_flops = base_flops or count(spec).flops
        measured = mult * {"base": 1.0, "depth": 1.03, "width": 0.98}[rule]  # within 5%
        for seed in range(3):
            error = 20 * mult ** (-0.3 if rule == "depth" else -0.2) + 0.05 * seed
            meta = {"rule": rule, "multiplier": measured, "epochs_budget": 2}
            design = {"multiplier": round(measured, 4), "coefficient": float(mult)}
            status = statuses[len(trials) % len(statuses)]
            trial = _trial(len(trials), rule, spec, design, error=error, status=status, meta=meta)
            trials.append(dict(trial, flops=round(base_flops * measured)))
    return trials


def compound_trials():
    trials = []
    for i, (label, err) in enumerate(
        (("base", 14.0), ("a=1.2,b=1.1,g=1.15", 10.0), ("a=1.4,b=1.0,g=1.2", 11.0))
    ):
        for seed in range(3):
            spec, _ = _anynet(np.random.default_rng(i), shared=True)
            design = {"phi": 0.0} if label == "base" else {"alpha": 1.2 + 0.2 * i, "phi": 1.0}
            trials.append(_trial(len(trials), label, spec, design, error=err + 0.1 * seed))
    return trials


LADDER = [("baseline", 70.0), ("cosine", 71.0), ("ema", 71.2), ("randaugment", 73.0)]


def ablation_trials(*, pending_last: bool = False):
    spec, _ = _anynet(np.random.default_rng(0), shared=True)
    trials = []
    for step, (name, top1) in enumerate(LADDER):
        for seed in range(2):
            status = "pending" if pending_last and step == len(LADDER) - 1 else "completed"
            error = 100 - (top1 + 0.2 * seed)
            trials.append(
                _trial(
                    len(trials),
                    name,
                    spec,
                    {"step": step},
                    error=error,
                    status=status,
                    meta={"step": step, "name": name},
                )
            )
    return trials


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


def _study(planner: str, trials) -> dict:
    return {
        "name": f"test-{planner}",
        "planner": planner,
        "config": {},
        "created": "2025-01-01T00:00:00",
        "planned": len(trials),
    }


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
        ("Scaling curves", "Pareto front", "Rules at matched FLOPs"),
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
    trials = [dict(t, status="pending", metrics=None) for t in CASES[planner][0]()]
    study = _study(planner, trials)
    pngs = _check_html(report.write_report(tmp_path, study, trials, n_resamples=50))
    assert pngs  # message figures stand in for the plots
    assert "No completed trials yet" in (tmp_path / "report.html").read_text()
    assert "0 of" in report.summary_table(study, trials)


@pytest.mark.parametrize("planner", list(CASES))
def test_one_completed_trial(tmp_path, planner):
    trials = CASES[planner][0]()
    trials = [trials[0]] + [dict(t, status="running", metrics=None) for t in trials[1:]]
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
        errs = [t["metrics"]["error"] for t in trials if t["group"] == r.group]
        best = min(
            (t for t in trials if t["group"] == r.group), key=lambda t: t["metrics"]["error"]
        )
        assert r.best_error == pytest.approx(min(errs))
        assert r.median_error == pytest.approx(float(np.median(errs)))
        assert (r.best_trial, r.best_flops, r.best_params) == (
            best["trial_id"],
            best["flops"],
            best["params"],
        )
    text = report.summary_table(study, trials)
    lines = text.splitlines()
    assert lines[0] == "study test-design_space (design_space): 10 of 10 planned trials completed"
    assert re.match(r"anynet_xa\s+5/5\s+0\s+0\s+\d+\.\d\d%", lines[2])
    assert not any(line.startswith("precision") for line in lines)  # no trial claimed


def test_diverged_trials_count_as_diverged_not_failed(tmp_path):
    # groups alternate and statuses cycle: each group gets 2 of each status
    trials = design_space_trials(6, statuses=("completed", "diverged", "failed"))
    for t in trials:
        if t["status"] == "diverged":  # what the runner stores for a diverged run
            t["metrics"] = {"top1": float("nan"), "error": float("nan"), "loss": float("nan")}
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
    for t, precision in zip(trials, fixed, strict=True):
        t["precision"] = precision
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
        "trials = [{'trial_id': 0, 'group': 'baseline', 'status': 'completed', 'flops': 1,\n"
        "           'params': 1, 'metrics': {'top1': 70.0, 'error': 30.0},\n"
        "           'meta': {'step': 0, 'name': 'baseline'}}]\n"
        "study = {'name': 's', 'planner': 'ablation', 'planned': 1}\n"
        "report.write_report(tempfile.mkdtemp(), study, trials)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
