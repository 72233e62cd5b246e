"""Analytic complexity (multiply-adds, params, activations) from a spec alone. No torch."""

from netscale.complexity.count import Complexity, PartComplexity, count

__all__ = ["Complexity", "PartComplexity", "count"]
