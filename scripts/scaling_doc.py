"""Write docs/scaling.md and docs/scaling_flops_acts.png: what each scaling rule makes of one
base at 2x, 4x and 8x its FLOPs, and how FLOPs and activations grow along the way.

Run: python scripts/scaling_doc.py [--base NAME] [--out-dir docs]
(analytic counts only, no torch; about 2 s). The base defaults to efficientnet_b0 when it
is registered, else regnet_y_400mf.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import netscale
from netscale.complexity import count
from netscale.scaling import RULES, ScaleResult, scale_to
from netscale.spec import NetSpec, SpecError

# (label, rule, options), in the order of the table and the legend.
CASES = [
    ("compound", "compound", {}),
    ("compound_v2", "compound_v2", {}),
    ("resnet_rs long", "resnet_rs", {"regime": "long"}),
    ("resnet_rs short", "resnet_rs", {"regime": "short"}),
    ("width", "width", {}),
    ("depth", "depth", {}),
    ("v2_depth", "v2_depth", {}),
    ("resolution", "resolution", {}),
]
TABLE_FACTORS = (2, 4, 8)
PLOT_FACTORS = np.geomspace(1, 8, 13)
PLOT = "scaling_flops_acts.png"
COLUMNS = ("rule", "target (GMACs)", "coefficient", "GMACs (vs target)", "params (M)",
           "acts (M)", "res (px)", "depths", "widths")  # fmt: skip


def _fit(base: NetSpec, rule: str, options: dict, factor: float) -> tuple[ScaleResult, str]:
    """The spec within 5% of factor x the base's FLOPs, else the nearest one and a note."""
    target = count(base).flops * factor
    try:
        return scale_to(base, rule, target, **options), ""
    except SpecError:
        return scale_to(base, rule, target, tolerance=10.0, **options), ", none within 5%"


def _dash(values: list[int]) -> str:
    return "-".join(map(str, values))


def _rows(base: NetSpec) -> list[str]:
    rows = []
    for label, rule, options in CASES:
        for factor in TABLE_FACTORS:
            result, note = _fit(base, rule, options, factor)
            spec, cx = result.spec, count(result.spec)
            cells = [
                f"{label}",
                f"{factor}x ({result.target_flops / 1e9:.2f})",
                f"{result.coefficient_name} {result.coefficient:.3f}",
                f"{cx.flops / 1e9:.3f} ({result.error:+.1%}{note})",
                f"{cx.params / 1e6:.2f}",
                f"{cx.acts / 1e6:.1f}",
                str(spec.resolution),
                _dash([s.depth for s in spec.stages]),
                _dash([s.width for s in spec.stages]),
            ]
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def _curves(base: NetSpec) -> dict[str, tuple[list[float], list[float]]]:
    """Per case: FLOPs / base and acts / base of the nearest spec at each PLOT_FACTORS."""
    cx0 = count(base)
    curves = {}
    for label, rule, options in CASES:
        flops, acts = [], []
        for factor in PLOT_FACTORS:
            cx = count(_fit(base, rule, options, float(factor))[0].spec)
            flops.append(cx.flops / cx0.flops)
            acts.append(cx.acts / cx0.acts)
        curves[label] = (flops, acts)
    return curves


def _plot(curves: dict, base_name: str, path: Path) -> None:
    fig, (ax_f, ax_a) = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    for label, (flops, acts) in curves.items():
        ax_f.plot(PLOT_FACTORS, flops, marker="o", ms=3, label=label)
        ax_a.plot(PLOT_FACTORS, acts, marker="o", ms=3, label=label)
    ax_a.plot(PLOT_FACTORS, PLOT_FACTORS, "k:", lw=1, label="s (reference)")
    ax_a.plot(PLOT_FACTORS, np.sqrt(PLOT_FACTORS), "k--", lw=1, label="sqrt(s) (reference)")
    for ax, what in ((ax_f, "multiply-adds"), (ax_a, "activations")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("target FLOPs multiplier s")
        ax.set_ylabel(f"{what} / base")
        ax.grid(True, which="both", alpha=0.3)
    ax_f.set_title(f"{base_name}: achieved multiply-adds")
    ax_a.set_title(f"{base_name}: activations (conv/linear outputs)")
    ax_a.legend(fontsize=8)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _markdown(base: NetSpec, rows: list[str], curves: dict) -> str:
    cx = count(base)
    acts8 = {label: acts[-1] for label, (_, acts) in curves.items()}
    text = TEMPLATE.format(
        base=base.name,
        gmacs=cx.flops / 1e9,
        params=cx.params / 1e6,
        acts=cx.acts / 1e6,
        res=base.resolution,
        rules="\n".join(f"| `{r.name}` | {r.coefficient} | {r.summary} |" for r in RULES.values()),
        header="| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS),
        table="\n".join(rows),
        acts8=", ".join(
            f"{label} {a:.1f}x" for label, a in sorted(acts8.items(), key=lambda x: x[1])
        ),
        plot=PLOT,
    )
    return text


def default_base() -> str:
    """efficientnet_b0 when registered, else regnet_y_400mf."""
    return "efficientnet_b0" if netscale.list_models("efficientnet_b0") else "regnet_y_400mf"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=default_base(), help="registered name or spec file")
    parser.add_argument("--out-dir", default="docs", type=Path)
    args = parser.parse_args(argv)
    base = netscale.resolve_spec(args.base)
    curves = _curves(base)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    _plot(curves, base.name, args.out_dir / PLOT)
    (args.out_dir / "scaling.md").write_text(_markdown(base, _rows(base), curves))


TEMPLATE = """\
# Scaling rules

Generated by `python scripts/scaling_doc.py` (also writes `docs/{plot}`);
analytic counts only. Base: `{base}` at {res} px: {gmacs:.3f} GMACs, {params:.2f} M params,
{acts:.2f} M acts.

Every rule is a pure function `NetSpec -> NetSpec` in `netscale.scaling` (no torch), and
`netscale.scaling.scale_to(spec, rule, target_flops, **options)` bisects the rule's
coefficient until the spec's multiply-adds are within 5% of the target, or says why it
cannot (`netscale scale NAME --rule RULE --target-flops 4G` on the command line).
The same search can aim at a latency or throughput measured on a device instead
([Scaling to a measured speed](#scaling-to-a-measured-speed)).

| rule | coefficient | what it scales |
|---|---|---|
{rules}

Exact definitions (docstrings hold the same):

- `compound(spec, phi, alpha=1.2, beta=1.1, gamma=1.15)`, EfficientNet eq. 3: depth x
  alpha^phi (each stage's depth rounded up, EfficientNet's `round_repeats`), width x
  beta^phi (multiples of 8 with the 10% rule, `round_filters`), resolution
  round(res x gamma^phi) to the nearest multiple of 8 px, at least the total stride.
  phi=0 returns the spec unchanged. FLOPs grow by about 1.92^phi; the rounding moves
  this by -5%..+30% on the bases tested (tests/scaling/test_compound.py derives bounds).
- `compound_grid(step=0.05, target=2, tolerance=0.1)`, EfficientNet sec. 3.3 step 1: all
  (alpha, beta, gamma) on the grid 1, 1.05, 1.10, ... with |alpha beta^2 gamma^2 - 2| <= 0.1,
  closest first; the paper's (1.2, 1.1, 1.15) is among them.
- `v2_depth(spec, mult, from_stage=len(stages) // 2)`, EfficientNetV2 sec. 3.3 ("add more
  layers to later stages"): the round(N (mult - 1)) blocks a uniform multiplier would add
  all go to stages[from_stage:], one at a time, each to the stage with the largest
  base depth / (current depth + 1/2) (Sainte-Laguë / Webster: each stage's share rounded
  to the nearest block; never removes a block as mult grows).
- `compound_v2(spec, phi, ..., max_res=480)`, EfficientNetV2 sec. 3.3: `compound` with
  depth from `v2_depth(alpha^phi)` and the resolution capped at 480 px
  (`cap_resolution`; never below the base's own resolution).
- `resnet_rs_scale(spec, s, regime, res_rate=1/8)`, ResNet-RS sec. 7: at path position s
  the nominal FLOPs are 2^s x the base's; resolution x 2^(s/8) supplies a quarter of that
  growth (+9% px per doubling, against +16% under EfficientNet's gamma: "increase
  resolution more slowly"); the rest, g = 2^(3s/4), goes to depth in the "long" regime
  (round(N (g - 1)) blocks to the middle stages, all but the first and last, as the
  paper's RS-270/350/420 grow) and to width
  x sqrt(g) in the "short" one. `resnet_rs_path(spec, regime, steps)` returns the specs
  at 2x, 4x, ... 2^steps x the base's FLOPs, each fitted within 5%, so the two regimes
  compare at matched FLOPs.
- `width`, `depth`, `resolution`: one dimension (EfficientNet sec. 3.2), rounded as above.
  A whitening stem (`kind: whiten`) keeps its width, which the input fixes
  (2 x in_width x kernel^2); "the total stride" above is `NetSpec.min_resolution`, which
  adds the k - 1 px such a stem removes.

## What each rule makes of `{base}` at 2x, 4x and 8x its FLOPs

GMACs = multiply-adds / 10^9 (the papers' "FLOPs"); acts = output elements of every conv
and linear layer (RegNet's definition); depths and widths are per stage.

{header}
{table}

## FLOPs and activations against the multiplier

![multiply-adds and activations against the FLOPs multiplier, per rule]({plot})

Each point is the spec `scale_to` finds for that multiplier, or the nearest one where no
spec lies within 5% (the left panel shows those off the diagonal: depths jump by whole
blocks per stage, small widths by 8 channels). At 8x the base's FLOPs the activations
grew by: {acts8}.

Why this matters: a conv layer of width w on an r x r map, repeated d times, costs
d w^2 r^2 multiply-adds but writes d w r^2 activations. Scaling FLOPs by s through width
alone multiplies activations by only sqrt(s); through depth or resolution, by s;
EfficientNet's compound rule by (alpha beta gamma^2)^phi = s^0.85. The V2 and ResNet-RS
rules add depth where feature maps are small and hold the resolution back, so they sit
below `compound` and `depth` in the plot. Activations are memory traffic: on GPUs and TPUs
depthwise-heavy networks such as EfficientNets are limited by memory bandwidth rather than
arithmetic, so their runtime follows activations more than FLOPs. Dollar, Singh and
Girshick ("Fast and Accurate Model Scaling", CVPR 2021) show that the popular scaling rules
grow activations about as O(s) and width-first scaling about as O(sqrt(s)), with matching
speedups on GPUs and TPUs; Radosavovic et al. (2020, abstract and sec. 5) report RegNets up
to 5x faster than EfficientNets on GPUs at similar accuracy. Activations also set the
training memory, hence the batch size. Two caveats: these are analytic counts, not timings
(measure on your hardware), and fewer activations say nothing of accuracy, which the
papers above trade against them.

## Scaling to a measured speed

FLOPs do not predict speed (the paragraph above; ResNet-RS sec. 4, RegNet sec. 5), so
`netscale scale` can also bisect a rule's coefficient on latency or throughput measured on
the device itself:

```
netscale scale efficientnet_b0 --rule compound --target-latency 20ms --batch 1 --device cpu
netscale scale resnet_rs_50 --rule resnet_rs --regime long --target-throughput 400 \\
    --mode train --batch 32 --precision bf16 --device cuda
```

- **Targets.** `--target-latency` is the median time of one inference step of `--batch`
  images (default 1), written with a unit: `20ms`, `0.02s`, `500us`. `--target-throughput`
  is images/s, with `--mode infer` (default) or `train` (forward, backward, SGD step).
  `--precision fp32|bf16`, `--channels-last/--no-channels-last` and `--device` are
  `netscale profile`'s; each measurement is `netscale.profiling.profile` of the spec at its
  own resolution, 3 warm-up and 10 timed steps.
- **The search.** The same rules, coefficients and bisection as `--target-flops`
  (`netscale.scaling.bind_rule`, `search.expand` and `search.narrow`), on measured seconds
  per batch (latency) or per image (1 / throughput): the coefficient doubles from the
  base until a spec is at least as slow as the target, then is bisected until the two ends
  are adjacent specs, one rounding step of the rule apart. Every distinct spec is measured
  once; coefficients that give an already measured spec cost nothing. Each decision
  compares one measurement with the target, so noise can move the search to another
  crossing of the target but never out of its bracket; of the last two specs, the one
  nearer the target on the monotone (isotonic) fit of all measurements is chosen.
- **The answer is measured again** (a second, independent measurement), and that is the
  `achieved` speed checked against `--tolerance` (default 10%). Within it, the card is
  printed (and `--out` saved); beyond it, the card is printed, nothing is saved, and the
  command exits 1 naming the two adjacent specs' speeds: a target between two rounding
  steps, or a noisy machine (try `--fresh`, another rule or a larger tolerance).
- **Reach.** The smallest spec is the base (the rules only scale up), the largest the one
  with 64x its multiply-adds (`max_flops_ratio` in Python). A target outside that range is
  an error naming both ends as measured, e.g. `target latency 100 us is below what rule
  'compound' (phi) reaches from efficientnet_b0 on cpu at batch 1 (infer, fp32): ... ms
  (phi=0, the base) ... ... ms (phi=..., 64x its multiply-adds); allowed: a target in that
  range (within 10%)`.
- **Cache.** Measurements are kept in `$NETSCALE_CACHE/speed.json` (default
  `~/.cache/netscale/`), per machine (processor or GPU, ISA, CPU threads), device kind,
  `spec_id`, batch, resolution, mode, precision, channels_last and torch version, written
  atomically after each measurement. An entry keeps its samples in order: the search reads
  the first, the re-measurement the second, so the same search run again measures nothing
  at all (its output says `0 taken, N from the cache`). `--fresh` measures everything
  again and replaces them. A damaged cache file is ignored with one warning line and
  rewritten.
- **Output.** The card as for `--target-flops`, after four lines: the target and its
  settings, the achieved (re-measured) speed with its miss in % and the search's own
  measurement of that spec, the device (with the processor, ISA and threads), and how many
  measurements were taken and how many came from the cache. `--json` puts all of it, with
  every measurement, under `"scaling"`.

In Python: `netscale.scale_to_speed("efficientnet_b0", "compound", target_latency_s="20ms",
batch=1, device="cpu")` (or `netscale.profiling.scale_to_speed` with a NetSpec) returns a
`SpeedScaleResult` (spec, coefficient, target, achieved, miss, within_tolerance, every
measurement, the reach). Its `measure=` argument replaces the timing function (the tests
pass a deterministic fake); `cache=False` or a path uses no cache or another file.

Measured on this project's 2-core AMD EPYC (avx512_bf16; fp32, batch 1, 2 threads,
channels_last) on 2026-12-02, each command run with `--fresh` (nothing from the cache); what
the first lines of its output say:

- `netscale scale efficientnet_b0 --rule compound --target-latency 20ms --batch 1
  --device cpu`: phi 0 (the base: 0.386 GMACs, 224 px); the search measured 18.5 ms, the
  re-measurement 20.5 ms, +2.4% (within). An earlier run of the same command: 20.2 ms in
  the search, 17.2 ms re-measured, -14.1% (exit 1).
- `netscale scale efficientnet_b0 --rule compound --target-latency 40ms --batch 1
  --device cpu`: phi 2.102 (1.848 GMACs, 4.79x, 304 px); 42.4 ms in the search, 36.5 ms
  re-measured, -8.9% (within).
- `netscale scale resnet_rs_50 --rule resnet_rs --regime long --target-latency 20ms
  --batch 1 --device cpu`: exit 2, "target latency 20 ms is below what rule 'resnet_rs'
  (position) reaches from resnet_rs_50 ...: 36.2 ms (position=0, the base) ... 1.32 s
  (position=6.293, 66x its multiply-adds)".
- `netscale scale resnet_rs_50 --rule resnet_rs --regime long --target-latency 60ms
  --batch 1 --device cpu`: position 0.8966 (4.054 GMACs, 1.78x, 176 px); 57.6 ms in the
  search, 71 ms re-measured, +18.3% (exit 1).

Each search took 5-30 s (6-10 specs measured). What limits the re-measurement is the
machine, not the bisection: on this shared 2-core VM the same spec measures differently
from one second to the next. Measured side by side in one process, ResNet-RS-50 at position
0.8966 gave 55.4, 67.9, 60.9 and 67.6 ms in four profile() calls of 3 + 10 steps, and
EfficientNet-B0 at batch 1 gave medians from 10.4 to 20.0 ms. So a 10% tolerance holds
where the device holds still; where the re-measurement and the search's own measurement of
the chosen spec differ by more than the tolerance, the error says that the device's speed
varied (tests/cli/test_scale.py) rather than only that the target was missed.
"""


if __name__ == "__main__":
    main()
