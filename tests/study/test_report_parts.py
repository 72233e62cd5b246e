"""The parts report sections are made of: escaped HTML tables, number formatting and the
shared Pareto-front section."""

from __future__ import annotations

import math

from netscale.study.findings import by_group
from netscale.study.report_parts import PARETO_IMAGES, format_number, html_table, pareto_section

from .trials import trial_record


def test_html_table_escapes_every_cell():
    text = html_table(["a<b", "c"], [["<script>", 1.5], ["x&y", None]])
    assert text.startswith("<table><tr><th>a&lt;b</th><th>c</th></tr>")
    assert "<td>&lt;script&gt;</td><td>1.5</td>" in text and "<td>x&amp;y</td>" in text


def test_format_number():
    assert format_number(1.5e6, ".1f", 1e6, "M") == "1.5M"
    assert format_number(None, ".2f") == "-" and format_number(math.nan, ".2f") == "-"
    assert format_number(math.inf, ".2f", unit="%") == "-"


def test_pareto_section_lists_the_front():
    trials = [
        trial_record(trial_id=i, group=g, flops=f, metrics={"error": e})
        for i, (g, f, e) in enumerate([("a", 1e6, 20.0), ("a", 2e6, 25.0), ("b", 4e6, 10.0)])
    ]
    sec = pareto_section(by_group(trials))
    assert sec.title == "Pareto front" and [n for n, _ in sec.images] == list(PARETO_IMAGES)
    body = "".join(sec.body)
    assert "<td>a</td><td>0</td><td>1.00M</td><td>20.00%</td>" in body
    assert "<td>b</td><td>2</td><td>4.00M</td><td>10.00%</td>" in body and "<td>1</td>" not in body
    empty = pareto_section({})
    assert empty.images and not empty.body  # a figure that says so, no table
