"""Regenerate tests/complexity/golden.json: analytic complexity of every registered model.

Run: .venv/bin/python scripts/golden_complexity.py
Review the diff before committing: a change means the counted architecture changed.
"""

import json
from pathlib import Path

import netscale

OUT = Path(__file__).resolve().parents[1] / "tests" / "complexity" / "golden.json"


def main() -> None:
    table = {}
    for name in netscale.list_models():
        cx = netscale.complexity(name)
        table[name] = {
            "resolution": cx.resolution,
            "flops": cx.flops,
            "params": cx.params,
            "acts": cx.acts,
        }
    OUT.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {OUT} ({len(table)} models)")


if __name__ == "__main__":
    main()
