"""The SQLite ledger: atomic claims, leases, insert-only results, schema checks."""

from __future__ import annotations

import dataclasses
import random
import sqlite3
import subprocess
import sys

import pytest

from netscale.study.store import DB_NAME, Store, StoreError, Trial, TrialPlan


def _plans(n: int) -> list[TrialPlan]:
    return [
        TrialPlan(group="g", spec={"i": i}, spec_id=f"id{i}", recipe={}, seed=0, epochs=1,
                  flops=i, params=i, acts=i)
        for i in range(n)
    ]  # fmt: skip


def _store(tmp_path, n=3) -> Store:
    return Store.create(tmp_path, {"name": "s", "planner": "design_space", "planned": n}, _plans(n))


def test_create_then_open_round_trips(tmp_path):
    _store(tmp_path).close()
    store = Store.open(tmp_path)
    assert store.study()["name"] == "s"
    assert store.counts() == {"pending": 3, "running": 0, "completed": 0, "failed": 0,
                              "diverged": 0}  # fmt: skip
    trials = store.trials()
    assert [t.spec for t in trials] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert isinstance(trials[0], Trial) and (trials[0].group, trials[0].status) == ("g", "pending")
    with pytest.raises(dataclasses.FrozenInstanceError):
        trials[0].status = "completed"  # a record, not a handle on the ledger
    with pytest.raises(StoreError, match="already exists"):
        _store(tmp_path)


def test_trial_kinds_round_trip_and_are_checked(tmp_path):
    study = {"name": "s", "planner": "design_space", "planned": 2}
    plans = [dataclasses.replace(p, kind=k) for p, k in zip(_plans(2), ("train", "profile"),
                                                             strict=True)]  # fmt: skip
    store = Store.create(tmp_path / "a", study, plans)
    assert [t.kind for t in store.trials()] == ["train", "profile"]
    store.close()
    bad = [dataclasses.replace(_plans(1)[0], kind="bench")]
    with pytest.raises(ValueError, match="trial kind='bench' is invalid; allowed: train, profile"):
        Store.create(tmp_path / "b", study, bad)
    assert not (tmp_path / "b" / DB_NAME).exists()


def test_claims_are_exclusive_and_in_order(tmp_path):
    store = _store(tmp_path)
    got = [store.claim("host:a", 60).trial_id, store.claim("host:b", 60).trial_id]
    assert got == [0, 1]
    assert store.claim("host:c", 60).trial_id == 2
    assert store.claim("host:d", 60) is None


def test_finish_is_insert_only_and_needs_the_lease(tmp_path):
    store = _store(tmp_path, 1)
    trial = store.claim("h:1", 60)
    assert not store.finish(trial.trial_id, "h:2", "completed", {"top1": 1.0})
    assert store.finish(trial.trial_id, "h:1", "completed", {"top1": 50.0},
                        history=[{"epoch": 1, "top1": 50.0}])  # fmt: skip
    # a second finish (say, by a runner that lost its lease) changes nothing
    assert not store.finish(trial.trial_id, "h:1", "completed", {"top1": 99.0})
    t = store.trials()[0]
    assert t.status == "completed" and t.metrics == {"top1": 50.0}
    assert t.history == [{"epoch": 1, "top1": 50.0}]
    with pytest.raises(ValueError, match="allowed"):
        store.finish(0, "h:1", "done", None)


def test_dead_owner_lease_is_taken_over_and_attempts_capped(tmp_path):
    store = _store(tmp_path, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    import socket

    owner = f"{socket.gethostname()}:{dead}"
    assert store.claim(owner, 3600).trial_id == 0
    assert store.claim("other:1", 3600).attempts == 2  # the dead runner's lease is reclaimed
    store._db.execute("UPDATE trials SET lease_owner=?", (owner,))
    assert store.claim("other:2", 3600).attempts == 3
    store._db.execute("UPDATE trials SET lease_owner=?", (owner,))
    assert store.claim("other:3", 3600) is None  # abandoned 3 times: failed, not retried
    t = store.trials()[0]
    assert t.status == "failed" and "abandoned" in t.error


def test_expired_lease_is_taken_over_live_one_is_not(tmp_path):
    store = _store(tmp_path, 1)
    store.claim("elsewhere:1", 3600)
    assert store.claim("elsewhere:2", 3600) is None  # live lease on another host
    store._db.execute("UPDATE trials SET lease_expires=0")
    assert store.claim("elsewhere:2", 3600).trial_id == 0


def test_release_returns_the_trial(tmp_path):
    store = _store(tmp_path, 1)
    store.claim("h:1", 60)
    store.release(0, "h:1")
    assert store.counts()["pending"] == 1


def test_open_rejects_other_schema_and_non_database(tmp_path):
    with pytest.raises(StoreError, match="holds no study"):
        Store.open(tmp_path)
    _store(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema 99"):
        Store.open(tmp_path)
    other = tmp_path / "x"
    other.mkdir()
    (other / DB_NAME).write_text("not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a netscale study"):
        Store.open(other)
    assert (other / DB_NAME).read_text().startswith("not sqlite")  # left untouched


def test_fix_precision_is_set_once_by_the_lease_holder(tmp_path):
    store = _store(tmp_path, 2)
    assert store.trials()[0].precision is None  # nothing fixed before the first claim
    trial = store.claim("h:1", 60)
    assert trial.precision is None
    with pytest.raises(StoreError, match="does not hold its lease"):
        store.fix_precision(0, "h:2", "bf16")  # not the holder, and nothing stored yet
    assert store.fix_precision(0, "h:1", "bf16") == "bf16"
    assert store.fix_precision(0, "h:1", "fp32") == "bf16"  # once fixed, it stays
    # the lease expires and another worker takes the trial over: it reads the stored one
    store._db.execute("UPDATE trials SET lease_expires=0")
    again = store.claim("elsewhere:7", 60)
    assert (again.trial_id, again.attempts, again.precision) == (0, 2, "bf16")
    assert store.fix_precision(0, "elsewhere:7", "fp32") == "bf16"
    assert store.fix_precision(0, "h:1", "fp32") == "bf16"  # a lost lease changes nothing
    assert [t.precision for t in store.trials()] == ["bf16", None]
    with pytest.raises(ValueError, match="precision='fp16' is invalid; allowed: fp32, bf16"):
        store.fix_precision(1, "h:1", "fp16")


def _old_schema(tmp_path, version: int) -> None:
    """A study as netscale wrote it at schema `version`, one trial done: schema 4 had no
    trial budget; schema 3 no trial kind either; schema 2 named the group column `grp`
    too; schema 1 had no precision column either."""
    store = _store(tmp_path, 2)
    store.claim("h:1", 60)
    store.fix_precision(0, "h:1", "fp32")
    store.finish(0, "h:1", "completed", {"top1": 50.0}, history=[{"epoch": 1, "top1": 50.0}])
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("ALTER TABLE trials DROP COLUMN budget_s")
    if version <= 3:
        db.execute("ALTER TABLE trials DROP COLUMN kind")
    if version <= 2:
        db.execute("ALTER TABLE trials RENAME COLUMN group_name TO grp")
    if version == 1:
        db.execute("ALTER TABLE trials DROP COLUMN precision")
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(version),))
    db.commit()
    db.close()


def _columns(tmp_path) -> tuple[str | None, list[str]]:
    db = sqlite3.connect(tmp_path / DB_NAME)
    schema = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
    columns = [r[1] for r in db.execute("PRAGMA table_info(trials)")]
    db.close()
    return schema, columns


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_older_schemas_are_migrated_in_place(tmp_path, version):
    _old_schema(tmp_path, version)
    store = Store.open(tmp_path)
    t0, t1 = store.trials()
    assert t0.status == "completed" and t0.metrics == {"top1": 50.0}  # results kept
    assert (t0.group, t1.group) == ("g", "g")  # the renamed column holds the groups
    assert t0.precision == ("fp32" if version >= 2 else None) and t1.precision is None
    assert (t0.kind, t1.kind) == ("train", "train")  # every trial before schema 4 trained
    assert (t0.budget_s, t1.budget_s) == (None, None)  # and none before 5 had a budget
    assert store.claim("h:2", 60).trial_id == 1
    assert store.fix_precision(1, "h:2", "fp32") == "fp32"
    store.close()
    schema, columns = _columns(tmp_path)
    assert schema == "5" and "group_name" in columns and "grp" not in columns
    assert "kind" in columns and "budget_s" in columns
    Store.open(tmp_path).close()  # opening a migrated study again changes nothing
    assert _columns(tmp_path) == (schema, columns)


@pytest.mark.parametrize(
    ("version", "step"), [(1, 1), (1, 2), (2, 2), (1, 3), (3, 3), (1, 4), (4, 4)]
)
def test_failed_migration_leaves_the_old_schema_whole(tmp_path, monkeypatch, version, step):
    """A statement that fails after others succeeded (in this step or an earlier one): the
    whole migration is rolled back, and a later open migrates."""
    _old_schema(tmp_path, version)
    before = _columns(tmp_path)
    from netscale.study import schema

    broken = (*schema.MIGRATIONS[step], "ALTER TABLE no_such_table ADD COLUMN x TEXT")
    monkeypatch.setitem(schema.MIGRATIONS, step, broken)
    with pytest.raises(StoreError, match="no such table"):
        Store.open(tmp_path)
    assert _columns(tmp_path) == before
    monkeypatch.undo()
    Store.open(tmp_path).close()
    assert _columns(tmp_path)[0] == "5"


@pytest.mark.parametrize(
    "content",
    [
        random.Random(0).randbytes(4096),  # random bytes
        b"trial_id,status\n0,completed\n" * 50,  # a text file
        b"",  # an empty file
        b"SQLite format 3\x00" + random.Random(1).randbytes(4080),  # a header, then garbage
    ],
    ids=["random", "text", "empty", "header-then-garbage"],
)
def test_garbage_is_refused_untouched(tmp_path, content):
    (tmp_path / DB_NAME).write_bytes(content)
    with pytest.raises(StoreError, match="is not a netscale study database") as err:
        Store.open(tmp_path)
    assert "\n" not in str(err.value)
    assert (tmp_path / DB_NAME).read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]  # no -wal, no -shm


def test_other_sqlite_databases_are_refused(tmp_path):
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema', '2')")  # netscale's schema, nothing else
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a netscale study database: it lacks tables"):
        Store.open(tmp_path)
    other = tmp_path / "x"
    other.mkdir()
    db = sqlite3.connect(other / DB_NAME)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a netscale study database: it has no meta"):
        Store.open(other)


@pytest.mark.parametrize("offset", [100, 4096, -4096])  # schema page, meta, last page
def test_damaged_database_gives_store_errors(tmp_path, offset):
    plans = [TrialPlan(group="g", spec={"pad": "x" * 500}, spec_id=f"id{i}", recipe={}, seed=0,
                       epochs=1, flops=i, params=i, acts=i) for i in range(30)]  # fmt: skip
    Store.create(tmp_path, {"name": "s", "planner": "design_space"}, plans).close()
    data = bytearray((tmp_path / DB_NAME).read_bytes())
    start = offset % len(data)
    data[start : start + 4096] = random.Random(offset).randbytes(4096)[: len(data) - start]
    (tmp_path / DB_NAME).write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"is not a netscale study database \(or it is damaged\)"):
        store = Store.open(tmp_path)  # the damage shows at open or at the first full read
        store.study(), store.counts(), store.trials()
