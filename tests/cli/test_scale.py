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


# --- scaling to a measured speed (netscale.profiling.scale_to_speed, a fake measure) ---


def _fake_latency(spec, batch=1):
    from netscale.complexity import count

    return 1e-3 + 2e-11 * count(spec).flops * batch


@pytest.fixture
def fake_measure(monkeypatch, tmp_path):
    """profile() replaced by latency = 1 ms + 20 ps per multiply-add x batch; its own cache."""
    from netscale.profiling import speed
    from netscale.profiling.speed_cache import Measurement

    monkeypatch.setenv("NETSCALE_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake(spec, *, device, batch, mode, precision, channels_last):
        calls.append((spec, device, batch, mode, precision, channels_last))
        lat = _fake_latency(spec, batch)
        return Measurement(lat, batch / lat)

    monkeypatch.setattr(speed, "measure_speed", fake)
    return calls


def test_target_latency_prints_target_achieved_device_and_measurements(capsys, fake_measure):
    code, out, err = run(capsys, "resnet_18", "--rule", "width", "--target-latency", "100ms")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("resnet_18 -> resnet_18_width_100ms_cpu by rule width (width mult ")
    assert (
        lines[1] == "target:       latency 100 ms at batch 1 (infer, fp32, channels_last, 224 px)"
    )
    assert lines[2].startswith("achieved:     ") and "re-measured" in lines[2]
    assert "within the 10% tolerance" in lines[2]
    assert lines[3].startswith("device:       cpu (") and "threads=" in lines[3]
    taken = len(fake_measure)
    assert lines[4].startswith(f"measurements: {taken} taken, 0 from the cache (")
    assert lines[5] == "" and lines[6].startswith("resnet_18_width_100ms_cpu  spec_id ")
    code, out, _ = run(capsys, "resnet_18", "--rule", "width", "--target-latency", "0.1s")
    assert code == 0 and len(fake_measure) == taken  # the same search: all from the cache
    assert f"measurements: 0 taken, {taken} from the cache" in out


def test_target_throughput_json_and_out(capsys, fake_measure, tmp_path):
    from netscale.profiling.speed import scale_to_speed

    out_path = tmp_path / "fast.yaml"
    base_ips = 8 / _fake_latency(netscale.get_spec("resnet_50"), 8)
    argv = [
        "resnet_50",
        "--rule",
        "resnet_rs",
        "--regime",
        "long",
        "--target-throughput",
        str(base_ips / 3),
        "--mode",
        "train",
        "--batch",
        "8",
        "--precision",
        "bf16",
        "--no-channels-last",
        "--json",
        "--out",
        str(out_path),
    ]
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    card = json.loads(out)
    scaling = card["scaling"]
    assert scaling["base"] == "resnet_50" and scaling["metric"] == "throughput"
    assert scaling["target"] == pytest.approx(base_ips / 3) and scaling["within_tolerance"]
    assert (
        scaling["achieved"] > 0 and scaling["miss"] == scaling["achieved"] / scaling["target"] - 1
    )
    assert (scaling["batch"], scaling["mode"], scaling["precision"]) == (8, "train", "bf16")
    assert scaling["channels_last"] is False and scaling["device"] == "cpu"
    assert scaling["taken"] == len(fake_measure) and scaling["cached"] == 0
    assert len(scaling["measurements"]) == len(fake_measure) - 1
    assert fake_measure[0][1:] == ("cpu", 8, "train", "bf16", False)
    assert load(out_path).name == card["name"] == scaling["name"]
    same = scale_to_speed(
        netscale.get_spec("resnet_50"),
        "resnet_rs",
        regime="long",
        batch=8,
        target_throughput=base_ips / 3,
        mode="train",
        precision="bf16",
        channels_last=False,
    )
    assert load(out_path) == same.spec


def test_a_miss_beyond_the_tolerance_exits_1_and_saves_nothing(capsys, fake_measure, tmp_path):
    out_path = tmp_path / "x.yaml"
    argv = ["resnet_18", "--rule", "width", "--target-latency", "100ms", "--tolerance", "0.001"]
    code, out, err = run(capsys, *argv, "--out", str(out_path))
    assert code == 1 and not out_path.exists()
    assert err.count("\n") == 1 and err.startswith("netscale: error: the re-measured latency ")
    assert "beyond the 0% tolerance; the two adjacent specs measured " in err
    assert "nothing saved" in err
    assert "achieved:" in out and "beyond the 0% tolerance" in out  # the card still printed
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 1 and json.loads(out)["scaling"]["within_tolerance"] is False


def test_a_device_that_changes_speed_between_measurements_is_named(capsys, monkeypatch, tmp_path):
    """The re-measurement of the chosen spec is 1.5x its first measurement: the error says
    the device's speed itself varied, not only that the target was missed."""
    from netscale.profiling import speed
    from netscale.profiling.speed_cache import Measurement

    monkeypatch.setenv("NETSCALE_CACHE", str(tmp_path / "cache"))
    seen = set()

    def drifting(spec, *, device, batch, mode, precision, channels_last):
        sid = netscale.spec_id(spec)
        lat = _fake_latency(spec, batch) * (1.5 if sid in seen else 1.0)
        seen.add(sid)
        return Measurement(lat, batch / lat)

    monkeypatch.setattr(speed, "measure_speed", drifting)
    code, _, err = run(capsys, "resnet_18", "--rule", "width", "--target-latency", "100ms")
    assert code == 1 and err.count("\n") == 1
    assert "misses the target 100 ms by +" in err
    assert "during the search, so this device's speed itself varied" in err


def test_a_corrupt_speed_cache_is_one_warning_line(capsys, fake_measure, tmp_path):
    cache = tmp_path / "cache" / "speed.json"
    cache.parent.mkdir()
    cache.write_text("{not json")
    code, out, err = run(capsys, "resnet_18", "--rule", "width", "--target-latency", "100ms")
    assert code == 0 and out
    assert err.startswith("netscale: warning: ignoring the speed cache ") and err.count("\n") == 1
    assert json.loads(cache.read_text())["entries"]


def test_fresh_measures_again(capsys, fake_measure):
    argv = ["resnet_18", "--rule", "width", "--target-latency", "100ms"]
    run(capsys, *argv)
    first = len(fake_measure)
    code, out, _ = run(capsys, *argv, "--fresh")
    assert code == 0 and len(fake_measure) == 2 * first
    assert f"measurements: {first} taken, 0 from the cache" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target-latency", "20 parsecs"], "target_latency='20 parsecs' is invalid: expected a "
         "duration > 0 with a unit, us, ms or s (e.g. 20ms, 0.02s, 500us)"),
        (["--target-latency", "20"], "target_latency='20' is invalid"),
        (["--target-latency", "100ms", "--target-flops", "4G"],
         "--target-latency cannot be combined with --target-flops: give one target"),
        (["--target-latency", "100ms", "--target-throughput", "5"],
         "--target-latency and --target-throughput are exclusive"),
        (["--target-throughput", "0"], "target_throughput='0' is invalid: expected images/s, a "
         "number > 0"),
        (["--target-throughput", "-5"], "target_throughput='-5' is invalid"),
        (["--target-throughput", "5", "--mode", "fly"], "argument --mode: invalid choice: 'fly'"),
        (["--target-latency", "5ms", "--mode", "train"], "mode='train' is invalid for a latency "
         "target; allowed: infer"),
        (["--target-latency", "5ms", "--batch", "0"], "batch=0 is invalid"),
        (["--target-latency", "5ms", "--device", "tpu"], "device='tpu' is invalid"),
        (["--target-latency", "5ms", "--phi", "1"], "--phi cannot be combined with "
         "--target-latency; use --rule"),
        (["--target-flops", "8G", "--batch", "4"], "--batch needs --target-latency or "
         "--target-throughput"),
        (["--phi", "1", "--fresh"], "--fresh needs --target-latency or --target-throughput"),
        (["--rule", "mobilenet", "--target-latency", "5ms"], "rule='mobilenet' is invalid"),
        (["--target-latency", "0.1ms"], "target latency 100 us is below what rule 'compound' "
         "(phi) reaches from resnet_18 on cpu at batch 1 (infer, fp32): "),
        (["--target-latency", "100s", "--rule", "width"], "target latency 100 s is above what "
         "rule 'width' (width mult) reaches from resnet_18"),
    ],
)  # fmt: skip
def test_speed_errors_are_one_line(capsys, fake_measure, argv, message):
    try:
        code, out, err = run(capsys, "resnet_18", *argv)
    except SystemExit as exc:  # argparse-level errors exit from the parser
        code, (out, err) = exc.code, capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
