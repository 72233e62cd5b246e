"""The SQLite ledger: atomic claims, leases, insert-only results, schema checks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from netscale.study.store import DB_NAME, Store, StoreError, TrialPlan


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
    assert [t["spec"] for t in store.trials()] == [{"i": 0}, {"i": 1}, {"i": 2}]
    with pytest.raises(StoreError, match="already exists"):
        _store(tmp_path)


def test_claims_are_exclusive_and_in_order(tmp_path):
    store = _store(tmp_path)
    got = [store.claim("host:a", 60)["trial_id"], store.claim("host:b", 60)["trial_id"]]
    assert got == [0, 1]
    assert store.claim("host:c", 60)["trial_id"] == 2
    assert store.claim("host:d", 60) is None


def test_finish_is_insert_only_and_needs_the_lease(tmp_path):
    store = _store(tmp_path, 1)
    trial = store.claim("h:1", 60)
    assert not store.finish(trial["trial_id"], "h:2", "completed", {"top1": 1.0})
    assert store.finish(trial["trial_id"], "h:1", "completed", {"top1": 50.0},
                        history=[{"epoch": 1, "top1": 50.0}])  # fmt: skip
    # a second finish (say, by a runner that lost its lease) changes nothing
    assert not store.finish(trial["trial_id"], "h:1", "completed", {"top1": 99.0})
    t = store.trials()[0]
    assert t["status"] == "completed" and t["metrics"] == {"top1": 50.0}
    assert t["history"] == [{"epoch": 1, "top1": 50.0}]
    with pytest.raises(ValueError, match="allowed"):
        store.finish(0, "h:1", "done", None)


def test_dead_owner_lease_is_taken_over_and_attempts_capped(tmp_path):
    store = _store(tmp_path, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    import socket

    owner = f"{socket.gethostname()}:{dead}"
    assert store.claim(owner, 3600)["trial_id"] == 0
    assert store.claim("other:1", 3600)["attempts"] == 2  # the dead runner's lease is reclaimed
    store._db.execute("UPDATE trials SET lease_owner=?", (owner,))
    assert store.claim("other:2", 3600)["attempts"] == 3
    store._db.execute("UPDATE trials SET lease_owner=?", (owner,))
    assert store.claim("other:3", 3600) is None  # abandoned 3 times: failed, not retried
    t = store.trials()[0]
    assert t["status"] == "failed" and "abandoned" in t["error"]


def test_expired_lease_is_taken_over_live_one_is_not(tmp_path):
    store = _store(tmp_path, 1)
    store.claim("elsewhere:1", 3600)
    assert store.claim("elsewhere:2", 3600) is None  # live lease on another host
    store._db.execute("UPDATE trials SET lease_expires=0")
    assert store.claim("elsewhere:2", 3600)["trial_id"] == 0


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
