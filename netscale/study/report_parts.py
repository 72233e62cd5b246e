"""What every planner's report sections are made of: `Section` (a title, HTML fragments,
PNG images), the HTML table and number formatting, and the Pareto-front section that
several planners show. Each planner builds its own sections (`netscale.study.planners`);
`netscale.study.report` assembles and writes the page. matplotlib is imported only when a
section is drawn."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netscale.study.findings import error_of, flops_of
from netscale.study.records import Trial
from netscale.study.statistics import pareto_front


@dataclass(slots=True)
class Section:
    """One report section: a title, HTML fragments and (PNG name, PNG bytes) images."""

    title: str
    body: list[str] = field(default_factory=list)  # HTML fragments
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (png name, bytes)


def format_number(value: float | None, fmt: str, scale: float = 1.0, unit: str = "") -> str:
    """`value / scale` formatted with `fmt` and `unit`; "-" for None or non-finite."""
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value / scale:{fmt}}{unit}"


def html_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table with a header row; every cell is escaped."""
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


PARETO_IMAGES = ("pareto",)  # the PNG `pareto_section` writes


def pareto_section(groups: dict[str, list[Trial]]) -> Section:
    """Error versus multiply-adds of every completed model by group, with the models no
    other model beats on both (a plot and a table)."""
    from netscale.study import plots

    done = [t for ts in groups.values() for t in ts]
    points = {g: (flops_of(ts), error_of(ts)) for g, ts in groups.items()}
    front: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
    rows = []
    if done:
        flops, errors = flops_of(done), error_of(done)
        idx = pareto_front(flops, errors)
        front = (flops[idx], errors[idx])
        rows = [
            [done[i].group, done[i].trial_id, f"{flops[i] / 1e6:.2f}M", f"{errors[i]:.2f}%"]
            for i in idx
        ]
    sec = Section("Pareto front")
    sec.images.append(("pareto", plots.figure_png(plots.plot_pareto(points, front))))
    if rows:
        sec.body.append(html_table(["group", "trial", "multiply-adds", "error"], rows))
    return sec
