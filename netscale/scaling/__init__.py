"""Scaling rules: pure functions NetSpec -> NetSpec (no torch)."""

from netscale.scaling.basic import depth, resolution, round_width, width

__all__ = ["depth", "resolution", "round_width", "width"]
