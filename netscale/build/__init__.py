"""Spec -> torch module, and weight import from timm/torchvision checkpoints."""

from netscale.build.builder import Net, build

__all__ = ["Net", "build"]
