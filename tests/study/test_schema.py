"""The ledger's schema checks and migrations, on small SQLite files written here: schema 1
as netscale first wrote it is migrated to the tables a new study gets."""

from __future__ import annotations

import sqlite3

import pytest

from netscale.study import schema
from netscale.study.schema import (
    MIGRATIONS,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    TABLES,
    StoreError,
    check_magic,
    check_schema,
    meta_value,
    migrate,
    not_ours,
    translate,
)

# The first schema: the group column was `grp`, and trials had no precision (nor anything
# added since). Its other tables are today's.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    trial_id INTEGER PRIMARY KEY,
    grp TEXT NOT NULL,
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
    finished REAL
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
ROW_1 = (0, "g", "{}", "abc", "{}", 0, 1, "{}", "{}", 10, 20, 30, "completed", None, None, 1,
         None, 1.0, 2.0)  # fmt: skip


def _db(sql: str, schema_value: str | None = None, study: str | None = '{"name": "s"}'):
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(sql)
    if schema_value is not None:
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (schema_value,))
    if study is not None:
        db.execute("INSERT INTO meta VALUES ('study', ?)", (study,))
    return db


def _layout(db: sqlite3.Connection) -> dict[str, dict[str, tuple]]:
    """Every table's columns: name -> (type, not null, default, primary key)."""
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {
        t: {r[1]: (r[2], r[3], r[4], r[5]) for r in db.execute(f"PRAGMA table_info({t})")}
        for t in names
    }


def test_every_older_schema_has_its_migration():
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))
    assert all(MIGRATIONS[v] for v in MIGRATIONS)  # each step does something


def test_a_new_database_has_the_tables_the_checks_expect():
    db = _db(SCHEMA_SQL, str(SCHEMA_VERSION))
    assert set(_layout(db)) == set(TABLES)
    assert check_schema(db, "x.db") is None  # current: nothing to migrate


def _schema_1_with_a_trial() -> sqlite3.Connection:
    db = _db(SCHEMA_1, "1")
    db.execute(f"INSERT INTO trials VALUES ({', '.join('?' * len(ROW_1))})", ROW_1)
    db.execute("INSERT INTO results VALUES (0, '{\"top1\": 50.0}', 3.0)")
    return db


def test_schema_1_migrates_to_the_layout_of_a_new_database():
    db = _schema_1_with_a_trial()
    assert check_schema(db, "old.db") == 1
    db.execute("BEGIN IMMEDIATE")
    migrate(db)
    db.execute("COMMIT")
    assert meta_value(db, "schema") == str(SCHEMA_VERSION)
    assert check_schema(db, "old.db") is None
    assert _layout(db) == _layout(_db(SCHEMA_SQL, str(SCHEMA_VERSION)))


def test_migration_keeps_the_data_and_fills_new_columns_with_their_defaults():
    db = _schema_1_with_a_trial()
    migrate(db)
    row = db.execute("SELECT * FROM trials").fetchone()
    columns = [r[1] for r in db.execute("PRAGMA table_info(trials)")]
    record = dict(zip(columns, row, strict=True))
    old = dict(zip(["trial_id", "group_name", *columns[2:19]], ROW_1, strict=True))
    assert {k: record[k] for k in old} == old  # the group column renamed, values kept
    assert record["precision"] is None  # unknown for trials of schema 1
    fresh = _layout(_db(SCHEMA_SQL, str(SCHEMA_VERSION)))["trials"]
    for name in columns[19:]:  # every column added since: its default for old rows
        default = fresh[name][2]
        expected = None if default is None else db.execute(f"SELECT {default}").fetchone()[0]
        assert record[name] == expected, name
    assert db.execute("SELECT metrics FROM results").fetchone() == ('{"top1": 50.0}',)


@pytest.mark.parametrize("start", range(1, SCHEMA_VERSION))
def test_migration_starts_from_the_recorded_version(start):
    """A database of schema `start` runs only the later steps (a repeated step would
    fail: a column added twice, a column renamed that no longer exists)."""
    db = _schema_1_with_a_trial()
    for version in range(1, start):
        for statement in MIGRATIONS[version]:
            db.execute(statement)
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(start),))
    assert check_schema(db, "old.db") == start
    migrate(db)
    assert _layout(db) == _layout(_db(SCHEMA_SQL, str(SCHEMA_VERSION)))
    migrate(db)  # at the current version: nothing left to run
    assert meta_value(db, "schema") == str(SCHEMA_VERSION)


@pytest.mark.parametrize("found", ["0", str(SCHEMA_VERSION + 1), "99", "two", "", "-1"])
def test_unreadable_schemas_are_refused_naming_the_file(found):
    db = _db(SCHEMA_SQL, found)
    with pytest.raises(StoreError) as err:
        check_schema(db, "/s/study.db")
    message = str(err.value)
    assert message.startswith(f"'/s/study.db' has study schema {found or 'none'}; ")
    assert f"reads schema {SCHEMA_VERSION} (and migrates 1-{SCHEMA_VERSION - 1})" in message


def test_missing_schema_record_is_refused():
    db = _db(SCHEMA_SQL, None)
    with pytest.raises(StoreError, match="has study schema none"):
        check_schema(db, "s.db")


def test_foreign_and_incomplete_databases():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(StoreError, match=r"^'s.db' is not a netscale study database: it has no"):
        check_schema(db, "s.db")
    db = _db("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
             str(SCHEMA_VERSION))  # fmt: skip
    others = ", ".join(t for t in TABLES if t != "meta")
    with pytest.raises(StoreError, match=f"it lacks tables {others}$"):
        check_schema(db, "s.db")
    db = _db(SCHEMA_SQL, str(SCHEMA_VERSION), study=None)
    with pytest.raises(StoreError, match=r"it lacks a study record$"):
        check_schema(db, "s.db")


def test_meta_value():
    db = _db(SCHEMA_SQL, "7", study='{"a": 1}')
    assert meta_value(db, "schema") == "7" and meta_value(db, "study") == '{"a": 1}'
    assert meta_value(db, "absent") is None


def test_magic_bytes_are_checked_without_writing(tmp_path):
    good = tmp_path / "good.db"
    sqlite3.connect(good).execute("CREATE TABLE t (x)").connection.close()
    check_magic(good)
    cases = {"empty.db": (b"", "(an empty file)"), "text.db": (b"id,status\n", "(not an SQL")}
    for name, (content, what) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(StoreError) as err:
            check_magic(path)
        assert str(err.value).startswith(f"{not_ours(path)} {what}")
        assert path.read_bytes() == content
    with pytest.raises(StoreError, match="cannot read the study database"):
        check_magic(tmp_path / "missing.db")
    with pytest.raises(StoreError, match="cannot read the study database"):
        check_magic(tmp_path)  # a directory


def test_translate_sqlite_errors(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x01" * 4096)
    with pytest.raises(sqlite3.DatabaseError) as err:
        sqlite3.connect(garbage).execute("SELECT * FROM meta")
    assert str(translate(err.value, garbage)).startswith(
        f"{not_ours(garbage)} (or it is damaged): "
    )
    db = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as err:
        db.execute("SELECT * FROM trials")
    assert str(translate(err.value, "s.db")) == (
        "'s.db' is not a netscale study database (or it is damaged): no such table: trials"
    )
    db.execute("CREATE TABLE t (x PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as err:
        db.execute("INSERT INTO t VALUES (1)")
    message = str(translate(err.value, "s.db"))
    assert message.startswith("study database 's.db': UNIQUE constraint failed")
    assert isinstance(translate(err.value, "s.db"), StoreError)


def test_store_errors_are_value_errors():
    assert issubclass(StoreError, ValueError) and schema.StoreError is StoreError
