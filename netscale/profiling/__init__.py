"""Measured speed and memory on a device (`profile`), and the FLOPs/activations/params
versus runtime study of a design space (`correlation_study`)."""

from netscale.profiling.correlation import StudyResult, correlation_study, write_study
from netscale.profiling.device import resolve_device
from netscale.profiling.measure import MODES, PRECISIONS, ProfileResult, profile

__all__ = [
    "MODES",
    "PRECISIONS",
    "ProfileResult",
    "StudyResult",
    "correlation_study",
    "profile",
    "resolve_device",
    "write_study",
]
