"""Dict / JSON / YAML round trip of specs and their content hash; and the package's one
home for plain-data file helpers: the atomic writer, the unknown-key check, strict JSON
(non-finite numbers as null) and the leaf-by-leaf comparison of two records. No torch."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from netscale.spec.net import SCHEMA_VERSION, HeadSpec, NetSpec, SpecError, StageSpec, StemSpec

_NESTED = {"stem": StemSpec, "head": HeadSpec}
# Fields added after schema 1, with the default at which `to_dict` leaves them out: the
# plain-data form (files, ledgers, model cards) and `spec_id` of every spec that does not
# use them stay what they were before the field existed. `from_dict` reads either form.
LATER_FIELDS: dict[str, dict[str, Any]] = {"head": {"pool": "avg", "logit_scale": 1.0}}


class _Dumper(yaml.SafeDumper):
    """SafeDumper whose floats read back as floats under YAML 1.1 (PyYAML writes 1e-05,
    which its own loader reads as a string; 1.0e-05 reads as a float)."""


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    text = repr(value)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        return dumper.represent_scalar("tag:yaml.org,2002:float", f"{mantissa}.0e{exponent}")
    return dumper.represent_float(value)


_Dumper.add_representer(float, _represent_float)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 / JSON floats without a dot (1e-5) as floats."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def to_dict(spec: NetSpec) -> dict[str, Any]:
    """Plain-data form of a spec (tuples become lists); `from_dict` inverts it. A field
    added after schema 1 (`LATER_FIELDS`: head.pool, head.logit_scale) is written only when
    it differs from its default."""
    out = dataclasses.asdict(spec)
    out["stages"] = [dict(stage) for stage in out["stages"]]
    for part, defaults in LATER_FIELDS.items():
        for key, default in defaults.items():
            if out[part][key] == default:
                del out[part][key]
    return out


def check_keys(
    data: Mapping[Any, Any],
    allowed: Iterable[str],
    *,
    where: str = "",
    error: Callable[[str], Exception] = SpecError,
    what: str = "key",
) -> None:
    """Raise `error(message)` for the first key of `data` not in `allowed`, naming its path (`where`
    prefixes it), the closest allowed key and every allowed one. The one unknown-key check
    of the package (specs, recipes, spaces, study configs):
    "unknown key 'stages[1].widht' (did you mean 'width'?); allowed keys: block, ..."."""
    allowed = list(allowed)
    unknown = sorted(set(data) - set(allowed), key=str)  # YAML keys need not be strings
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = f"{where}.{key}" if where else key
    raise error(f"unknown {what} {shown!r}{hint}; allowed {what}s: {', '.join(allowed)}")


def finite(data: Any) -> Any:
    """`data` with every non-finite float (NaN, inf), at any depth, replaced by None."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


def json_text(data: Any, *, indent: int | None = None) -> str:
    """Strict JSON of `data`: non-finite numbers become null (JSON has no NaN)."""
    return json.dumps(finite(data), indent=indent, allow_nan=False)


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    """Path -> value of every leaf of nested dicts and lists ("a.b[2].c")."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(data, list):
        out = {}
        for i, v in enumerate(data):
            out.update(_leaves(v, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: data}


def differences(
    saved: Any, current: Any, *, only_common: bool = False
) -> list[tuple[str, Any, Any]]:
    """(path, saved value, current value) of every leaf that differs between two records
    of plain data (a leaf on one side only counts, unless `only_common`)."""
    a, b = _leaves(saved), _leaves(current)
    keys = sorted(a.keys() & b.keys()) if only_common else sorted(a.keys() | b.keys())
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise SpecError(f"{path} must be a mapping of field names to values, got {data!r}")
    check_keys(data, [f.name for f in dataclasses.fields(cls)], where=path)
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in data]
    if missing:
        where = f"{path}.{missing[0]}" if path else missing[0]
        raise SpecError(f"missing required key {where!r}")
    return cls(**data)


def from_dict(data: dict[str, Any]) -> NetSpec:
    """Build a validated `NetSpec` from plain data; unknown keys are an error."""
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a mapping, got {type(data).__name__}")
    schema = data.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise SpecError(
            f"schema={schema!r} is invalid: this netscale reads schema {SCHEMA_VERSION}"
        )
    fields = dict(data)
    for key, cls in _NESTED.items():
        if key in fields:
            fields[key] = _build(cls, fields[key], key)
    if "stages" in fields:
        stages = fields["stages"]
        if not isinstance(stages, list | tuple):
            raise SpecError(f"stages must be a list of stage mappings, got {stages!r}")
        fields["stages"] = tuple(_build(StageSpec, s, f"stages[{i}]") for i, s in enumerate(stages))
    return _build(NetSpec, fields, "")


def canonical_json(spec: NetSpec) -> str:
    """Sorted-key, whitespace-free JSON of a spec: the input of `spec_id`."""
    return json.dumps(to_dict(spec), sort_keys=True, separators=(",", ":"))


def spec_id(spec: NetSpec) -> str:
    """Short content hash of the architecture (12 hex digits of SHA-256) over `to_dict`.

    The `name` field is a label and is left out, so a renamed copy keeps its id. Fields
    added after schema 1 are left out at their defaults (`to_dict`), so a spec that does not
    use them keeps the id it had before they existed (study ledgers store ids).
    """
    data = to_dict(spec)
    data.pop("name")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def dumps(spec: NetSpec, fmt: str = "yaml") -> str:
    """Serialize a spec as "yaml" or "json" text."""
    if fmt == "json":
        return json.dumps(to_dict(spec), indent=2) + "\n"
    if fmt == "yaml":
        return yaml.dump(to_dict(spec), Dumper=_Dumper, sort_keys=False)
    raise ValueError(f"fmt={fmt!r} is invalid; allowed: 'yaml', 'json'")


def yaml_load(text: str) -> Any:
    """Parse YAML (or JSON) text; exponent floats such as 1e-5 read as numbers."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


def load_yaml_mapping(
    path: Path, error: type[ValueError] = ValueError, what: str = "file"
) -> dict[Any, Any]:
    """The top-level mapping of the YAML (or JSON) file at `path`.

    Anything else is a one-line `error` naming `what` and the file: an unreadable file,
    bytes that are not UTF-8 text, invalid YAML, or a top level that is empty or not a
    mapping ("recipe file x.yaml: not a valid YAML mapping: not UTF-8 text (...)").
    """
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    prefix = f"{what} {path}: not a valid {kind} mapping"
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise error(f"{what} {path} cannot be read ({err.strerror or err})") from None
    try:
        data = yaml_load(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        why = f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})"
        raise error(f"{prefix}: {why}") from None
    except yaml.YAMLError as err:
        raise error(f"{prefix}: {yaml_problem(err)}") from None
    except RecursionError:
        raise error(f"{prefix}: nested too deeply") from None
    if data is None:
        raise error(f"{prefix}: the file is empty")
    if not isinstance(data, dict):
        shown = repr(data) if len(repr(data)) <= 40 else repr(data)[:37] + "..."
        raise error(
            f"{prefix}: the top level is a {type(data).__name__} ({shown}), expected a "
            "mapping of names to values"
        )
    return data


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line saying what is wrong in a YAML parse error and where (1-based line/column)."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{err.problem or err.context}{where}"
    if isinstance(err, yaml.reader.ReaderError):
        return f"{str(err).splitlines()[0]} at character {err.position}"
    return " ".join(str(err).split())


def loads(text: str) -> NetSpec:
    """Parse YAML or JSON text (JSON is YAML) into a validated spec."""
    try:
        data = yaml_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"not valid YAML/JSON: {yaml_problem(err)}") from None
    except RecursionError:
        raise SpecError("not valid YAML/JSON: nested too deeply") from None
    return from_dict(data)


@contextmanager
def atomic_path(path: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path beside `path` for the caller to write; renamed onto `path` when the
    block ends, removed if it raises. A reader (or a crash) sees the old file or the new
    one, never a partial one. The one atomic writer of the package: every file netscale
    writes in place goes through here (or `atomic_write`). With `overwrite` False the file
    is linked into place instead, which fails (FileExistsError) when `path` exists, even if
    it appeared while the caller wrote."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path) -> None:
    """Put `tmp` at `path`, never replacing a file there (a hard link; where the filesystem
    has none, a rename after a check)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; it was not replaced") from None
    except OSError:  # no hard links here (some network and FUSE filesystems)
        if path.exists():
            raise FileExistsError(f"{path} already exists; it was not replaced") from None
        os.replace(tmp, path)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write `data` (text as UTF-8, or bytes) to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")


def save(spec: NetSpec, path: str | os.PathLike[str]) -> Path:
    """Write a spec to `.yaml`/`.yml`/`.json` atomically (temp file, then rename)."""
    path = Path(path)
    atomic_write(path, dumps(spec, _format_of(path)))
    return path


def load(path: str | os.PathLike[str]) -> NetSpec:
    """Read a spec from a `.yaml`/`.yml`/`.json` file."""
    path = Path(path)
    _format_of(path)
    if not path.is_file():
        raise FileNotFoundError(f"spec file {str(path)!r} does not exist")
    data = load_yaml_mapping(path, SpecError, "spec file")
    try:
        return from_dict(data)
    except SpecError as err:
        raise SpecError(f"{path}: {err}") from None


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    raise ValueError(
        f"spec file {str(path)!r}: unknown extension {suffix!r}; allowed: .yaml, .yml, .json"
    )
