"""Model families as tables of configs registered by name. No torch."""

from netscale.families import regnet, resnet  # noqa: F401  (registers the models)
from netscale.families.registry import (
    ModelInfo,
    Reference,
    UnknownModelError,
    get_spec,
    list_models,
    model_info,
    register,
)

__all__ = [
    "ModelInfo",
    "Reference",
    "UnknownModelError",
    "get_spec",
    "list_models",
    "model_info",
    "register",
]
