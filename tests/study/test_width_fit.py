"""RegNet's width fits (the linear and the quantized linear fit of per-block widths) and
the module's torch-free import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netscale.families.regnet import REGNET_X, REGNET_Y, regnet_widths
from netscale.study import width_fit as an


def test_linear_width_fit_recovers_a_line():
    fit = an.linear_width_fit([16 + 8 * j for j in range(12)])
    assert fit.w0 == pytest.approx(16, abs=1e-4) and fit.wa == pytest.approx(8, abs=1e-5)
    assert fit.e_fit < 1e-6
    assert an.linear_width_fit([24]).e_fit == 0.0
    zigzag = an.linear_width_fit([16, 128] * 5)
    assert zigzag.e_fit > 0.5


@pytest.mark.parametrize("name", ["x_200mf", "x_800mf", "x_8gf", "y_600mf", "y_16gf"])
def test_quantized_width_fit_fits_published_regnets(name):
    table = REGNET_X if name[0] == "x" else REGNET_Y
    depth, w0, wa, wm, *_ = table[name[2:]]
    widths, depths = regnet_widths(depth, w0, wa, wm)
    blocks = [w for w, d in zip(widths, depths, strict=True) for _ in range(d)]
    fit = an.quantized_width_fit(blocks)
    assert fit.e_fit == 0.0 and list(fit.widths) == blocks
    assert 1.5 <= fit.wm <= 3.0 and fit.w0 % 8 == 0


def test_quantized_width_fit_error_of_irregular_widths():
    assert an.quantized_width_fit([64, 16, 64, 16, 64, 16]).e_fit > 0.5
    widths, depths = regnet_widths(10, 48, 30.0, 2.1, quantum=1)  # off the 8-px quantum
    blocks = [w for w, d in zip(widths, depths, strict=True) for _ in range(d)]
    assert an.quantized_width_fit(blocks, quantum=1).e_fit < 0.01
    assert an.quantized_width_fit(blocks, quantum=8).e_fit > 0.01


def test_analysis_does_not_import_torch():
    code = (
        "import sys\n"
        "from netscale.study import width_fit as an\n"
        "an.quantized_width_fit([8, 16, 16, 32]), an.linear_width_fit([8, 16, 16, 32])\n"
        "assert 'torch' not in sys.modules, 'width_fit imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
