"""`netscale scale`: cards of scaled specs, JSON, --out, one-line errors with exit code 2."""

import json

import pytest

import netscale
from netscale.cli.main import main
from netscale.scaling import scale, scale_to
from netscale.spec import load


def run(capsys, *argv):
    code = main(["scale", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_phi_prints_the_card(capsys):
    code, out, err = run(capsys, "resnet_50", "--phi", "2")
    assert code == 0 and err == ""
    first, _, card = out.partition("\n\n")
    assert first.startswith("resnet_50 -> resnet_50_phi2 by phi 2: ") and "x the base's" in first
    assert card.startswith("resnet_50_phi2  spec_id ") and "at 296x296 px" in card


def test_explicit_factors_match_the_library(capsys):
    code, out, _ = run(
        capsys, "resnet_50", "--width", "1.4", "--depth", "1.8", "--resolution", "380", "--json"
    )
    assert code == 0
    card = json.loads(out)
    spec = scale(netscale.get_spec("resnet_50"), width_mult=1.4, depth_mult=1.8, resolution=380)
    assert card["name"] == spec.name == "resnet_50_w1_4_d1_8_r380"
    assert card["spec_id"] == netscale.spec_id(spec)
    assert card["scaling"] == {
        "base": "resnet_50",
        "width": 1.4,
        "depth": 1.8,
        "resolution": 380,
        "name": spec.name,
    }


def test_rule_and_target_json_matches_scale_to(capsys, tmp_path):
    out_path = tmp_path / "scaled.yaml"
    argv = ["resnet_50", "--rule", "resnet-rs", "--regime", "long", "--target-flops", "16G"]
    code, out, _ = run(capsys, *argv, "--json", "--out", str(out_path))
    assert code == 0
    card = json.loads(out)
    result = scale_to(netscale.get_spec("resnet_50"), "resnet_rs", 16e9, regime="long")
    assert card["complexity"]["flops"] == result.flops
    assert card["scaling"]["rule"] == "resnet_rs"
    assert card["scaling"]["options"] == {"regime": "long"}
    assert abs(card["scaling"]["error"]) <= 0.05
    assert load(out_path) == result.spec and result.spec.name == "resnet_50_resnet_rs_long_16gf"


def test_target_defaults_to_compound_and_text_reports_the_miss(capsys, tmp_path):
    spec_path = netscale.spec.save(netscale.get_spec("regnet_y_400mf"), tmp_path / "base.yaml")
    code, out, _ = run(
        capsys, str(spec_path), "--target-flops", "1.6g", "--out", str(tmp_path / "x.json")
    )
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith(
        "regnet_y_400mf -> regnet_y_400mf_compound_1_6gf by rule compound (phi "
    )
    assert "target 1.600 G, got 1.602 G (+0.1%)" in first
    assert out.rstrip().endswith(f"saved to {tmp_path / 'x.json'}")
    assert load(tmp_path / "x.json").name == "regnet_y_400mf_compound_1_6gf"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resnet_50", "--phi", "-1"], "phi=-1.0 is invalid: expected a finite number >= 0"),
        (["resnet_50", "--width", "0"], "width mult=0.0 is invalid"),
        (["resnet_50", "--rule", "foo", "--target-flops", "4G"], "allowed: compound, compound_v2"),
        (["resnet_50", "--target-flops", "1G"], "below the base's 4.089e+09 multiply-adds"),
        (["resnet_50", "--target-flops", "4X"], "target_flops='4X' is invalid"),
        (["resnet_50", "--phi", "1", "--width", "2"], "phi=1.0 is invalid together with width"),
        (["resnet_50", "--phi", "1", "--target-flops", "8G"], "--phi cannot be combined"),
        (["resnet_50", "--rule", "width"], "--rule and --regime need --target-flops"),
        (["resnet_50", "--regime", "long", "--target-flops", "8G"], "option 'regime' is invalid"),
        (["resnet_50"], "nothing to scale: give --phi"),
        (["resnet_50", "--phi", "1", "--out", "x.txt"], "unknown extension '.txt'"),
        (["resnet_5", "--phi", "1"], "did you mean resnet_50"),
        (["resnet_50", "--regime", "medium"], "invalid choice: 'medium'"),
    ],
)
def test_errors_are_one_line(capsys, argv, message):
    try:
        code, out, err = run(capsys, *argv)
    except SystemExit as exc:  # argparse-level errors exit from the parser
        code, (out, err) = exc.code, capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
