"""Recipes: every shipped one loads; bad keys and values get clear errors."""

import re
from pathlib import Path

import pytest

from netscale.training.recipe import RecipeError, load_recipe, recipe_names


def test_shipped_recipes():
    assert recipe_names() == sorted(
        [
            "quick",
            "regnet",
            "resnet_rs",
            "efficientnet",
            "efficientnet_v2",
            "convnext",
            "coatnet",
            "fast_cifar",
        ]
    )
    for name in recipe_names():
        recipe = load_recipe(name)
        assert recipe.name == name and recipe.source


def test_linear_lr_scaling():
    r = load_recipe("resnet_rs")  # 0.1 per 256 images, batch 4096
    assert r.scaled_lr() == pytest.approx(1.6)
    assert load_recipe("resnet_rs", batch_size=512).scaled_lr() == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"learning_rate": 0.1}, "unknown recipe key 'learning_rate'"),
        ({"optimizer": "adam"}, "optimizer='adam' is invalid; allowed: sgd, rmsprop, adamw"),
        ({"lr": -1.0}, "lr=-1.0 is invalid: must be > 0"),
        ({"epochs": 0}, "epochs=0 is invalid"),
        ({"epochs": 2.5}, "epochs=2.5 is invalid: expected int"),
        ({"label_smoothing": 1.0}, "label_smoothing=1.0 is invalid"),
        ({"progressive": "fast"}, "progressive='fast' is invalid"),
        ({"flip": "yes"}, "flip='yes' is invalid: expected bool"),
        ({"lr": float("inf")}, "lr=inf is invalid: must be a finite number"),
        ({"lr": float("nan")}, "lr=nan is invalid: must be a finite number"),
        ({"weight_decay": float("inf")}, "weight_decay=inf is invalid: must be a finite"),
        ({"warmup_epochs": float("nan")}, "warmup_epochs=nan is invalid: must be a finite"),
        ({"dropout_rate": float("nan")}, "dropout_rate=nan is invalid: must be a finite"),
        ({"grad_clip": float("-inf")}, "grad_clip=-inf is invalid: must be a finite"),
    ],
)
def test_bad_values_are_named(override, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_recipe("quick", **override)


def test_suggests_close_key():
    with pytest.raises(RecipeError, match="did you mean 'weight_decay'"):
        load_recipe("quick", weight_decy=0.1)


def test_files(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nepochs: 3\nweight_decay: 1e-4\n")
    assert load_recipe(str(path)).weight_decay == 1e-4
    path.write_text("epochs: 3\nmomentom: 0.9\n")
    with pytest.raises(RecipeError, match="unknown recipe key 'momentom'"):
        load_recipe(str(path))
    with pytest.raises(RecipeError, match="unknown recipe 'fastest'; allowed: coatnet, convnext"):
        load_recipe("fastest")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_recipe(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize("text", ["lr: .inf\n", "lr: .nan\n", "decay_epochs: -.inf\n"])
def test_non_finite_float_in_a_file_names_the_file(tmp_path, text):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    field = text.split(":")[0]
    with pytest.raises(RecipeError, match=rf"mine\.yaml: {field}=.* must be a finite number"):
        load_recipe(str(path))
    assert load_recipe(str(path), **{field: 1.0}).lr > 0  # a valid override replaces it


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (bytes(range(256)) * 4, r"not UTF-8 text \(byte 0x80 at offset 128\)"),
        (bytes(range(32)), r"unacceptable character #x0000"),
        (b"lr: [0.1\nepochs: 3\n", r"expected ',' or '\]', but got ':' at line 2"),
        (b"", r"the file is empty"),
        (b"- lr: 0.1\n", r"the top level is a list"),
        (b"just words\n", r"the top level is a str"),
    ],
)
def test_bad_yaml_file_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(RecipeError) as err:
        load_recipe(str(path))
    message = str(err.value)
    assert message.startswith(f"recipe file {path}: not a valid YAML mapping: ")
    assert "\n" not in message
    assert re.search(problem, message), message


def test_non_string_keys_are_unknown_keys(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("1: 2\nfoo: 3\n")
    with pytest.raises(RecipeError, match=r"keys\.yaml: unknown recipe key 1;"):
        load_recipe(str(path))


def test_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch):
    path = tmp_path / "locked.yaml"
    path.write_text("epochs: 3\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(RecipeError, match=r"locked\.yaml cannot be read \(Permission denied\)"):
        load_recipe(str(path))
