"""Measured speed and memory on a device (`profile`). The FLOPs/activations/params versus
runtime study of a design space is the study planner `runtime_correlation`
(`netscale.study.planners.runtime`), which measures each model with `profile`."""

from netscale.profiling.device import resolve_device
from netscale.profiling.measure import MODES, PRECISIONS, ProfileResult, profile

__all__ = ["MODES", "PRECISIONS", "ProfileResult", "profile", "resolve_device"]
