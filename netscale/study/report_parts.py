"""What every planner's report sections are made of: `Section` (a title, HTML fragments,
PNG images), the HTML table and number formatting, and the Pareto-front section that
several planners show. Each planner builds its own sections (`netscale.study.planners`);
`netscale.study.report` assembles and writes the page. matplotlib is imported only when a
section is drawn."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True, slots=True)
class Cost:
    """What a Pareto front trades error against: a value per trial, its name and format."""

    of: Callable[[Sequence[Trial]], np.ndarray]  # trials -> one cost each
    name: str  # the axis label and the table's column
    text: Callable[[float], str]  # one cost as the table writes it
    title: str  # the plot's title


FLOPS_COST = Cost(flops_of, "multiply-adds", lambda v: f"{v / 1e6:.2f}M", "error vs FLOPs")


def pareto_section(
    groups: dict[str, list[Trial]], cost: Cost = FLOPS_COST, title: str = "Pareto front"
) -> Section:
    """Error versus `cost` (multiply-adds by default) of every completed model by group,
    with the models no other model beats on both (a plot and a table)."""
    from netscale.study import plots

    done = [t for ts in groups.values() for t in ts]
    points = {g: (cost.of(ts), error_of(ts)) for g, ts in groups.items()}
    front: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
    rows = []
    if done:
        costs, errors = cost.of(done), error_of(done)
        idx = pareto_front(costs, errors)
        front = (costs[idx], errors[idx])
        rows = [
            [done[i].group, done[i].trial_id, cost.text(costs[i]), f"{errors[i]:.2f}%"] for i in idx
        ]
    sec = Section(title)
    fig = plots.plot_pareto(points, front, xlabel=cost.name, title=cost.title)
    sec.images.append(("pareto", plots.figure_png(fig)))
    if rows:
        sec.body.append(html_table(["group", "trial", cost.name, "error"], rows))
    return sec
