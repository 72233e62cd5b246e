"""The `netscale` command: a thin shell over the library (parse, call, print).

Every command is one documented Python call: `netscale models list GLOB` is
`netscale.list_models(GLOB)`; `netscale models show NAME` is `netscale.api.model_card(NAME)`;
`netscale scale NAME ...` is `netscale.scaling.scale` / `scale_to`, or
`netscale.profiling.scale_to_speed` for a measured speed (see netscale/cli/scale.py);
`netscale train ...` is `netscale.train(...)`; `netscale eval RUN` is
`netscale.training.runs.evaluate_run(RUN)`; `netscale predict RUN ...` is
`netscale.predict(RUN, ...)` (see netscale/cli/predict.py); `netscale profile ...` is
`netscale.profiling.profile`, or with --space the `runtime_correlation` study (see
netscale/cli/profile.py); `netscale export NAME ...` is `netscale.build.export.export`;
`netscale study ...` is `netscale.study.api` (see netscale/cli/study.py); `netscale search
...` is `study run` of a `training_aware` study, EfficientNetV2's search (see
netscale/cli/search.py).
Errors print one line to stderr and exit with code 2; a command whose work ran but did
not succeed (a diverged training run, a study with failed trials) exits with code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from netscale.cli import export as export_command
from netscale.cli import predict as predict_command
from netscale.cli import profile as profile_command
from netscale.cli import recipe as recipe_command
from netscale.cli import scale as scale_command
from netscale.cli import search as search_command
from netscale.cli import study as study_command
from netscale.cli import train as train_command
from netscale.cli.format import EXIT_FAILED, Failed, format_card, format_model_list
from netscale.families import list_models, model_card
from netscale.families.registry import UnknownModelError
from netscale.spec import SpecError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netscale", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    models = commands.add_parser("models", help="list registered models, show a model card")
    sub = models.add_subparsers(dest="action", required=True, parser_class=_Parser)
    ls = sub.add_parser("list", help="registered model names, with params and FLOPs")
    ls.add_argument("pattern", nargs="?", default="*", help="shell-style glob (default: *)")
    show = sub.add_parser("show", help="model card: stage table, params, FLOPs, acts")
    show.add_argument("model", help="registered name, or a spec file (.yaml/.yml/.json)")
    show.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="input resolution in pixels (default: the spec's)",
    )
    show.add_argument("--json", action="store_true", help="print the card as JSON")
    scale_command.add_parser(commands)
    train_command.add_parsers(commands)
    predict_command.add_parser(commands)
    profile_command.add_parser(commands)
    export_command.add_parser(commands)
    study_command.add_parser(commands)
    search_command.add_parser(commands)
    recipe_command.add_parser(commands)
    return parser


_COMMANDS = {
    "scale": scale_command.run,
    "train": train_command.run_train,
    "eval": train_command.run_eval,
    "predict": predict_command.run,
    "profile": profile_command.run,
    "export": export_command.run,
    "study": study_command.run,
    "search": search_command.run,
    "recipe": recipe_command.run,
}


def _run(args: argparse.Namespace) -> str | Failed:
    if args.command in _COMMANDS:
        return _COMMANDS[args.command](args)
    if args.action == "list":
        names = list_models(args.pattern)
        if not names:
            raise ValueError(f"no registered model matches {args.pattern!r}")
        return format_model_list(names)
    card = model_card(args.model, args.resolution)
    return json.dumps(card, indent=2) if args.json else format_card(card)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `netscale` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        out = _run(args)
    except (
        SpecError,
        UnknownModelError,
        ValueError,
        FileNotFoundError,
        FileExistsError,
        NotImplementedError,
        ImportError,
        OSError,  # unreadable files and directories, a full disk: one line, not a traceback
    ) as err:
        print(f"netscale: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    code = 0
    if isinstance(out, Failed):
        print(f"netscale: error: {out.error}", file=sys.stderr)
        out, code = out.text, EXIT_FAILED
    try:
        print(out)
    except BrokenPipeError:  # e.g. `netscale models list | head`: the reader left early
        # Point stdout at devnull so the interpreter's flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
