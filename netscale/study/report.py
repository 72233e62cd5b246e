"""Study report: a terminal summary table and a self-contained report.html (PNGs inlined as
base64 data URIs, also written beside it in report/), regenerated at any time, mid-study
included. Files are written atomically: a reader sees the old report or the new one. The
sections and the recommendation come from the study's planner, through the registry
(`netscale.study.planners`)."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netscale.spec.io import atomic_write
from netscale.study.findings import by_group, completed, result
from netscale.study.planners import recommend, report_images, report_sections
from netscale.study.records import Trial
from netscale.study.report_parts import Section, format_number, html_table
from netscale.study.store import precision_counts

_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
    "img{max-width:100%}.rec{background:#eef5ff;padding:.7em 1em;border-left:4px solid #37c}"
)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One group of a study: trial counts and its best and median result (the number its
    trials are ranked by, lower is better: top-1 error in % for training trials, ms per
    batch for profile trials; `findings.result`)."""

    group: str
    planned: int
    completed: int
    failed: int  # ended with an error
    diverged: int  # training diverged (a result of the trial, not an error)
    best: float  # NaN until a trial completes
    median: float
    best_trial: int | None
    best_flops: int | None  # multiply-adds of the best model
    best_params: int | None


def summary_rows(study: Mapping[str, Any], trials: Sequence[Trial]) -> list[SummaryRow]:
    """Per group: completed / planned counts, failures, best and median result, best model."""
    rows = []
    for group, ts in by_group(trials).items():
        done = completed(ts)
        failed = sum(t.status == "failed" for t in ts)
        diverged = sum(t.status == "diverged" for t in ts)
        values = np.array([result(t) for t in done], dtype=float)
        best = done[int(np.argmin(values))] if done else None
        rows.append(
            SummaryRow(
                group=group,
                planned=len(ts),
                completed=len(done),
                failed=failed,
                diverged=diverged,
                best=float(values.min()) if done else float("nan"),
                median=float(np.median(values)) if done else float("nan"),
                best_trial=best.trial_id if best else None,
                best_flops=best.flops if best else None,
                best_params=best.params if best else None,
            )
        )
    return rows


# Per trial kind: the summary's two result columns and the unit of their numbers.
_RESULT_COLUMNS = {"train": ("best err", "median err", "%"),
                   "profile": ("fastest", "median time", " ms"),
                   "search": ("best err", "median err", "%")}  # fmt: skip


def _kind(trials: Sequence[Trial]) -> str:
    """The kind of the study's trials (one planner plans one kind)."""
    return trials[0].kind if trials else "train"


def _summary_head(kind: str) -> list[str]:
    best, median, _ = _RESULT_COLUMNS[kind]
    return ["group", "done/planned", "failed", "diverged", best, median, "best flops",
            "best params"]  # fmt: skip


def _summary_cells(r: SummaryRow, kind: str) -> list[str]:
    unit = _RESULT_COLUMNS[kind][2]
    return [
        r.group,
        f"{r.completed}/{r.planned}",
        str(r.failed),
        str(r.diverged),
        format_number(r.best, ".2f", unit=unit),
        format_number(r.median, ".2f", unit=unit),
        format_number(r.best_flops, ".1f", 1e6, "M"),
        format_number(r.best_params, ".2f", 1e6, "M"),
    ]


def _headline(study: Mapping[str, Any], trials: Sequence[Trial]) -> str:
    done = len(completed(trials))
    planned = study.get("planned", len(trials))
    name, planner = study.get("name", "?"), study.get("planner", "?")
    text = f"study {name} ({planner}): {done} of {planned} planned trials completed"
    for status in ("running", "failed", "diverged"):
        n = sum(t.status == status for t in trials)
        text += f", {n} {status}" if n else ""
    return text


def precision_line(trials: Sequence[Trial]) -> str | None:
    """ "precision: bf16 12, fp32 4": trials per precision fixed by their first claim (None
    before any claim). A study on mixed hardware can train some trials in each."""
    counts = precision_counts(trials)
    if not counts:
        return None
    return "precision: " + ", ".join(f"{p} {n}" for p, n in counts.items())


def summary_table(study: Mapping[str, Any], trials: Sequence[Trial]) -> str:
    """Plain-text summary for the terminal: a headline, then one line per group."""
    kind, head = _kind(trials), _summary_head(_kind(trials))
    lines = [_summary_cells(r, kind) for r in summary_rows(study, trials)]
    widths = [max(map(len, column)) for column in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    body = [fmt.format(*row) for row in [head, *lines]]
    precision = precision_line(trials)
    return "\n".join([_headline(study, trials), *body, *([precision] if precision else [])])


# Writing --------------------------------------------------------------------------------


def _html(study: Mapping[str, Any], trials: Sequence[Trial], sections: list[Section]) -> str:
    title = html.escape(f"Study {study.get('name', '?')}")
    created = html.escape(str(study.get("created", "?")))
    kind = _kind(trials)
    rows = [_summary_cells(r, kind) for r in summary_rows(study, trials)]
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>",
        f"<p>{html.escape(_headline(study, trials))}; created {created}.</p>",
        f"<p>{html.escape(precision_line(trials) or 'precision: no trial claimed yet')}</p>",
        f"<p class='rec'>{html.escape(recommend(study, trials))}</p>",
        "<h2>Summary</h2>",
        html_table(_summary_head(kind), rows),
    ]
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        for name, png in sec.images:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<p><img alt='{name}' src='data:image/png;base64,{data}'></p>")
        parts.extend(sec.body)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    out_dir: str | os.PathLike[str],
    study: Mapping[str, Any],
    trials: Sequence[Trial],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Path:
    """Write `out_dir/report.html` (self-contained) and its PNGs in `out_dir/report/`, each
    file atomically; regenerating overwrites and removes PNGs of sections no longer shown.
    `n_resamples` and `seed` drive the bootstrap. Returns the path of report.html."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"report directory {str(out)!r} does not exist")
    sections = report_sections(study, trials, n_resamples=n_resamples, seed=seed)
    png_dir = out / "report"
    png_dir.mkdir(exist_ok=True)
    written = set()
    for sec in sections:
        for name, png in sec.images:
            atomic_write(png_dir / f"{name}.png", png)
            written.add(name)
    for name in report_images() - written:
        (png_dir / f"{name}.png").unlink(missing_ok=True)
    path = out / "report.html"
    atomic_write(path, _html(study, trials, sections).encode("utf-8"))
    return path
