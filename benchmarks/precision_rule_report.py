"""The Markdown page of benchmarks/precision_rule.py: the rule, the measured rows, and how
the rule in the code and other candidate rules score on them (docs/precision.md).

A row is a dict from precision_rule.measure: model, px, batch, the spec's counts (share:
grouped share of multiply-adds; dense_per_dw: multiply-adds per depthwise output, inf
without depthwise convs; dw_acts: depthwise share of output elements; macs_step), the
median step times, the speedup fp32 / bf16, the rounds used and the rule's pick."""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
from collections.abc import Callable

import torch

from netscale.training.precision import MIN_DENSE_PER_DEPTHWISE

AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
WIN = 1.10  # bf16 "wins" when fp32 / bf16 >= this
# The rule before this one ("bf16 iff grouped share < 25%"), scored to show why it went.
OLD_MAX_GROUPED_SHARE = 0.25
PER_DW = "multiply-adds per depthwise output (no depthwise: always)"
KINDS = ("dense convs only", "grouped convs, no depthwise", "depthwise convs")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _value(x: float, fmt: str) -> str:
    if abs(x) == math.inf:
        return "-inf" if x < 0 else "inf"
    return f"{x:.0f}" if fmt == "n" else f"{_pct(x)}%"


def _names(rows: list[dict]) -> str:
    return ", ".join(f"`{r['model']}@{r['px']}` (x{r['speedup']:.2f})" for r in rows) or "none"


def _kind(r: dict) -> str:
    if r["dense_per_dw"] < math.inf:
        return "depthwise convs"
    return "grouped convs, no depthwise" if r["share"] > 0 else "dense convs only"


def table(rows: list[dict]) -> list[str]:
    """The measured rows, in the order of the rule's input (depthwise-heavy first)."""
    lines = [
        "| model | px | batch | grouped share (%) | multiply-adds per depthwise output "
        "| fp32 ms/step | bf16 ms/step | speedup (fp32/bf16) | bf16 wins by >= 10% "
        "| rule picks | G multiply-adds per step | clean rounds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["dense_per_dw"], r["share"], r["model"], r["px"])):
        cap = " (capped)" if r["capped"] else ""
        lines.append(
            f"| `{r['model']}` | {r['px']} | {r['batch']} | {_pct(r['share'])} "
            f"| {_value(r['dense_per_dw'], 'n').replace('inf', '-')} "
            f"| {r['fp32_ms']:.1f} | {r['bf16_ms']:.1f}{cap} | {r['speedup']:.2f} "
            f"| {'yes' if r['speedup'] >= WIN else 'no'} | {r['rule']} "
            f"| {r['macs_step'] / 1e9:.2f} | {0 if r['noisy'] else r['rounds']} of "
            f"{r['rounds_run']} |"
        )
    return lines


def separation(rows: list[dict], key: str, below: bool) -> dict:
    """The thresholds t of "bf16 iff row[key] < t" (`below`; else ">= t") that misclassify
    fewest rows, a row being right when the rule picks bf16 exactly where bf16 is >= WIN
    times faster. Returns the fewest errors, the lowest band (lo, hi] of best thresholds
    (any t in it misclassifies the same rows), its middle cut and the rows wrong there."""
    values = sorted({r[key] for r in rows})
    cuts = [values[0] - 1, *[(a + b) / 2 for a, b in itertools.pairwise(values)], values[-1] + 1]

    def wrong(t: float) -> list[dict]:
        return [r for r in rows if ((r[key] < t) == below) != (r["speedup"] >= WIN)]

    errors = [len(wrong(t)) for t in cuts]
    best = min(errors)
    first = last = errors.index(best)  # the lowest band of best thresholds
    while last + 1 < len(cuts) and errors[last + 1] == best:
        last += 1
    lo = values[first - 1] if first > 0 else -math.inf
    hi = values[last] if last < len(values) else math.inf
    return {"best": best, "lo": lo, "hi": hi, "wrong": wrong(cuts[first]), "cut": cuts[first]}


def score(rows: list[dict], pick: Callable[[dict], bool]) -> dict:
    """How a rule (`pick(row)`: bf16?) does on measured rows: the rows it misclassifies,
    the costly ones (its pick >= WIN times slower than the other precision), and the
    geometric-mean slowdown of its picks against the faster precision of each row."""
    wrong = [r for r in rows if pick(r) != (r["speedup"] >= WIN)]
    costly = [r for r in rows if (r["speedup"] <= 1 / WIN if pick(r) else r["speedup"] >= WIN)]
    slow = [max(1.0, 1 / r["speedup"] if pick(r) else r["speedup"]) for r in rows]
    loss = math.exp(statistics.fmean(math.log(x) for x in slow))
    return {"wrong": wrong, "costly": costly, "loss": loss}


def _band(s: dict, fmt: str) -> str:
    return f"({_value(s['lo'], fmt)}, {_value(s['hi'], fmt)}]"


def _fitted(rows: list[dict], key: str, below: bool, fmt: str, text: str) -> tuple:
    """The rule "bf16 iff row[key] < t" (`below`; else ">= t"), t fitted to `rows`."""
    s = separation(rows, key, below)
    t = s["cut"]
    if below:
        return f"{text} < t, any t in {_band(s, fmt)} (fitted)", lambda r: r[key] < t
    return f"{text} >= t, any t in {_band(s, fmt)} (fitted)", lambda r: r[key] >= t


def _per_px(rows: list[dict], split: int = 64) -> tuple[str, Callable[[dict], bool]] | None:
    """The possible refinement: "multiply-adds per depthwise output >= t" with t fitted at
    <= `split` px and above separately (None without rows on both sides)."""
    if len({r["px"] <= split for r in rows}) < 2:
        return None
    small = separation([r for r in rows if r["px"] <= split], "dense_per_dw", below=False)
    large = separation([r for r in rows if r["px"] > split], "dense_per_dw", below=False)
    where = "/".join(str(px) for px in sorted({r["px"] for r in rows if r["px"] <= split}))
    return (
        f"{PER_DW} >= t, t in {_band(small, 'n')} at {where} px and in {_band(large, 'n')} "
        f"above (fitted; the {where} px refinement)",
        lambda r: r["dense_per_dw"] >= (small["cut"] if r["px"] <= split else large["cut"]),
    )


def the_rule(r: dict) -> bool:
    """The rule in the code, as `choose_precision("auto", cpu, spec)` picked on this CPU."""
    return r["rule"] == "bf16"


def rules(rows: list[dict]) -> list[tuple[str, Callable[[dict], bool]]]:
    """Candidate rules, a spec's counts their only input; fitted thresholds flatter them."""
    candidates = [
        ("always fp32", lambda r: False),
        ("always bf16", lambda r: True),
        (
            f"grouped share < {_pct(OLD_MAX_GROUPED_SHARE)}% (the previous rule)",
            lambda r: r["share"] < OLD_MAX_GROUPED_SHARE,
        ),
        _fitted(rows, "share", True, "pct", "grouped share"),
        ("no depthwise convs", lambda r: r["dense_per_dw"] == math.inf),
        _fitted(rows, "dw_acts", True, "pct", "depthwise share of output elements"),
        (f"**{PER_DW} >= {MIN_DENSE_PER_DEPTHWISE} (the rule in the code)**", the_rule),
        _fitted(rows, "dense_per_dw", False, "n", PER_DW),
        _per_px(rows),
    ]
    return [c for c in candidates if c is not None]


def by_kind(rows: list[dict]) -> list[str]:
    """Speedups summarized by the kind of convolutions a model has and the resolution."""
    lines = [
        "| convolutions | px | rows | speedup min | median | max | bf16 wins by >= 10% "
        "| bf16 >= 10% slower |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        for px in sorted({r["px"] for r in rows}):
            sub = [r["speedup"] for r in rows if _kind(r) == kind and r["px"] == px]
            if sub:
                lines.append(
                    f"| {kind} | {px} | {len(sub)} | {min(sub):.2f} "
                    f"| {statistics.median(sub):.2f} | {max(sub):.2f} "
                    f"| {sum(x >= WIN for x in sub)} | {sum(x <= 1 / WIN for x in sub)} |"
                )
    return lines


def _verdict(rows: list[dict]) -> list[str]:
    """The rule in the code, scored, against its alternatives and its fitted band."""
    now, always = score(rows, the_rule), score(rows, lambda r: True)
    sep = separation(rows, "dense_per_dw", below=False)
    inside = sep["lo"] < MIN_DENSE_PER_DEPTHWISE <= sep["hi"]
    refined = _per_px(rows)
    lines = [
        f"- **The rule in the code** (bf16 iff no depthwise convs or >= "
        f"{MIN_DENSE_PER_DEPTHWISE} multiply-adds per depthwise output) misclassifies "
        f"{len(now['wrong'])} of {len(rows)} rows: {_names(now['wrong'])}. "
        f"{len(now['costly'])} of them are costly (its pick >= 10% slower than the other "
        f"precision): {_names(now['costly'])}. Slowdown {now['loss']:.3f} (always bf16: "
        f"{always['loss']:.3f}; always fp32: {score(rows, lambda r: False)['loss']:.3f}).",
        f"- The best thresholds on these rows lie in {_band(sep, 'n')} ({sep['best']} "
        f"misclassified); {MIN_DENSE_PER_DEPTHWISE} lies "
        + ("inside that band." if inside else "**outside** that band: revisit the constant."),
    ]
    if refined is not None:
        sc = score(rows, refined[1])
        lines.append(
            f"- A possible refinement, a threshold per resolution range (bf16 iff "
            f"{refined[0]}), would misclassify {len(sc['wrong'])}, {len(sc['costly'])} "
            f"costly ({_names(sc['costly'])}), slowdown {sc['loss']:.3f}. The code keeps one "
            "threshold: simpler, and each range's threshold would rest on fewer points."
        )
    return lines


def _grouped(rows: list[dict]) -> list[str]:
    """Why the grouped share (the previous rule's input) was dropped."""
    old = score(rows, lambda r: r["share"] < OLD_MAX_GROUPED_SHARE)
    always = score(rows, lambda r: True)
    shares = sorted({r["share"] for r in rows})
    cuts = [0.0, *[(a + b) / 2 for a, b in itertools.pairwise(shares)]]  # each picks fp32
    losses = [score(rows, lambda r, t=t: r["share"] < t)["loss"] for t in cuts]
    best = min(losses)
    grouped = [r for r in rows if _kind(r) == "grouped convs, no depthwise"]
    lost = [r["share"] for r in rows if r["speedup"] <= 1 / WIN] or [math.nan]
    lines = [
        f"- The previous rule, bf16 iff the grouped share is < "
        f"{_pct(OLD_MAX_GROUPED_SHARE)}%, misclassifies {len(old['wrong'])} of {len(rows)}, "
        f"{len(old['costly'])} costly, slowdown {old['loss']:.3f}. Of the {len(grouped)} rows "
        f"with grouped convs but no depthwise ones, bf16 is >= 10% slower in "
        f"{sum(r['speedup'] <= 1 / WIN for r in grouped)}; the rows where it is have grouped "
        f"shares of only {_pct(min(lost))}-{_pct(max(lost))}%.",
    ]
    if best >= always["loss"]:
        lines.append(
            f"- No threshold on the grouped share does better than always picking bf16 (the "
            f"best one that picks fp32 at all: slowdown {best:.3f}; always bf16: "
            f"{always['loss']:.3f}): on this CPU the grouped share is the wrong input."
        )
    return lines


def _candidates(rows: list[dict]) -> list[str]:
    lines = [
        "Candidate rules on the same rows. Depthwise convs: one group per input channel; "
        "the counts come from `netscale.complexity.count(spec)`. Fitted thresholds are the "
        "middle of the best band on these rows, so they flatter the rule. Costly: the pick "
        "is >= 10% slower than the other precision. Slowdown: geometric mean over rows of "
        "the pick's step time over the faster precision's.",
        "",
        "| rule: bf16 iff | misclassified | costly | slowdown | costly rows |",
        "|---|---|---|---|---|",
    ]
    for text, pick in rules(rows):
        sc = score(rows, pick)
        lines.append(
            f"| {text} | {len(sc['wrong'])} of {len(rows)} | {len(sc['costly'])} "
            f"| {sc['loss']:.3f} | {_names(sc['costly'])} |"
        )
    return lines


def analysis(rows: list[dict]) -> list[str]:
    """What the measurements say about the rule; rows without a clean round left out."""
    noisy = [r for r in rows if r["noisy"]]
    rows = [r for r in rows if not r["noisy"]] or rows
    wins = [r for r in rows if r["speedup"] >= WIN]
    loses = [r for r in rows if r["speedup"] <= 1 / WIN]
    return [
        f"A row counts as right when the rule picks bf16 exactly where bf16 is >= "
        f"{100 * (WIN - 1):.0f}% faster than fp32.",
        "",
        *_verdict(rows),
        f"- Left out, no clean round: {_names(noisy)}."
        if noisy
        else "- Every row had clean rounds.",
        f"- bf16 wins by >= 10% in {len(wins)} of {len(rows)} rows; it is >= 10% slower in "
        f"{len(loses)}: {_names(loses)}.",
        *_grouped(rows),
        "",
        "By the kind of convolutions a model has (depthwise: one group per input channel; "
        "grouped: 2 or more groups, fewer than the channels):",
        "",
        *by_kind(rows),
        "",
        *_candidates(rows),
    ]


INTRO = """\
# How netscale chooses the training precision

A recipe's `precision` is `fp32`, `bf16` (autocast to bfloat16, fp32 weights, as
mixed-precision training does) or `auto` (the default). `auto` is decided by a fixed rule,
`netscale.training.precision.choose_precision`, from what does not change between two runs
of the same work on one machine: the device's kind, whether it has bf16 units, and the
model's spec. It never times anything, so the same command trains in the same precision
(and gives the same numbers) every time, however loaded the machine is.

## The rule

1. **CUDA GPU**: bf16 where the GPU has native bf16 (compute capability >= 8.0, i.e.
   sm_80 and newer: A100, H100, RTX 30xx/40xx); fp32 on older GPUs.
2. **CPU with bf16 units**: bf16, *unless* the model has depthwise convolutions and does
   fewer than {min_dense} multiply-adds in its other layers per element its depthwise
   convolutions output (`MIN_DENSE_PER_DEPTHWISE = {min_dense}` in
   `netscale/training/precision.py`); then fp32. A model without depthwise convolutions
   always gets bf16. The number is `dense_per_depthwise(spec)`: from
   `netscale.complexity.count(spec)`, (flops - bias_flops - depthwise_flops) /
   depthwise_acts, counted from the spec without building or timing the model. Both parts
   grow with the pixels, so it hardly depends on the resolution: EfficientNet-B0/B2 about
   150-180, CoAtNet-nano about 430, EfficientNetV2-B0 about 570-600 (fp32);
   EfficientNetV2-S about 850-905, ConvNeXt-atto 869, ConvNeXt-pico 1385 (bf16). Why this
   input: on such a CPU bf16 speeds dense and grouped convolutions and matmuls up, but
   slows depthwise convolutions down; those are memory-bound, their time follows the
   elements they output rather than their few multiply-adds. The ratio is the work
   bf16 speeds up per unit of the work it slows down. The previous rule read the share of
   multiply-adds in grouped and depthwise convolutions instead; the measurements below
   show why that input was dropped. One threshold serves every resolution; a separate one
   for 32 px inputs would fit the measurements slightly better (scored below) but is left
   out for simplicity.
3. **Anything else** (an AVX2-only x86 CPU, an ARM CPU, other devices): fp32. There bf16
   has no hardware support; on this page's CPU forced onto its AVX2 code paths a training
   step ran {avx2} slower in bf16 than in fp32 (the last table).

**How the CPU capability is detected** (`cpu_bf16_native`): all three must hold:
the processor reports the `avx512_bf16` or `amx_bf16` instructions
(`torch.cpu.get_capabilities()`, from cpuinfo); torch's ATen kernels run at the AVX512 (or
AMX) level (`torch.backends.cpu.get_cpu_capability()`, which `ATEN_CPU_CAPABILITY` can
lower); and oneDNN is allowed bf16 instructions (`ONEDNN_MAX_CPU_ISA` /
`DNNL_MAX_CPU_ISA`, if set, must not cap it at AVX2 or an AVX512 level without bf16).
The choice, its reason, the capability string and the multiply-adds per depthwise output
are recorded in the run's env.json; the precision also in every metrics line and each
checkpoint.

**Resumed runs and studies.** A resumed run keeps the precision recorded in its
checkpoint, even if the rule (or the machine) would choose differently now, so one run
never mixes precisions. In a study the worker that first claims a trial applies the rule
and fixes the answer in the trial's ledger entry (the study's SQLite store); every retry
and resume of that trial trains in the stored precision, on whichever worker or node.
Forcing `precision: bf16` on a device without bf16 units is allowed but logs a warning.

**Scope.** The CPU threshold is our choice from {points} (model, resolution) points
measured on one machine: {cpu} ({flags}), {threads} torch threads, torch {torch}. Other
CPUs (AMX units, more cores) and other torch or oneDNN versions may move the break-even
point; rerun `benchmarks/precision_rule.py` there to check. The GPU rule (bf16 from sm_80)
is {gpu}.

## The measurements
"""


def _avx2_range(avx2: dict | None) -> str:
    """ "4.0-11.8x": how many times slower bf16 ran than fp32 on the AVX2 paths."""
    if not avx2 or not avx2["rows"]:
        return "several times"
    slower = sorted(1 / r["speedup"] for r in avx2["rows"])
    return f"{slower[0]:.1f}-{slower[-1]:.1f}x"


def _intro(main: dict, avx2: dict | None) -> str:
    gpu = (
        "the usual practice, not measured here: no GPU was available"
        if not torch.cuda.is_available()
        else "the usual practice, not measured by this CPU benchmark"
    )
    return INTRO.format(
        min_dense=MIN_DENSE_PER_DEPTHWISE,
        avx2=_avx2_range(avx2),
        points=len(main["rows"]),
        cpu=main["cpu"],
        flags=main["flags"],
        threads=main["threads"],
        torch=torch.__version__.split("+")[0],
        gpu=gpu,
    ).rstrip()


def _avx2_section(avx2: dict, args: argparse.Namespace) -> list[str]:
    rows = avx2["rows"]
    lo = min(rows, key=lambda r: r["speedup"])
    hi = max(rows, key=lambda r: r["speedup"])
    return [
        "",
        "### The same CPU forced onto the AVX2 paths (as an AVX2-only CPU)",
        "",
        f"In a subprocess with `{' '.join(f'{k}={v}' for k, v in AVX2_ENV.items())}`: "
        f"ATen capability `{avx2['aten']}`, rule capability `{avx2['capability']}` "
        f"(native bf16: {avx2['native']}). {args.avx2_rounds} clean round(s) (at most "
        f"{2 * args.avx2_rounds}) of one step each after one warm-up step; a model stops "
        f"after a step over {args.avx2_step_cap:g} s (marked capped).",
        "",
        *table(rows),
        "",
        f"On the AVX2 paths bf16 is {1 / hi['speedup']:.1f} to {1 / lo['speedup']:.1f} times "
        f"slower than fp32 (`{hi['model']}@{hi['px']}` to `{lo['model']}@{lo['px']}`); the "
        f"rule picks {' and '.join(sorted({r['rule'] for r in rows}))} there.",
    ]


def page(main: dict, avx2: dict | None, args: argparse.Namespace, method: list[str]) -> str:
    """The whole Markdown page (docs/precision.md); `method`: how the rows were measured."""
    lines = [
        _intro(main, avx2),
        "",
        *method,
        "",
        f"### This CPU with its bf16 units (`{main['capability']}`)",
        "",
        *table(main["rows"]),
        "",
        "### What the measurements show",
        "",
        *analysis(main["rows"]),
    ]
    if avx2 is not None and avx2["rows"]:
        lines += _avx2_section(avx2, args)
    return "\n".join(lines) + "\n"
