"""Measured speeds kept on disk, so that a repeated speed search measures nothing again.

One JSON file, `$NETSCALE_CACHE/speed.json` (default ~/.cache/netscale/speed.json), beside
the matmul peaks of device.py:

    {"schema": 1, "entries": {KEY: {"fields": {...}, "name": ..., "samples": [
        {"latency_s": ..., "images_per_s": ..., "measured_at": ...}, ...]}}}

KEY joins what a measurement depends on (`speed_key`): the machine (processor or GPU, ISA,
CPU threads: device.machine_fingerprint), the device kind, the architecture (spec_id, so a
renamed spec hits), batch, resolution, mode, precision, channels_last and the torch
version. An entry holds samples in the order they were taken: the speed search reads the
first one and its confirming re-measurement the second (netscale/profiling/speed.py).

The file is written atomically (a temporary file, then a rename: spec.io.atomic_write),
after each new measurement, merged with what other processes wrote meanwhile (the last
writer of one key wins). A file that cannot be read as such a table is ignored with a
`SpeedCacheWarning`, never an error, and replaced at the next write; an entry of the wrong
shape counts as absent.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netscale.spec.io import atomic_write

SCHEMA = 1
FILE_NAME = "speed.json"


class SpeedCacheWarning(UserWarning):
    """The speed cache file was unreadable and is ignored (it will be rewritten)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measured speed: the median seconds of one step (a whole batch) and images/s."""

    latency_s: float
    images_per_s: float

    def __post_init__(self) -> None:
        for name in ("latency_s", "images_per_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}={value!r} is invalid: expected a finite number > 0")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} is invalid: expected a finite number > 0")

    def to_dict(self) -> dict[str, float]:
        """The two numbers as a JSON-ready dict."""
        return {"latency_s": float(self.latency_s), "images_per_s": float(self.images_per_s)}


def cache_file() -> Path:
    """$NETSCALE_CACHE/speed.json (default ~/.cache/netscale/speed.json)."""
    root = os.environ.get("NETSCALE_CACHE") or Path.home() / ".cache" / "netscale"
    return Path(root) / FILE_NAME


def speed_key(
    *,
    machine: str,
    device_kind: str,
    spec_id: str,
    batch: int,
    resolution: int,
    mode: str,
    precision: str,
    channels_last: bool,
    torch_version: str,
) -> tuple[str, dict[str, Any]]:
    """(KEY, its fields): everything a measured speed depends on but the code measuring it."""
    fields = {
        "machine": machine,
        "device_kind": device_kind,
        "spec_id": spec_id,
        "batch": batch,
        "resolution": resolution,
        "mode": mode,
        "precision": precision,
        "channels_last": channels_last,
        "torch": torch_version,
    }
    return "|".join(f"{k}={v}" for k, v in fields.items()), fields


class SpeedCache:
    """The speed table of one file (`path`), or of memory only (`path` None: nothing is read
    or written). `fresh` hides what the file held: every sample is measured again and
    replaces the old ones."""

    def __init__(self, path: Path | None, *, fresh: bool = False) -> None:
        self.path = path
        self.fresh = fresh
        self._entries: dict[str, dict[str, Any]] = {}
        self._mine: set[str] = set()  # keys written by this object, merged on flush
        if path is not None and not fresh:
            self._entries = self._read(warn=True)

    def sample(self, key: str, index: int) -> Measurement | None:
        """Sample `index` (0: the search's, 1: the re-measurement) of `key`, if recorded."""
        samples = self._entries.get(key, {}).get("samples", [])
        if index >= len(samples):
            return None
        try:
            one = samples[index]
            return Measurement(float(one["latency_s"]), float(one["images_per_s"]))
        except (TypeError, KeyError, ValueError):
            return None  # a damaged sample counts as absent

    def put(
        self, key: str, index: int, value: Measurement, fields: dict[str, Any], name: str
    ) -> None:
        """Record `value` as sample `index` of `key`, dropping any later samples (they were
        taken after the one it replaces), and write the file."""
        entry = self._entries.get(key)
        samples = list(entry.get("samples", [])) if isinstance(entry, dict) else []
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        samples = [*samples[:index], {**value.to_dict(), "measured_at": stamp}]
        self._entries[key] = {"fields": fields, "name": name, "samples": samples}
        self._mine.add(key)
        self.flush()

    def flush(self) -> None:
        """Write this object's entries into the file, over what it holds now (another
        process may have added entries since it was read); an unwritable file only loses
        the memory of these measurements."""
        if self.path is None:
            return
        table = self._read(warn=False)
        table.update({key: self._entries[key] for key in self._mine})
        data = {"schema": SCHEMA, "entries": table}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as err:
            warnings.warn(
                f"speed cache {self.path} not written: {err}", SpeedCacheWarning, stacklevel=2
            )

    def _read(self, *, warn: bool) -> dict[str, dict[str, Any]]:
        """The entries of the file; {} when it is absent, or unreadable (with a warning)."""
        assert self.path is not None
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("schema") != SCHEMA:
                raise ValueError(f"not a schema-{SCHEMA} speed table")
            entries = data.get("entries")
            if not isinstance(entries, dict):
                raise ValueError("no 'entries' table")
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeError are ValueErrors
            if warn:
                warnings.warn(
                    f"ignoring the speed cache {self.path}: {err}; it will be rewritten",
                    SpeedCacheWarning,
                    stacklevel=3,
                )
            return {}
        return {k: v for k, v in entries.items() if isinstance(v, dict)}
