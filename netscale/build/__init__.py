"""Spec -> torch module, weight import from timm/torchvision checkpoints, and the
data-dependent init of a whitening stem."""

from netscale.build.builder import Net, build
from netscale.build.weights import WeightImportError, import_weights, load_checkpoint
from netscale.build.whiten import init_whitening

__all__ = [
    "Net",
    "WeightImportError",
    "build",
    "import_weights",
    "init_whitening",
    "load_checkpoint",
]
