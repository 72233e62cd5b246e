"""The layer rule of docs/architecture.md: spec, families, complexity never import torch."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "netscale",
        "netscale.spec",
        "netscale.families",
        "netscale.complexity",
        "netscale.scaling",
        "netscale.space",
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
