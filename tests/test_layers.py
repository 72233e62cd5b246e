"""The layer rule of docs/architecture.md: imports point down only (the diagram there is this
test's data), no module imports another that imports it back, and the rules layers never
import torch."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "netscale"


def layer_order() -> list[str]:
    """Layer names, top first, from the "## Layers" diagram of docs/architecture.md:
    `netscale/cli` -> "cli", `netscale/api.py` -> "api", `netscale/__init__.py` -> ""."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("## Layers", 1)[1].split("```", 2)[1]
    names = re.findall(r"^netscale/(\S+)", block, flags=re.M)
    return [n.removesuffix(".py").removeprefix("__init__") for n in names]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str, layers: list[str]) -> str:
    """The layer of `netscale.x.y`: "x" (a subpackage or a top-level module)."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else ""
    if name not in layers:
        raise AssertionError(f"{module}: layer {name!r} is not in docs/architecture.md")
    return name


def imports_of(path: Path) -> set[str]:
    """netscale modules `path` imports, at any depth (function-level imports included)."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from pkg import mod` imports the module pkg.mod where one exists
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t == "netscale" or t.startswith("netscale."))
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_imports_point_down_only():
    layers = layer_order()
    assert layers[0] == "" and "api" in layers and layers[-1] == "version", layers
    rank = {name: i for i, name in enumerate(layers)}  # 0 = top
    upward = []
    for module, targets in graph().items():
        here = rank[layer_of(module, layers)]
        upward += [f"{module} -> {t}" for t in sorted(targets) if rank[layer_of(t, layers)] < here]
    assert not upward, "imports pointing up a layer:\n" + "\n".join(upward)


def test_nothing_inside_imports_the_facade():
    inside = [
        m
        for m, targets in graph().items()
        if m not in ("netscale", "netscale.api", "netscale.__main__")
        and ({"netscale", "netscale.api"} & targets)
    ]
    assert not inside, f"modules importing netscale.api or netscale itself: {inside}"


def test_no_import_cycles_between_modules():
    """Package __init__ files re-export their modules, so an edge into a package's own
    __init__ from inside the package is its re-export, not a cycle of two modules."""
    g = graph()
    edges = {
        m: {t for t in ts if t in g and not (m.startswith(t + ".") and t != "netscale")}
        for m, ts in g.items()
    }
    seen, stack, cycles = set(), [], []

    def visit(node: str) -> None:
        if node in stack:
            cycles.append([*stack[stack.index(node) :], node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(edges[node]):
            visit(nxt)
        stack.pop()

    for node in sorted(edges):
        visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    "module",
    [
        "netscale",
        "netscale.spec",
        "netscale.families",
        "netscale.complexity",
        "netscale.scaling",
        "netscale.space",
        "netscale.plan",
    ],
)
def test_torch_free_layers(module):
    code = (
        f"import sys, {module}, netscale\n"
        "netscale.complexity('regnet_y_400mf'); netscale.list_models()\n"
        "netscale.spec.loads(netscale.spec.dumps(netscale.get_spec('resnet_rs_50')))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
