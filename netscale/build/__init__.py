"""Spec -> torch module, and weight import from timm/torchvision checkpoints."""

from netscale.build.builder import Net, build
from netscale.build.weights import WeightImportError, import_weights, load_checkpoint

__all__ = ["Net", "WeightImportError", "build", "import_weights", "load_checkpoint"]
