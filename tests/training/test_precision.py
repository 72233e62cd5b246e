"""Precision: "auto" is a deterministic rule of the device capability and the spec (both
branches tested on any processor by replacing the capability probe); forced bf16 warns."""

import logging
import os
import subprocess
import sys

import pytest
import torch

import netscale
from netscale.api import resolve_spec
from netscale.training import precision
from netscale.training.precision import choose_precision, cpu_bf16_native, dense_per_depthwise

from .conftest import tiny_spec

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)
DENSE = resolve_spec("resnet_18")  # no depthwise conv
GROUPED = tiny_spec()  # grouped (group width 8) bottlenecks, no depthwise conv
DEPTHWISE = resolve_spec("efficientnet_b0")  # ~160 multiply-adds per depthwise output
CONVNEXT = resolve_spec("convnext_atto")  # ~870: depthwise 7x7, but much dense work


def _cpu_units(monkeypatch, native: bool):
    text = "cpu AVX512 avx512_bf16" if native else "cpu AVX2 no bf16 units"
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: (native, text))


@pytest.mark.parametrize("spec", [DENSE, GROUPED, CONVNEXT], ids=["dense", "grouped", "convnext"])
def test_models_bf16_speeds_up_train_in_bf16_on_a_bf16_cpu(monkeypatch, spec):
    _cpu_units(monkeypatch, True)
    choice = choose_precision("auto", CPU, spec)
    assert (choice.precision, choice.requested) == ("bf16", "auto")
    assert "avx512_bf16" in choice.capability and "docs/precision.md" in choice.reason
    ratio = dense_per_depthwise(spec)
    assert choice.dense_per_depthwise == (None if ratio is None else round(ratio, 1))


def test_depthwise_heavy_model_on_a_bf16_cpu_keeps_fp32(monkeypatch):
    _cpu_units(monkeypatch, True)
    assert dense_per_depthwise(DEPTHWISE) < precision.MIN_DENSE_PER_DEPTHWISE
    choice = choose_precision("auto", CPU, DEPTHWISE)
    assert choice.precision == "fp32" and "per depthwise output < 700" in choice.reason


def test_no_bf16_units_means_fp32_for_every_spec(monkeypatch):
    _cpu_units(monkeypatch, False)
    for spec in (DENSE, DEPTHWISE, None):
        choice = choose_precision("auto", CPU, spec)
        assert choice.precision == "fp32" and "no native bf16" in choice.reason


def test_the_rule_is_a_function_of_its_inputs(monkeypatch):
    """Called again, it gives the same answer: nothing is timed."""
    for native in (True, False):
        _cpu_units(monkeypatch, native)
        first = [choose_precision("auto", CPU, s) for s in (DENSE, DEPTHWISE)]
        assert [choose_precision("auto", CPU, s) for s in (DENSE, DEPTHWISE)] == first


@pytest.mark.parametrize(("cc", "expected"), [((9, 0), "bf16"), ((8, 0), "bf16"), ((7, 5), "fp32")])
def test_cuda_follows_the_compute_capability(monkeypatch, cc, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: cc)
    choice = choose_precision("auto", CUDA, DEPTHWISE)  # depthwise convs do not matter
    assert choice.precision == expected and choice.capability == f"cuda sm_{cc[0]}{cc[1]}"


def test_forced_bf16_warns_without_units(monkeypatch, caplog):
    _cpu_units(monkeypatch, False)
    with caplog.at_level(logging.WARNING, logger="netscale.training.precision"):
        choice = choose_precision("bf16", CPU, DENSE)
    assert choice.precision == "bf16" and choice.reason == "requested"
    assert "no native bf16" in caplog.text
    caplog.clear()
    _cpu_units(monkeypatch, True)
    with caplog.at_level(logging.WARNING, logger="netscale.training.precision"):
        choose_precision("bf16", CPU, DENSE)
    assert caplog.text == ""


def test_fp32_reads_nothing_and_bad_names_are_refused(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: 1 / 0)
    assert choose_precision("fp32", CPU, DENSE).to_dict()["precision"] == "fp32"
    with pytest.raises(ValueError, match="precision='fp16' is invalid; allowed: auto, fp32"):
        choose_precision("fp16", CPU)


@pytest.mark.parametrize(
    ("flags", "aten", "limit", "native"),
    [
        ({"avx512_bf16": True}, "AVX512", None, True),
        ({"amx_bf16": True}, "AVX512", "AVX512_CORE_AMX", True),
        ({"avx512_bf16": True}, "AVX2", None, False),  # ATEN_CPU_CAPABILITY=avx2
        ({"avx512_bf16": True}, "AVX512", "AVX2", False),  # ONEDNN_MAX_CPU_ISA=AVX2
        ({"avx512_bf16": True}, "AVX512", "avx512_core", False),
        ({"avx512_bf16": False}, "AVX512", None, False),  # AVX-512 without bf16 units
    ],
)
def test_cpu_capability_reads_units_aten_and_onednn(monkeypatch, flags, aten, limit, native):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: flags)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: aten)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if limit is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
    assert cpu_bf16_native()[0] is native


def test_forced_avx2_path_is_seen_as_no_bf16():
    """The variables CI uses to exercise the AVX2 path on a bf16 machine really change the
    decision (on an AVX2-only machine it is fp32 either way)."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = "from netscale.training.precision import cpu_bf16_native; print(cpu_bf16_native())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("(False,") and "AVX2" in out


def test_depthwise_work_is_counted_from_the_spec():
    assert dense_per_depthwise(DENSE) is None and dense_per_depthwise(GROUPED) is None
    c = netscale.complexity("efficientnet_b0")
    assert 0 < c.depthwise_flops == c.grouped_flops < c.flops and 0 < c.depthwise_acts < c.acts
    assert netscale.complexity("regnet_x_200mf").depthwise_flops == 0  # grouped, not depthwise
    # the measured boundary (docs/precision.md): V2-B0 lost in bf16, ConvNeXt-atto won
    at = {n: dense_per_depthwise(resolve_spec(n)) for n in ("efficientnet_v2_b0", "convnext_atto")}
    assert at["efficientnet_v2_b0"] < precision.MIN_DENSE_PER_DEPTHWISE < at["convnext_atto"]
