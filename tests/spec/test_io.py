"""JSON/YAML round trip, strict keys, schema version, content hash, atomic files."""

import json

import pytest

import netscale
from netscale.spec import SpecError, dumps, from_dict, load, loads, save, spec_id, to_dict


@pytest.mark.parametrize("name", netscale.list_models())
def test_round_trip_every_registered_model(name):
    spec = netscale.get_spec(name)
    assert from_dict(to_dict(spec)) == spec
    assert from_dict(json.loads(json.dumps(to_dict(spec)))) == spec
    assert loads(dumps(spec, "yaml")) == spec
    assert loads(dumps(spec, "json")) == spec
    assert spec_id(loads(dumps(spec))) == spec_id(spec)


def test_spec_ids_differ_between_models_and_ignore_the_name():
    ids = {spec_id(netscale.get_spec(n)) for n in netscale.list_models()}
    assert len(ids) == len(netscale.list_models())
    spec = netscale.get_spec("resnet_50")
    assert spec_id(netscale.get_spec("resnet_50", name="mine")) == spec_id(spec)
    assert spec_id(netscale.get_spec("resnet_50", resolution=256)) != spec_id(spec)
    assert len(spec_id(spec)) == 12


def test_unknown_keys_are_errors_with_their_path():
    data = to_dict(netscale.get_spec("resnet_18"))
    data["stages"][1]["widht"] = 3
    with pytest.raises(SpecError, match=r"unknown key 'stages\[1\]\.widht'; allowed keys: block"):
        from_dict(data)
    data = to_dict(netscale.get_spec("resnet_18"))
    data["stem"]["colour"] = 1
    with pytest.raises(SpecError, match=r"'stem\.colour'"):
        from_dict(data)
    data = to_dict(netscale.get_spec("resnet_18"))
    data["optimizer"] = "sgd"
    with pytest.raises(SpecError, match="unknown key 'optimizer'"):
        from_dict(data)


def test_yaml_with_unknown_key_names_it():
    text = dumps(netscale.get_spec("regnet_x_200mf")).replace("kernel: 3", "kernal: 3", 1)
    with pytest.raises(SpecError, match="kernal"):
        loads(text)


def test_missing_required_key_and_bad_types():
    data = to_dict(netscale.get_spec("resnet_18"))
    del data["stages"][0]["width"]
    with pytest.raises(SpecError, match=r"missing required key 'stages\[0\]\.width'"):
        from_dict(data)
    with pytest.raises(SpecError, match="stages must be a list"):
        from_dict({"stages": 3})
    with pytest.raises(SpecError, match="must be a mapping"):
        loads("- 1\n- 2\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        loads("stages: [\n")


def test_schema_version_is_checked():
    data = to_dict(netscale.get_spec("resnet_18"))
    assert data["schema"] == 1
    data["schema"] = 99
    with pytest.raises(SpecError, match="schema=99"):
        from_dict(data)


def test_save_and_load_files(tmp_path):
    spec = netscale.get_spec("regnet_y_200mf")
    for suffix in (".yaml", ".yml", ".json"):
        path = save(spec, tmp_path / f"spec{suffix}")
        assert load(path) == spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json", "spec.yaml", "spec.yml"]
    with pytest.raises(ValueError, match=r"unknown extension '\.txt'; allowed: \.yaml"):
        save(spec, tmp_path / "spec.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "absent.yaml")


def test_load_error_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(dumps(netscale.get_spec("resnet_18")).replace("stride: 2", "stride: 3", 1))
    with pytest.raises(SpecError, match=r"bad\.yaml: stem\.stride=3"):
        load(path)
