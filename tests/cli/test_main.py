"""The CLI: output, JSON, spec files, one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

import netscale
from netscale.cli.main import main
from netscale.spec import save


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    for name in netscale.list_models():
        assert f"\n{name} " in out
    code, out, _ = run(capsys, "models", "list", "resnet_rs_*")
    assert "resnet_rs_50" in out and "regnet" not in out and "7 models" in out


def test_show_card(capsys):
    code, out, _ = run(capsys, "models", "show", "regnet_y_400mf")
    assert code == 0
    assert "stage4  bottleneck" in out and "440" in out
    assert "params 4,344,144 (4.34 M)" in out
    assert "flops 401,849,056 multiply-adds (0.402 G)" in out
    assert "timm regnety_004, torchvision regnet_y_400mf" in out


def test_show_json_matches_library(capsys):
    code, out, _ = run(capsys, "models", "show", "resnet_rs_50", "--resolution", "224", "--json")
    assert code == 0
    card = json.loads(out)
    cx = netscale.complexity("resnet_rs_50", 224)
    assert card["complexity"]["flops"] == cx.flops and card["complexity"]["resolution"] == 224
    assert card["spec_id"] == netscale.spec_id(netscale.get_spec("resnet_rs_50"))
    assert card["info"]["timm"] == "resnetrs50"


def test_show_spec_file(capsys, tmp_path):
    spec = netscale.get_spec("regnet_x_200mf", name="my_net", resolution=64)
    path = save(spec, tmp_path / "net.yaml")
    code, out, _ = run(capsys, "models", "show", str(path))
    assert code == 0 and out.startswith("my_net") and "at 64x64 px" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "show", "regnet_y_40mf"], "did you mean regnet_y_400mf"),
        (["models", "show", "resnet_50", "--resolution", "8"], "resolution=8 is invalid"),
        (["models", "show", "absent.yaml"], "does not exist"),
        (["models", "list", "vgg*"], "no registered model matches 'vgg*'"),
    ],
)
def test_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("netscale: error:")


def test_bad_spec_file_names_the_field(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        netscale.spec.dumps(netscale.get_spec("resnet_18")).replace("depth: 2", "depth: 0", 1)
    )
    code, _, err = run(capsys, "models", "show", str(path))
    assert code == 2 and "stages[0].depth=0" in err


def test_usage_errors_exit_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "netscale.cli.main", "models", "shw"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid choice: 'shw'" in proc.stderr
    assert "Traceback" not in proc.stderr
