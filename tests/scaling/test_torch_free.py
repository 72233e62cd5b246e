"""The layer rule (docs/architecture.md): netscale.scaling never imports torch."""

import subprocess
import sys


def test_scaling_does_not_import_torch():
    code = (
        "import sys\n"
        "import netscale.scaling as s\n"
        "spec = s.compound(__import__('netscale').get_spec('resnet_50'), 1.0)\n"
        "s.scale_to(spec, 'resnet_rs', '20G', regime='short')\n"
        "s.resnet_rs_path(spec, steps=1); s.compound_grid()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
