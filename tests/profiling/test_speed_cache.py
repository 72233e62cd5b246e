"""The speed cache: keys, samples in order, atomic merged writes, and a damaged file
ignored with a warning, never an error."""

import json

import pytest

from netscale.profiling.speed_cache import (
    SCHEMA,
    Measurement,
    SpeedCache,
    SpeedCacheWarning,
    cache_file,
    speed_key,
)

FIELDS = dict(
    machine="cpu0|AVX2/-|threads=2",
    device_kind="cpu",
    spec_id="0123456789ab",
    batch=1,
    resolution=224,
    mode="infer",
    precision="fp32",
    channels_last=True,
    torch_version="2.5.0",
)


def key(**changes):
    return speed_key(**{**FIELDS, **changes})


def test_cache_file_follows_netscale_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NETSCALE_CACHE", str(tmp_path))
    assert cache_file() == tmp_path / "speed.json"


def test_every_field_is_part_of_the_key():
    base, fields = key()
    assert fields["torch"] == "2.5.0" and "spec_id=0123456789ab" in base
    changed = dict(
        machine="other",
        device_kind="cuda",
        spec_id="ba9876543210",
        batch=2,
        resolution=256,
        mode="train",
        precision="bf16",
        channels_last=False,
        torch_version="2.6.0",
    )
    keys = {key(**{name: value})[0] for name, value in changed.items()}
    assert base not in keys and len(keys) == len(changed)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_measurement_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="is invalid: expected a finite number > 0"):
        Measurement(bad, 1.0)
    with pytest.raises(ValueError, match="images_per_s="):
        Measurement(1.0, bad)


def test_samples_are_kept_in_order_and_read_back(tmp_path):
    path = tmp_path / "speed.json"
    k, fields = key()
    cache = SpeedCache(path)
    assert cache.sample(k, 0) is None
    cache.put(k, 0, Measurement(0.02, 50.0), fields, "net")
    cache.put(k, 1, Measurement(0.021, 47.6), fields, "net")
    again = SpeedCache(path)  # another process
    assert again.sample(k, 0) == Measurement(0.02, 50.0)
    assert again.sample(k, 1) == Measurement(0.021, 47.6)
    assert again.sample(k, 2) is None
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA and data["entries"][k]["fields"] == fields
    assert data["entries"][k]["name"] == "net" and "measured_at" in data["entries"][k]["samples"][0]
    again.put(k, 0, Measurement(0.03, 33.3), fields, "net")  # a new first sample...
    assert SpeedCache(path).sample(k, 1) is None  # ...drops the re-measurement of the old one


def test_writers_merge_their_entries(tmp_path):
    path = tmp_path / "speed.json"
    a, b = SpeedCache(path), SpeedCache(path)  # both read the (absent) file first
    ka, fa = key(batch=1)
    kb, fb = key(batch=2)
    a.put(ka, 0, Measurement(0.01, 100.0), fa, "a")
    b.put(kb, 0, Measurement(0.02, 100.0), fb, "b")
    table = SpeedCache(path)
    assert table.sample(ka, 0) and table.sample(kb, 0)


def test_fresh_hides_what_the_file_holds(tmp_path):
    path = tmp_path / "speed.json"
    k, fields = key()
    SpeedCache(path).put(k, 0, Measurement(0.02, 50.0), fields, "net")
    fresh = SpeedCache(path, fresh=True)
    assert fresh.sample(k, 0) is None
    fresh.put(k, 0, Measurement(0.04, 25.0), fields, "net")
    assert SpeedCache(path).sample(k, 0) == Measurement(0.04, 25.0)


def test_memory_only_cache_writes_nothing(tmp_path):
    k, fields = key()
    cache = SpeedCache(None)
    cache.put(k, 0, Measurement(0.02, 50.0), fields, "net")
    assert cache.sample(k, 0) == Measurement(0.02, 50.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps({"schema": 99, "entries": {}}),
        json.dumps({"schema": SCHEMA, "entries": []}),
        b"\xff\xfe\x00garbage",
    ],
)
def test_damaged_file_is_ignored_with_a_warning_and_rewritten(tmp_path, content):
    path = tmp_path / "speed.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    k, fields = key()
    with pytest.warns(
        SpeedCacheWarning, match=r"ignoring the speed cache .*speed\.json: .* will be"
    ):
        cache = SpeedCache(path)
    assert cache.sample(k, 0) is None
    cache.put(k, 0, Measurement(0.02, 50.0), fields, "net")
    assert json.loads(path.read_text())["entries"][k]["samples"][0]["latency_s"] == 0.02


def test_damaged_entries_count_as_absent(tmp_path):
    path = tmp_path / "speed.json"
    k, _ = key()
    entries = {k: {"samples": [{"latency_s": "fast"}, {"latency_s": 0.1, "images_per_s": 10}]},
               "other": "not an entry"}  # fmt: skip
    path.write_text(json.dumps({"schema": SCHEMA, "entries": entries}))
    cache = SpeedCache(path)
    assert cache.sample(k, 0) is None and cache.sample(k, 1) == Measurement(0.1, 10.0)
    assert cache.sample("other", 0) is None


def test_unwritable_cache_warns_and_keeps_measuring(tmp_path):
    path = tmp_path / "speed.json"
    path.mkdir()  # a directory where the file should be
    k, fields = key()
    with pytest.warns(SpeedCacheWarning, match="ignoring the speed cache"):
        cache = SpeedCache(path)
    with pytest.warns(SpeedCacheWarning, match="not written"):
        cache.put(k, 0, Measurement(0.02, 50.0), fields, "net")
    assert cache.sample(k, 0) == Measurement(0.02, 50.0)  # kept in memory
