"""Recipes: every shipped one loads; bad keys and values get clear errors."""

import pytest

from netscale.training.recipe import RecipeError, load_recipe, recipe_names


def test_shipped_recipes():
    assert recipe_names() == sorted(
        ["quick", "regnet", "resnet_rs", "efficientnet", "efficientnet_v2", "convnext"]
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
    with pytest.raises(RecipeError, match="unknown recipe 'fastest'; allowed: convnext"):
        load_recipe("fastest")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_recipe(str(tmp_path / "absent.yaml"))
