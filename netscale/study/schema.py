"""The study ledger's SQL schema, its migrations, and the checks that a file is a netscale
study database (used by `netscale.study.store`).

A database of an older schema is migrated in place when opened; a newer or unknown schema,
or a file that is not a netscale study database (random bytes, text, an empty file, an
SQLite file of something else, a damaged one), is refused with a `StoreError` that names
the file, and the file is left untouched. No torch import.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 5
TABLES = ("meta", "trials", "epochs", "results")
_SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file

SCHEMA_SQL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    trial_id INTEGER PRIMARY KEY,
    group_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    spec_id TEXT NOT NULL,
    recipe TEXT NOT NULL,
    seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    design TEXT NOT NULL,
    meta TEXT NOT NULL,
    flops INTEGER NOT NULL,
    params INTEGER NOT NULL,
    acts INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    lease_owner TEXT,
    lease_expires REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    started REAL,
    finished REAL,
    precision TEXT,
    kind TEXT NOT NULL DEFAULT 'train',
    budget_s REAL
);
CREATE TABLE epochs (
    trial_id INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (trial_id, epoch)
);
CREATE TABLE results (
    trial_id INTEGER PRIMARY KEY,
    metrics TEXT NOT NULL,
    recorded REAL NOT NULL
);
"""

# Schema N -> N + 1: the statements, run in the one transaction that also sets the version.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: the precision a trial trains in, fixed at its first claim (NULL until then)
    1: ("ALTER TABLE trials ADD COLUMN precision TEXT",),
    # 3: the trial's group under a name that says so (SQLite >= 3.25 renames in place)
    2: ("ALTER TABLE trials RENAME COLUMN grp TO group_name",),
    # 4: what a runner does with the trial (records.TRIAL_KINDS); every older trial trains
    3: ("ALTER TABLE trials ADD COLUMN kind TEXT NOT NULL DEFAULT 'train'",),
    # 5: the wall time a trial trains to (a config's `budget`); NULL: its epochs, as before
    4: ("ALTER TABLE trials ADD COLUMN budget_s REAL",),
}


class StoreError(ValueError):
    """The study directory or database cannot be used (the message says why and what to do)."""


def not_ours(path: Path) -> str:
    """The start of every "this file is not a study database" message."""
    return f"{str(path)!r} is not a netscale study database"


def check_magic(path: Path) -> None:
    """StoreError unless `path` starts as every SQLite database does. Read, never written:
    SQLite itself would turn an empty file into a database on first use."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as err:
        raise StoreError(f"cannot read the study database {str(path)!r}: {err}") from err
    if head != _SQLITE_MAGIC:
        what = "an empty file" if not head else "not an SQLite file"
        raise StoreError(f"{not_ours(path)} ({what})")


def meta_value(db: sqlite3.Connection, key: str) -> str | None:
    """A value of the meta table (None when the key is absent)."""
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return None if row is None else row[0]


def check_schema(db: sqlite3.Connection, path: Path) -> int | None:
    """Refuse (StoreError) a database that is not a netscale study or has a schema this
    version cannot read; returns the older schema to migrate from, or None if current."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables:
        raise StoreError(f"{not_ours(path)}: it has no meta table")
    found = meta_value(db, "schema")
    older = found is not None and found.isdigit() and 0 < int(found) < SCHEMA_VERSION
    if found != str(SCHEMA_VERSION) and not older:
        raise StoreError(
            f"{str(path)!r} has study schema {found or 'none'}; this netscale reads schema "
            f"{SCHEMA_VERSION} (and migrates 1-{SCHEMA_VERSION - 1}). Use the netscale "
            "version that wrote it, or a new --out"
        )
    missing = [t for t in TABLES if t not in tables]
    if missing or meta_value(db, "study") is None:
        lacks = f"tables {', '.join(missing)}" if missing else "a study record"
        raise StoreError(f"{not_ours(path)}: it lacks {lacks}")
    return int(found) if older else None  # type: ignore[arg-type]


def migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION. Call inside a write transaction: a crash
    leaves the old schema whole, and a concurrent opener waits, then sees the new one (the
    version is read again here, as another process may have migrated meanwhile)."""
    current = int(meta_value(db, "schema") or SCHEMA_VERSION)
    for version in range(current, SCHEMA_VERSION):
        for statement in MIGRATIONS[version]:
            db.execute(statement)
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))


def translate(err: sqlite3.DatabaseError, path: Path) -> StoreError:
    """SQLite's error as a StoreError naming the file: a damaged or foreign database gives
    one line in every command, not a traceback."""
    code = getattr(err, "sqlite_errorname", "")
    if code in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or str(err).startswith("no such"):
        return StoreError(f"{not_ours(path)} (or it is damaged): {err}")
    return StoreError(f"study database {str(path)!r}: {err}")
