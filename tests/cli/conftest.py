"""Shared CLI test helpers."""

from netscale.cli.main import main


def usage_error(args, capsys) -> str:
    """`netscale ARGS` exits with code 2 and one error line on stderr; that line."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("netscale: error:") and "\n" not in err
    return err
