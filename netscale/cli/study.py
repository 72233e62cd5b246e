"""`netscale study plan|run|status|report|export`: parse, call netscale.study.api, print.

`study plan CONFIG` is `netscale.study.api.describe_plan(load_config(CONFIG))` (a table, or
with --json the full plans; it runs nothing and creates nothing); `study run CONFIG --out
DIR` is `api.run_study(load_config(CONFIG), DIR, ...)`; `study status DIR` is
`api.status(DIR)`; `study report DIR` is `api.write_report(DIR)` plus `api.summary(DIR)`;
`study export DIR` is `api.export(DIR)`; `study compare A B` is `api.compare(A, B)` (the
rank agreement of one population trained at two budgets).

Exit codes of `study run`: 0 when every trial that ended, ended completed or diverged (a
diverged trial is a result: that model does not train with that recipe); 1 when a trial
ended failed or a worker process crashed (the summary still goes to stdout, one error line
to stderr); 2 for a usage error or a study directory that cannot be used (as every command).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netscale.cli.format import Failed, table
from netscale.spec.io import json_text
from netscale.study import api
from netscale.study.config import StudyConfig, list_examples
from netscale.study.runner import WorkerError


def add_parser(commands: Any) -> None:
    """Register `study` and its actions on the top-level subparsers."""
    study = commands.add_parser(
        "study", help="run a study (design space, scaling, ablation) and report it"
    )
    sub = study.add_subparsers(dest="action", required=True, parser_class=type(study))
    examples = f"a shipped config: {', '.join(list_examples())}"
    plan = sub.add_parser("plan", help="print a study's trials; runs and creates nothing")
    plan.add_argument("config", nargs="?", default=None, help="study config YAML")
    plan.add_argument("--example", default=None, help=examples)
    plan.add_argument("--json", action="store_true", help="the full plans as JSON")
    run = sub.add_parser("run", help="create or resume a study and run its trials")
    add_run_arguments(run, examples)
    run.add_argument("--no-report", action="store_true", help="skip writing report.html")
    for name, text in (
        ("status", "trial counts per status and group"),
        ("report", "(re)write report.html and print the summary table"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("dir", help="study directory")
    exp = sub.add_parser("export", help="one JSON object (or CSV row) per trial on stdout")
    exp.add_argument("dir", help="study directory")
    exp.add_argument("--format", choices=api.EXPORT_FORMATS, default="jsonl")
    cmp = sub.add_parser(
        "compare",
        help="rank agreement of two studies of the same models (e.g. at two budgets): "
        "Spearman rho with a bootstrap interval",
    )
    cmp.add_argument("dir_a", help="study directory (e.g. the shorter budget)")
    cmp.add_argument("dir_b", help="study directory of the same models (e.g. the longer one)")
    cmp.add_argument("--ci", type=float, default=0.95, help="interval level (default 0.95)")
    cmp.add_argument("--json", action="store_true", help="the comparison as JSON")


def add_run_arguments(parser: argparse.ArgumentParser, examples: str) -> None:
    """The arguments of running a study, shared by `study run` and `search`: a config file
    or --example (`examples` is its help), --out, --workers, --backend, --address,
    --threads, --device, --retry-failed."""
    parser.add_argument("config", nargs="?", default=None, help="study config YAML")
    parser.add_argument("--example", default=None, help=examples)
    parser.add_argument("--out", required=True, help="study directory (created, or resumed)")
    parser.add_argument("--workers", type=int, default=1, help="trials run at once (default 1)")
    parser.add_argument("--backend", choices=api.RUN_BACKENDS, default="local")
    parser.add_argument("--address", default=None, help="Ray cluster address (--backend ray)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per trial (default cores/workers)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: best)")
    parser.add_argument("--retry-failed", action="store_true", help="run failed trials again")


def run(args: argparse.Namespace) -> str | Failed:
    """Execute a parsed `study` command; returns the text to print (Failed: with an error
    line and exit code 1)."""
    if args.action == "plan":
        info = api.describe_plan(api.resolve_config(args.config, args.example))
        return json_text(info, indent=2) if args.json else format_plan(info)
    if args.action == "status":
        return _format_status(api.status(args.dir))
    if args.action == "report":
        path = api.write_report(args.dir)
        return f"{api.summary(args.dir)}\nreport: {path}"
    if args.action == "export":
        return api.export(args.dir, args.format)
    if args.action == "compare":
        info = api.compare(args.dir_a, args.dir_b, ci=args.ci)
        return json_text(info, indent=2) if args.json else format_compare(info)
    return _run_study(args)


def _run_study(args: argparse.Namespace) -> str | Failed:
    config = api.resolve_config(args.config, args.example)
    return run_config(config, args, report=not args.no_report)


def run_config(
    config: StudyConfig,
    args: argparse.Namespace,
    *,
    report: bool,
    extra: Callable[[Path], list[str]] | None = None,
) -> str | Failed:
    """`api.run_study(config, args.out, ...)` with the flags of `add_run_arguments`, then
    the summary, the lines `extra(out)` returns, a line when trials did not finish and the
    report's path; Failed (exit 1) when a trial failed or a worker process crashed."""
    try:
        with _Monitor(config.name) as monitor:
            result = api.run_study(
                config,
                args.out,
                workers=args.workers,
                backend=args.backend,
                address=args.address,
                threads=args.threads,
                device=args.device,
                retry_failed=args.retry_failed,
                monitor=monitor,
                report=report,
            )
    except WorkerError as err:
        return Failed(api.summary(args.out), str(err))
    lines = [api.summary(args.out), *(extra(Path(args.out)) if extra else [])]
    left = result["counts"]["pending"] + result["counts"]["running"]
    if left:
        lines.append(f"{left} trials did not finish; run the same command again to resume")
    if result["report"] is not None:
        lines.append(f"report: {result['report']}")
    failed = result["counts"]["failed"]
    if failed:
        total = sum(result["counts"].values())
        return Failed(
            "\n".join(lines),
            f"{failed} of {total} trials failed; `netscale study status {args.out}` shows why "
            "(add --retry-failed to the run command to run them again)",
        )
    return "\n".join(lines)


def format_compare(info: dict[str, Any]) -> str:
    """`api.compare`'s result as text: the two studies, then one row per set of models."""
    a, b = info["a"], info["b"]
    pct = f"{100 * info['ci']:g}%"
    head = [
        f"A: {a['name']} ({a['dir']}), {a['trained']}, {a['completed']} of {a['planned']} "
        "trials completed",
        f"B: {b['name']} ({b['dir']}), {b['trained']}, {b['completed']} of {b['planned']} "
        "trials completed",
        f"rank agreement of top-1 error over the {info['matched']} models completed in both:",
    ]
    rows = [
        [name, str(r["n"]), f"{r['rho']:.3f}", f"[{r['low']:.3f}, {r['high']:.3f}]",
         f"{r['pvalue']:.2g}"]
        for name, r in [("all", info["all"]), *info["groups"].items()]
    ]  # fmt: skip
    top = info["top_quarter"]
    tail = (
        f"best quarter: {top['shared']} of A's best {top['size']} are among B's best {top['size']}"
    )
    body = table(["models", "n", "Spearman rho", f"{pct} bootstrap", "p"], rows)
    return "\n".join([*head, body, tail])


_NONE = object()  # a recipe field a trial's changes lack


def format_plan(info: dict[str, Any]) -> str:
    """`api.describe_plan`'s study as text: a head line, the recipe fields (beyond Recipe's
    defaults) every trial shares, and one row per trial with the rest of them (and, for a
    planner that records them, what each trial's step changes)."""
    trials = info["trials"]
    changes = [t["recipe_changes"] for t in trials]
    common = {k: v for k, v in changes[0].items() if all(c.get(k, _NONE) == v for c in changes)}
    data = f", data {info['data']}" if info["data"] else ""
    head = f"study {info['name']!r} ({info['planner']}{data}): {info['planned']} trials planned"
    kind = "settings" if trials[0]["kind"] == "profile" else "recipe, beyond Recipe's defaults"
    lines = [f"{head}; nothing was run or created",
             f"every trial's {kind}: {_fields(common) or '(none)'}"]  # fmt: skip
    steps = any("changes" in t["meta"] for t in trials)
    rows = []
    for t, c in zip(trials, changes, strict=True):
        size = [f"{t['flops'] / 1e6:.1f}M", f"{t['params'] / 1e6:.2f}M"]
        row = [t["index"], t["kind"], t["group"], t["seed"], t["epochs"], *size, t["spec_id"],
               spec_summary(t["spec"])]  # fmt: skip
        row += [_fields(t["meta"].get("changes", {})) or "-"] if steps else []
        rows.append([*row, _fields({k: v for k, v in c.items() if k not in common}) or "-"])
    cols = ["#", "kind", "group", "seed", "epochs", "flops", "params", "spec_id", "spec"]
    cols += ["step changes"] if steps else []
    return "\n".join([*lines, table([*cols, "recipe (beyond every trial's)"], rows)])


def spec_summary(spec: dict[str, Any]) -> str:
    """A spec (plain data) in one short line: name, blocks, depths, widths, resolution, and
    SE, the stem and the shortcut where they are not the plain ones."""
    stages = spec["stages"]
    blocks = "/".join(dict.fromkeys(s["block"] for s in stages))
    depths = ",".join(str(s["depth"]) for s in stages)
    widths = ",".join(str(s["width"]) for s in stages)
    res = spec["resolution"]
    parts = [spec.get("name") or "", blocks, f"d={depths}", f"w={widths}", f"{res}px"]
    se = max(s.get("se_ratio") or 0.0 for s in stages)
    parts += [f"se={se:g}"] if se else []
    parts += [f"stem={spec['stem']['kind']}"] if spec["stem"]["kind"] != "conv" else []
    parts += ["shortcut=avg"] if any(s.get("shortcut") == "avg" for s in stages) else []
    return " ".join(p for p in parts if p)


def _fields(values: dict[str, Any]) -> str:
    def text(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return repr(v) if isinstance(v, str) and " " in v else str(v)

    return " ".join(f"{k}={text(v)}" for k, v in values.items())


def _format_status(info: dict[str, Any], max_errors: int = 20) -> str:
    lines = [f"study {info['name']!r} ({info['planner']}): {info['planned']} trials planned"]
    lines.append("  " + ", ".join(f"{k} {v}" for k, v in sorted(info["counts"].items())))
    for group, counts in info["groups"].items():
        done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines.append(f"  {group}: {done}")
    if info["precision"]:
        lines.append("precision: " + ", ".join(f"{k} {v}" for k, v in info["precision"].items()))
    for t in info["failed"][:max_errors]:
        error = (t["error"] or "no error recorded").splitlines()[0]
        lines.append(f"trial {t['trial_id']} ({t['group']}) failed: {error}")
    if len(info["failed"]) > max_errors:
        lines.append(f"... and {len(info['failed']) - max_errors} more failed trials")
    return "\n".join(lines)


class _Monitor:
    """A progress bar on a terminal (rich), one line per change otherwise (stderr)."""

    def __init__(self, name: str) -> None:
        self.name, self.last, self.bar, self.task = name, None, None, None

    def __enter__(self) -> _Monitor:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                "{task.fields[detail]}",
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(f"study {self.name}", total=None, detail="")
        return self

    def __call__(self, counts: dict[str, int]) -> None:
        done = counts["completed"] + counts["failed"] + counts["diverged"]
        total = sum(counts.values())
        detail = f"running {counts['running']}, failed {counts['failed']}"
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, detail=detail)
        elif (done, counts["running"]) != self.last:
            print(f"study {self.name}: {done}/{total} trials done, {detail}", file=sys.stderr)
        self.last = (done, counts["running"])

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
