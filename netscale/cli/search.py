"""`netscale search`: EfficientNetV2's training-aware search (Tan & Le 2021, sec. 3.3).

`netscale search CONFIG --out DIR` is `study run CONFIG --out DIR` for a config whose
planner is `training_aware` (`netscale.study.api.run_study(load_config(CONFIG), DIR, ...)`,
then `api.write_report(DIR)`, which also writes DIR/best.yaml), followed by the summary
and the line "best by reward: trial N, <choices>, top-1 X%, step Y ms on DEVICE (name),
P params -> DIR/best.yaml" (`netscale.study.planners.training_aware.chosen`). The same
command on DIR resumes it; other planners are refused, naming `netscale study run`.
Exit codes as `study run`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netscale.cli import study as study_command
from netscale.cli.format import Failed
from netscale.study import api
from netscale.study.config import StudyConfig, list_examples
from netscale.study.planners.training_aware import NAME, candidate_text, chosen


def add_parser(commands: Any) -> None:
    """Register the `search` subcommand on the top-level subparsers."""
    p = commands.add_parser(
        "search",
        help="EfficientNetV2's training-aware search: candidates trained, timed, ranked",
        description="Random candidates of a stage-wise space (block, kernel, expansion, "
        "depth, SE per stage) each trained and its training step time measured on this "
        "device, ranked by the reward A*S^w*P^v (EfficientNetV2, sec. 3.3); a study: "
        "the same command resumes it.",
    )
    examples = f"a shipped search config: {', '.join(list_examples(NAME))}"
    study_command.add_run_arguments(p, examples)


def run(args: argparse.Namespace) -> str | Failed:
    """Run (or resume) the search, write its report and best.yaml; the summary and the
    best candidate's line."""
    return study_command.run_config(_config(args), args, report=True, extra=_best_line)


def _config(args: argparse.Namespace) -> StudyConfig:
    """The config of a training-aware search (a file or a shipped example); another
    planner's is refused, naming the command that runs it."""
    allowed = list_examples(NAME)
    if args.example is not None and args.example not in allowed:
        raise ValueError(
            f"example={args.example!r} is not a training-aware search; allowed: "
            f"{', '.join(allowed)} (other studies: netscale study run --example NAME)"
        )
    config = api.resolve_config(args.config, args.example)
    if config.planner != NAME:
        raise ValueError(
            f"{config.name}: planner={config.planner!r} is not {NAME}: `netscale search` "
            "runs training-aware searches only; run this study with `netscale study run`"
        )
    return config


def _best_line(out: Path) -> list[str]:
    _, trials = api.study_trials(out)
    best = chosen(trials)
    if best is None:
        return ["best by reward: none yet (no candidate trained and timed)"]
    return [f"best by reward: {candidate_text(best[0])} -> {out / 'best.yaml'}"]
