"""JSON/YAML round trip, strict keys, schema version, content hash, atomic files."""

import json
import re

import pytest

import netscale
from netscale.spec import SpecError, dumps, from_dict, load, loads, save, spec_id, to_dict
from netscale.spec.io import yaml_load


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
    with pytest.raises(
        SpecError,
        match=r"unknown key 'stages\[1\]\.widht' \(did you mean 'width'\?\); allowed keys: block",
    ):
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


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (bytes(range(256)) * 4, r"not UTF-8 text \(byte 0x80 at offset 128\)"),
        (bytes(range(32)), r"unacceptable character #x0000"),
        (b'{"name": "x", "stages": [}', r"expected the node content, but found '}' at line 1"),
        (b"", r"the file is empty"),
        (b"[1, 2]", r"the top level is a list \(\[1, 2\]\), expected a mapping"),
    ],
)
def test_bad_spec_file_names_the_file_and_the_problem(tmp_path, suffix, content, problem):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(SpecError) as err:
        load(path)
    message = str(err.value)
    kind = "JSON" if suffix == ".json" else "YAML"
    assert message.startswith(f"spec file {path}: not a valid {kind} mapping: "), message
    assert "\n" not in message
    assert re.search(problem, message), message


def test_loads_error_is_one_line():
    with pytest.raises(SpecError) as err:
        loads("name: x\nstem: [1\n")
    assert str(err.value) == (
        "not valid YAML/JSON: expected ',' or ']', but got '<stream end>' at line 3, column 1"
    )


def test_non_string_nested_keys_are_unknown_keys():
    data = to_dict(netscale.get_spec("resnet_18"))
    data["stem"] = {**data["stem"], 1: 2, "bogus": 3}
    with pytest.raises(SpecError, match=r"unknown key 'stem\.1'"):
        from_dict(data)


def test_strict_json_and_leaf_differences():
    from netscale.spec.io import differences, finite, json_text

    data = {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": 2}}
    assert finite(data) == {"a": None, "b": [1.0, None], "c": {"d": 2}}
    assert json_text(data) == '{"a": null, "b": [1.0, null], "c": {"d": 2}}'
    saved, current = {"x": {"y": 1, "z": [1, 2]}, "old": 0}, {"x": {"y": 2, "z": [1, 3]}}
    assert differences(saved, current) == [("old", 0, None), ("x.y", 1, 2), ("x.z[1]", 2, 3)]
    assert differences(saved, current, only_common=True) == [("x.y", 1, 2), ("x.z[1]", 2, 3)]


# spec_ids at commit 450be1e, before head.pool / head.logit_scale existed (computed there
# with `spec_id(netscale.get_spec(name))`): study ledgers and run directories store them.
IDS_BEFORE_HEAD_POOL = {
    "resnet_50": "2ae3e2eb91c2",
    "regnet_y_200mf": "01ded877da45",
    "efficientnet_b0": "84e04d46c4f7",
    "convnext_atto": "6bb33315d1e4",
    "coatnet_0": "711b4389bf54",
}


@pytest.mark.parametrize(("name", "before"), IDS_BEFORE_HEAD_POOL.items())
def test_spec_ids_of_existing_models_are_unchanged(name, before):
    assert spec_id(netscale.get_spec(name)) == before


def test_later_head_fields_are_written_only_when_set():
    spec = netscale.get_spec("resnet_18")
    data = to_dict(spec)
    assert "pool" not in data["head"] and "logit_scale" not in data["head"]
    assert yaml_load(dumps(spec))["head"] == data["head"]  # files as before
    # an explicit default reads back as the same spec, with the same id
    explicit = {**data, "head": {**data["head"], "pool": "avg", "logit_scale": 1.0}}
    assert from_dict(explicit) == spec and spec_id(from_dict(explicit)) == spec_id(spec)
    changed = netscale.get_spec("resnet_18", pool="max", logit_scale=0.5)
    assert to_dict(changed)["head"] == {**data["head"], "pool": "max", "logit_scale": 0.5}
    assert spec_id(changed) != spec_id(spec)
    assert spec_id(netscale.get_spec("resnet_18", pool="max")) != spec_id(changed)


def test_airbench94_round_trip(airbench94, tmp_path):
    assert from_dict(to_dict(airbench94)) == airbench94
    assert loads(dumps(airbench94, "yaml")) == airbench94
    assert loads(dumps(airbench94, "json")) == airbench94
    head = to_dict(airbench94)["head"]
    assert (head["pool"], head["logit_scale"]) == ("max", 0.1111111111111111)
    assert load(save(airbench94, tmp_path / "a.yaml")) == airbench94
    assert spec_id(load(tmp_path / "a.yaml")) == spec_id(airbench94)
