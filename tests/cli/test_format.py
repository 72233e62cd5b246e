"""Plain-text rendering of tables, model lists and model cards."""

import dataclasses
import re

import pytest

import netscale
from netscale.cli.format import (
    EXIT_FAILED,
    Failed,
    format_card,
    format_model_list,
    giga,
    millions,
    table,
)
from netscale.complexity import count
from netscale.families import model_card


def _cells(line: str) -> list[str]:
    """A rendered row's cells (columns are separated by at least two spaces)."""
    return re.split(r"\s{2,}", line.strip())


def test_table_pads_columns_to_their_widest_cell():
    text = table(("a", "long header"), [(1, "x"), ("wide cell", None)])
    assert text.splitlines() == [
        "a          long header",
        "1          x",
        "wide cell  None",
    ]


def test_table_strips_trailing_spaces_and_handles_no_rows():
    assert table(("name", "b"), [("x", "")]) == "name  b\nx"
    assert table(("only",), []) == "only"


@pytest.mark.parametrize("row", [(1,), (1, 2, 3)])
def test_rows_of_another_length_than_the_header_are_an_error(row):
    """Never a silently dropped or misaligned cell."""
    with pytest.raises((ValueError, IndexError)):
        table(("a", "b"), [row])


@pytest.mark.parametrize(
    ("n", "m", "g"),
    [
        (4_344_144, "4.34 M", "0.004 G"),
        (401_849_056, "401.85 M", "0.402 G"),
        (0, "0.00 M", "0.000 G"),
        (1_005_000_000, "1005.00 M", "1.005 G"),
        (5_000, "0.01 M", "0.000 G"),
    ],
)
def test_units(n, m, g):
    assert millions(n) == m and giga(n) == g


def test_failed_is_a_frozen_record():
    failed = Failed(text="2 of 4 trials failed", error="see status")
    assert (failed.text, failed.error) == ("2 of 4 trials failed", "see status")
    with pytest.raises(dataclasses.FrozenInstanceError):
        failed.error = "other"
    assert EXIT_FAILED == 1  # 2 is a usage error (cli.main)


def test_model_list_rows_match_the_registry():
    names = ["resnet_18", "coatnet_nano"]
    lines = format_model_list(names).splitlines()
    assert _cells(lines[0]) == [
        "name", "family", "res (px)", "params", "flops (MACs)", "timm", "torchvision"
    ]  # fmt: skip
    assert lines[-1] == "2 models; flops are multiply-adds at res."
    rows = {_cells(line)[0]: _cells(line) for line in lines[1:-1]}
    assert list(rows) == names  # in the order given
    for name in names:
        cx, info = count(netscale.get_spec(name)), netscale.model_info(name)
        assert rows[name] == [
            name,
            info.family,
            str(cx.resolution),
            millions(cx.params),
            giga(cx.flops),
            info.timm or "-",
            info.torchvision or "-",
        ]
    assert rows["coatnet_nano"][-2:] == ["-", "-"]  # no counterpart in either library


def _card_lines(name_or_spec, resolution=None) -> list[str]:
    return format_card(model_card(name_or_spec, resolution)).splitlines()


def test_card_of_a_registered_model():
    lines = _card_lines("resnet_18")
    spec, cx = netscale.get_spec("resnet_18"), count(netscale.get_spec("resnet_18"))
    assert lines[0] == f"resnet_18  spec_id {netscale.spec_id(spec)}"
    assert lines[1].startswith("family resnet; paper: He et al.")
    assert lines[2] == "resolution: train 224 px, test 224 px"
    assert lines[3] == "counterparts: timm resnet18, torchvision resnet18"
    header = lines.index("") + 1
    assert _cells(lines[header])[:3] == ["part", "block", "depth"]
    rows = [_cells(line) for line in lines[header + 1 : header + 7]]
    assert [r[0] for r in rows] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert rows[0][:3] == ["stem", "conv 7x7 s2 + max pool", "64"]
    for row, stage in zip(rows[1:5], spec.stages, strict=True):
        # basic blocks: no group width, no bottleneck ratio, no SE
        assert row[1:9] == ["basic", str(stage.depth), str(stage.width), str(stage.stride),
                            "-", "-", "-", row[8]]  # fmt: skip
    assert [r[-3] for r in rows] == ["56", "56", "28", "14", "7", "1"]  # output pixels
    assert rows[-1][1] == "pool + fc 1000"
    assert (
        f"at 224x224 px: params {cx.params:,} ({millions(cx.params)}); flops {cx.flops:,} "
        f"multiply-adds ({giga(cx.flops)}); acts {cx.acts:,} ({millions(cx.acts)})"
    ) in lines
    assert "published top1: 69.758 % (torchvision IMAGENET1K_V1 weights)" in lines
    assert lines[-1].startswith("note: ")


def test_card_parts_sum_to_the_totals():
    card = model_card("regnet_y_400mf")
    parts = card["complexity"]["parts"]
    assert sum(p["params"] for p in parts) == card["complexity"]["params"]
    lines = format_card(card).splitlines()
    params = [_cells(line)[-2] for line in lines if line.startswith(("stem", "stage", "head"))]
    assert params == [millions(p["params"]) for p in parts]


def test_card_columns_of_grouped_se_and_head_conv_blocks():
    rows = {_cells(line)[0]: _cells(line) for line in _card_lines("regnet_y_400mf")}
    stage = netscale.get_spec("regnet_y_400mf").stages[0]
    assert rows["stage1"][5:8] == [str(stage.group_width), str(stage.bottleneck_ratio),
                                   str(stage.se_ratio)]  # fmt: skip
    assert rows["stem"][1] == "conv 3x3 s2"  # no pool: nothing added
    head = {_cells(line)[0]: _cells(line) for line in _card_lines("efficientnet_b0")}["head"]
    assert head[1] == "pool + fc 1000, conv 1280"


def test_card_of_an_unnamed_spec_file_has_no_registry_lines():
    spec = netscale.get_spec("regnet_x_200mf", name="", resolution=64)
    lines = _card_lines(spec)
    assert lines[0] == f"(unnamed spec)  spec_id {netscale.spec_id(spec)}"
    assert lines[1] == ""  # no family, resolution or counterparts
    assert not any(line.startswith(("published", "note:", "family")) for line in lines)
    assert any(line.startswith("at 64x64 px: ") for line in lines)


def test_card_at_another_resolution():
    lines = _card_lines("resnet_18", 128)
    assert any(line.startswith("at 128x128 px: ") for line in lines)
    stem = next(_cells(line) for line in lines if line.startswith("stem"))
    assert stem[-3] == "32"  # 128 / 4


def test_card_of_the_airbench_kinds(airbench94):
    rows = {_cells(line)[0]: _cells(line) for line in _card_lines(airbench94)}
    assert rows["stem"][1:3] == ["whiten 2x2 s1", "24"]
    assert rows["stage1"][1:5] == ["conv_pool", "1", "64", "2"]
    assert rows["head"][1] == "max pool + fc 10, logits x 0.1111"
