"""netscale.training.model_recipe: a named recipe fitted to the registered model it trains."""

import json

import pytest

from netscale.cli.main import main
from netscale.data import load_data
from netscale.families import get_spec
from netscale.families.registry import model_info
from netscale.training.model_recipe import (
    DEFAULT_SOURCE,
    FitRequest,
    explain_recipe,
    fit_recipe,
    spec_and_recipe,
)
from netscale.training.recipe import load_recipe, recipe_sources

TABLE_6 = {  # EfficientNetV2 Table 6: (px, RandAugment, mixup, dropout), min -> max
    "s": ((128, 300), (5, 15), (0, 0), (0.1, 0.3)),
    "m": ((128, 380), (5, 20), (0, 0.2), (0.1, 0.4)),
    "l": ((128, 380), (5, 25), (0, 0.4), (0.1, 0.5)),
}


@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_recipe_show_gives_table_6_per_model(size, capsys):
    assert main(["recipe", "show", "efficientnet_v2", "--model", f"efficientnet_v2_{size}",
                 "--json"]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    stages = shown["stages"]
    (px, ra, mix, dropout) = TABLE_6[size]
    first, last = stages[0], stages[-1]
    assert (first["resolution"], last["resolution"]) == px
    assert (first["randaug_magnitude"], last["randaug_magnitude"]) == ra
    assert (first["mixup_alpha"], last["mixup_alpha"]) == pytest.approx(mix)
    assert (first["dropout_rate"], last["dropout_rate"]) == pytest.approx(dropout)
    assert shown["values"]["randaug_magnitude"]["source"] == "EfficientNetV2 Table 6"
    assert len(stages) == 4 and stages[-1]["epochs"] == [262, 350]


def test_code_preset_and_models_without_table_6():
    code = load_recipe("efficientnet_v2", progressive="code")
    b0 = fit_recipe(code, model_info("efficientnet_v2_b0"), resolution=192).recipe
    # the released code: b0 trains 128 -> 192 px, AutoAugment (not in netscale): no RA
    assert (b0.min_resolution, b0.randaug_layers, b0.mixup_alpha) == (128, 0, 0.0)
    assert b0.min_dropout_rate == b0.dropout_rate == 0.2  # held at the model's
    m = fit_recipe(code, model_info("efficientnet_v2_m"), resolution=384).recipe
    assert (m.randaug_magnitude, m.mixup_alpha, m.cutmix_alpha) == (15, 0.2, 0.2)
    paper = load_recipe("efficientnet_v2")  # b0 has no Table 6 row: the recipe's ranges
    fitted = fit_recipe(paper, model_info("efficientnet_v2_b0"), resolution=192)
    assert fitted.recipe.randaug_magnitude == paper.randaug_magnitude == 15
    assert fitted.recipe.min_resolution == 128


def test_min_resolution_scales_to_small_images():
    recipe = load_recipe("efficientnet_v2")
    at_32 = fit_recipe(recipe, model_info("efficientnet_v2_s"), resolution=32).recipe
    assert at_32.min_resolution == 12 and at_32.resolution is None  # 128 * 32 / 300 = 13.7
    rule = fit_recipe(recipe, None, resolution=32)  # no preset: V2-S's ratio, with a note
    assert rule.recipe.min_resolution == 12 and "128/300" in rule.notes[0]


def test_resnet_rs_values_per_model_and_the_user_wins():
    recipe = load_recipe("resnet_rs")
    rs50 = fit_recipe(recipe, model_info("resnet_rs_50"), resolution=160)
    rs101 = fit_recipe(recipe, model_info("resnet_rs_101"), resolution=192)
    assert (rs50.recipe.randaug_magnitude, rs101.recipe.randaug_magnitude) == (10, 15)
    assert rs101.sources["randaug_magnitude"] == "official config resnetrs101_i192.yaml"
    assert recipe.dropout_rate is None  # each model's head dropout comes with its spec
    assert get_spec("resnet_rs_420").head.dropout_rate == 0.4
    mine = fit_recipe(
        load_recipe("resnet_rs", randaug_magnitude=7.0),
        model_info("resnet_rs_101"),
        resolution=192,
        fixed={"randaug_magnitude"},
    )
    assert mine.recipe.randaug_magnitude == 7.0
    assert mine.sources["randaug_magnitude"] == "set by the user"


def test_test_resolution_and_eval_crop_go_with_the_random_resized_crop():
    v2s = model_info("efficientnet_v2_s")
    resized = fit_recipe(load_recipe("efficientnet_v2"), v2s, resolution=300).recipe
    assert (resized.eval_resolution, resized.eval_crop_fraction) == (384, 1.0)
    b0 = fit_recipe(load_recipe("efficientnet"), model_info("efficientnet_b7"), resolution=600)
    assert b0.recipe.eval_crop_fraction == pytest.approx(600 / 632, abs=1e-4)
    padded = load_recipe("efficientnet_v2", crop="pad", crop_padding=4)
    small = fit_recipe(padded, v2s, resolution=32, fixed={"crop", "crop_padding"}).recipe
    assert small.eval_resolution is None and small.eval_crop_fraction == 0.875  # the file's


def test_sources_name_the_paper_the_file_or_netscale():
    sources = fit_recipe(
        load_recipe("efficientnet_v2"),
        model_info("efficientnet_v2_s"),
        resolution=300,
        file_sources=recipe_sources("efficientnet_v2"),
    ).sources
    assert sources["crop_min_scale"].startswith("google/automl")
    assert sources["channels_last"] == DEFAULT_SOURCE
    assert sources["momentum"] == "Tan & Le 2021, EfficientNetV2, sec. 4.2, Table 6"  # file's


def test_a_run_fits_named_recipes_and_takes_recipe_objects_as_they_are():
    data = load_data("digits")
    recipe = load_recipe("efficientnet_v2", resolution=32)
    request = FitRequest(frozenset({"resolution"}), recipe_sources("efficientnet_v2"))
    spec, fitted, _ = spec_and_recipe("efficientnet_v2_s", data, recipe, request)
    assert spec.resolution == 32 and fitted.min_resolution == 12
    assert spec.head.dropout_rate == 0.3  # Table 6's maximum dropout for S
    _, same, _ = spec_and_recipe("efficientnet_v2_s", data, recipe, None)
    assert same is recipe


def test_recipe_list_and_errors(capsys):
    assert main(["recipe", "list"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_v2" in out and "coatnet" in out
    assert main(["recipe", "show", "quick", "--epochs", "0"]) == 2
    assert "--epochs 0 is invalid" in capsys.readouterr().err
    assert main(["recipe", "show", "nope"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def test_explain_without_a_model_and_at_another_resolution():
    shown = explain_recipe("efficientnet_v2", "efficientnet_v2_s", epochs=8, resolution=64)
    assert shown["values"]["epochs"] == {"value": 8, "source": "set by the user"}
    assert [s["resolution"] for s in shown["stages"]][::3] == [24, 64]  # 128 * 64 / 300
    plain = explain_recipe("quick")
    assert plain["model"] is None and len(plain["stages"]) == 1
