"""netscale: design, scale and train efficient image classifiers from one spec language."""

from netscale.api import (
    complexity,
    create_model,
    export,
    import_weights,
    optimize_for_inference,
    predict,
    profile,
    resolve_spec,
    scale_to_speed,
    train,
)
from netscale.complexity import Complexity
from netscale.families import ModelInfo, get_spec, list_models, model_info
from netscale.spec import HeadSpec, NetSpec, SpecError, StageSpec, StemSpec, spec_id
from netscale.version import __version__

__all__ = [
    "Complexity",
    "HeadSpec",
    "ModelInfo",
    "NetSpec",
    "SpecError",
    "StageSpec",
    "StemSpec",
    "__version__",
    "complexity",
    "create_model",
    "export",
    "get_spec",
    "import_weights",
    "list_models",
    "model_info",
    "optimize_for_inference",
    "predict",
    "profile",
    "resolve_spec",
    "scale_to_speed",
    "spec_id",
    "train",
]
