"""The one resolver of name | spec file | NetSpec, and the model card."""

import pytest

from netscale.families import get_spec, model_card, resolve_spec
from netscale.families.registry import UnknownModelError
from netscale.spec import save, spec_id


def test_name_file_and_spec_resolve_to_the_same_spec(tmp_path):
    spec = get_spec("resnet_18")
    path = save(spec, tmp_path / "r18.yaml")
    assert resolve_spec("resnet_18") == resolve_spec(path) == resolve_spec(str(path)) == spec
    assert resolve_spec(spec, num_classes=10).head.num_classes == 10
    assert resolve_spec(path, resolution=64).resolution == 64


def test_bad_models_are_named():
    with pytest.raises(UnknownModelError, match="resnet_5"):
        resolve_spec("resnet_5")
    with pytest.raises(TypeError, match="got int"):
        resolve_spec(3)
    with pytest.raises(FileNotFoundError):
        resolve_spec("missing.yaml")


def test_model_card_holds_registry_facts_only_for_the_registered_architecture():
    card = model_card("regnet_y_400mf")
    assert card["info"] is not None and card["spec_id"] == spec_id(get_spec("regnet_y_400mf"))
    assert card["complexity"]["flops"] > 0
    changed = resolve_spec("regnet_y_400mf", num_classes=10)
    assert model_card(changed)["info"] is None
