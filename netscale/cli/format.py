"""Plain-text rendering of model lists and model cards (what the CLI prints)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netscale.complexity import count
from netscale.families import model_info, resolve_spec

EXIT_FAILED = 1  # the work ran but did not succeed (2, usage errors, is cli.main's)


@dataclass(frozen=True, slots=True)
class Failed:
    """What a command returns when its work ran but did not succeed (a diverged run, failed
    trials, a crashed worker): `text` still goes to stdout, `error` is one line on stderr,
    and the exit code is EXIT_FAILED. cli.main prints both."""

    text: str
    error: str


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned text columns separated by two spaces."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def millions(n: int) -> str:
    """An integer count in millions with two decimals (e.g. '4.34 M')."""
    return f"{n / 1e6:.2f} M"


def giga(n: int) -> str:
    """Multiply-adds in billions with three decimals (e.g. '0.402 G')."""
    return f"{n / 1e9:.3f} G"


def format_model_list(names: Sequence[str]) -> str:
    """One row per model: family, resolution, params, multiply-adds, counterparts."""
    rows = []
    for name in names:
        info = model_info(name)
        cx = count(resolve_spec(name))
        rows.append(
            (
                name,
                info.family,
                cx.resolution,
                millions(cx.params),
                giga(cx.flops),
                info.timm or "-",
                info.torchvision or "-",
            )
        )
    header = ("name", "family", "res (px)", "params", "flops (MACs)", "timm", "torchvision")
    return table(header, rows) + f"\n{len(rows)} models; flops are multiply-adds at res."


def _stage_rows(card: dict[str, Any]) -> list[tuple[Any, ...]]:
    spec, parts = card["spec"], card["complexity"]["parts"]
    stem = spec["stem"]
    stem_desc = f"{stem['kind']} {stem['kernel']}x{stem['kernel']} s{stem['stride']}"
    if stem["pool"] != "none":
        stem_desc += f" + {stem['pool']} pool"
    rows = [
        (
            "stem",
            stem_desc,
            "",
            stem["width"],
            "",
            "",
            "",
            "",
            parts[0]["resolution"],
            millions(parts[0]["params"]),
            giga(parts[0]["flops"]),
        )
    ]
    for i, (st, part) in enumerate(zip(spec["stages"], parts[1:-1], strict=True)):
        ratio = st["bottleneck_ratio"] if st["block"] == "bottleneck" else "-"
        rows.append(
            (
                f"stage{i + 1}",
                st["block"],
                st["depth"],
                st["width"],
                st["stride"],
                st["group_width"] or "-",
                ratio,
                st["se_ratio"] or "-",
                part["resolution"],
                millions(part["params"]),
                giga(part["flops"]),
            )
        )
    head, part = spec["head"], parts[-1]
    # to_dict writes head.pool / head.logit_scale only when they are not the defaults
    pool = "max pool" if head.get("pool", "avg") == "max" else "pool"
    desc = f"{pool} + fc {head['num_classes']}"
    desc += f", conv {head['width']}" if head["width"] else ""
    scale = head.get("logit_scale", 1.0)
    desc += f", logits x {scale:.4g}" if scale != 1.0 else ""
    rows.append(
        ("head", desc, "", "", "", "", "", "", 1, millions(part["params"]), giga(part["flops"]))
    )
    return rows


def format_card(card: dict[str, Any]) -> str:
    """The model card: identity, stage table, totals with units, references."""
    cx, info = card["complexity"], card["info"]
    lines = [f"{card['name'] or '(unnamed spec)'}  spec_id {card['spec_id']}"]
    if info:
        lines.append(f"family {info['family']}; paper: {info['paper']}")
        lines.append(
            f"resolution: train {info['train_resolution']} px, test {info['test_resolution']} px"
        )
        lines.append(
            f"counterparts: timm {info['timm'] or '-'}, torchvision {info['torchvision'] or '-'}"
        )
    lines.append("")
    header = (
        "part",
        "block",
        "depth",
        "width",
        "stride",
        "group_width",
        "bottleneck",
        "se",
        "out (px)",
        "params",
        "flops",
    )
    lines.append(table(header, _stage_rows(card)))
    lines.append("")
    res = cx["resolution"]
    lines.append(
        f"at {res}x{res} px: params {cx['params']:,} ({millions(cx['params'])}); "
        f"flops {cx['flops']:,} multiply-adds ({giga(cx['flops'])}); "
        f"acts {cx['acts']:,} ({millions(cx['acts'])})"
    )
    if info:
        for ref in info["references"]:
            lines.append(
                f"published {ref['metric']}: {ref['value']} {ref['unit']} ({ref['source']})"
            )
        if info["notes"]:
            lines.append(f"note: {info['notes']}")
    return "\n".join(lines)
