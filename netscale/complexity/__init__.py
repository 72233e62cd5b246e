"""Analytic complexity (multiply-adds, params, activations) from a spec alone. No torch."""

from netscale.complexity.count import Complexity, PartComplexity, count, se_width

__all__ = ["Complexity", "PartComplexity", "count", "se_width"]
