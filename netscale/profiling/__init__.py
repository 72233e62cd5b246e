"""Measured speed and memory on a device (`profile`), and scaling to a measured speed
(`scale_to_speed`). The FLOPs/activations/params versus runtime study of a design space is
the study planner `runtime_correlation` (`netscale.study.planners.runtime`), which measures
each model with `profile`."""

from netscale.profiling.device import resolve_device
from netscale.profiling.measure import MODES, PRECISIONS, ProfileResult, profile
from netscale.profiling.speed import (
    SpeedPoint,
    SpeedScaleResult,
    cached_speed,
    measure_speed,
    parse_latency,
    scale_to_speed,
)
from netscale.profiling.speed_cache import Measurement, SpeedCacheWarning

__all__ = [
    "MODES",
    "PRECISIONS",
    "Measurement",
    "ProfileResult",
    "SpeedCacheWarning",
    "SpeedPoint",
    "SpeedScaleResult",
    "cached_speed",
    "measure_speed",
    "parse_latency",
    "profile",
    "resolve_device",
    "scale_to_speed",
]
