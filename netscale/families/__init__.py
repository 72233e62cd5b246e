"""Model families as tables of configs registered by name. No torch."""

from netscale.families import (  # noqa: F401  (importing a family registers its models)
    coatnet,
    convnext,
    efficientnet,
    regnet,
    resnet,
)
from netscale.families.registry import (
    ModelInfo,
    ProgressiveLearning,
    Reference,
    UnknownModelError,
    get_spec,
    list_models,
    model_info,
    register,
)
from netscale.families.resolve import model_card, resolve_spec

__all__ = [
    "ModelInfo",
    "ProgressiveLearning",
    "Reference",
    "UnknownModelError",
    "get_spec",
    "list_models",
    "model_card",
    "model_info",
    "register",
    "resolve_spec",
]
