"""The study ledger: one SQLite database (WAL) per study directory.

Tables: `meta` (schema version, the study's config), `trials` (the planned trials, fixed at
creation, with status, lease, attempts and error), `epochs` (per-epoch metrics) and
`results` (final metrics). Results are insert-only: a completed trial is never rewritten.
Claims are atomic (`BEGIN IMMEDIATE`), so any number of runner processes on one directory
run each trial once. A lease names its holder (host:pid) and an expiry; a lease whose holder
is a dead process on this host, or whose expiry has passed, may be taken over.
No torch import.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
DB_NAME = "study.db"
STATUSES = ("pending", "running", "completed", "failed", "diverged")
FINISHED = ("completed", "failed", "diverged")

_SCHEMA = """
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


class StoreError(ValueError):
    """The study directory or database cannot be used (the message says why and what to do)."""


class StoreExistsError(StoreError):
    """`Store.create` found the study already created (perhaps by a concurrent runner)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialPlan:
    """One planned trial: a spec (plain dict) trained with a recipe (plain dict of fields)
    for `epochs` from `seed`; `group`, `design` and `meta` are for the analysis."""

    group: str
    spec: dict[str, Any]
    spec_id: str
    recipe: dict[str, Any]
    seed: int
    epochs: int
    flops: int
    params: int
    acts: int
    design: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def lease_owner() -> str:
    """This process's lease name: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str | None) -> bool:
    """True when `owner` is a process on this host that no longer runs."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class Store:
    """The ledger of one study directory. Open with `Store.create` or `Store.open`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=60000")

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, study_dir: Path, study: dict[str, Any], plans: Sequence[TrialPlan]) -> Store:
        """Create the ledger with its planned trials, atomically: a half-created database is
        never left behind (it is built under a temporary name, then renamed)."""
        study_dir.mkdir(parents=True, exist_ok=True)
        final = study_dir / DB_NAME
        if final.exists():
            raise StoreExistsError(f"{str(final)!r} already exists; open it instead")
        tmp = study_dir / f".{DB_NAME}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.executescript(_SCHEMA)
            db.execute("BEGIN")
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT INTO meta VALUES ('study', ?)", (json.dumps(study),))
            db.executemany(
                "INSERT INTO trials (trial_id, grp, spec, spec_id, recipe, seed, epochs, design,"
                " meta, flops, params, acts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [_plan_row(i, p) for i, p in enumerate(plans)],
            )
            db.execute("COMMIT")
        finally:
            db.close()
        try:
            os.link(tmp, final)  # fails if another process created the study first
        except FileExistsError:
            raise StoreExistsError(f"{str(final)!r} was created by another process") from None
        finally:
            tmp.unlink(missing_ok=True)
        return cls(final)

    @classmethod
    def open(cls, study_dir: Path) -> Store:
        """Open an existing ledger; a missing one or one of another schema is an error."""
        path = study_dir / DB_NAME
        if not path.is_file():
            raise StoreError(f"{str(study_dir)!r} holds no study ({DB_NAME} is missing)")
        try:
            store = cls(path)
            row = store._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{str(path)!r} is not a netscale study database: {err}") from None
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = row[0] if row else "none"
            raise StoreError(
                f"{str(path)!r} has study schema {found}; this netscale reads schema "
                f"{SCHEMA_VERSION}. Use the netscale version that wrote it, or a new --out"
            )
        return store

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading --------------------------------------------------------------------------
    def study(self) -> dict[str, Any]:
        row = self._db.execute("SELECT value FROM meta WHERE key='study'").fetchone()
        return json.loads(row[0])

    def counts(self) -> dict[str, int]:
        """Number of trials per status (every status present, zeros included)."""
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status"):
            out[status] = n
        return out

    def trials(self) -> list[dict[str, Any]]:
        """Every trial as the analysis reads it (see netscale/study/findings.py)."""
        return self._read_trials("", ())

    def trial(self, trial_id: int) -> dict[str, Any]:
        """One trial, in the form `trials` gives."""
        return self._read_trials(" WHERE trial_id=?", (trial_id,))[0]

    def _read_trials(self, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        results = {
            tid: json.loads(m)
            for tid, m in self._db.execute(f"SELECT trial_id, metrics FROM results{where}", args)
        }
        history: dict[int, list[dict[str, Any]]] = {}
        query = f"SELECT trial_id, metrics FROM epochs{where} ORDER BY epoch"
        for tid, m in self._db.execute(query, args):
            history.setdefault(tid, []).append(json.loads(m))
        cols = (
            "trial_id, grp, spec, spec_id, recipe, seed, epochs, design, meta, flops, params,"
            " acts, status, attempts, error, lease_owner"
        )
        out = []
        for row in self._db.execute(f"SELECT {cols} FROM trials{where} ORDER BY trial_id", args):
            tid = row[0]
            out.append(
                {
                    "trial_id": tid,
                    "group": row[1],
                    "spec": json.loads(row[2]),
                    "spec_id": row[3],
                    "recipe": json.loads(row[4]),
                    "seed": row[5],
                    "epochs": row[6],
                    "design": json.loads(row[7]),
                    "meta": json.loads(row[8]),
                    "flops": row[9],
                    "params": row[10],
                    "acts": row[11],
                    "status": row[12],
                    "attempts": row[13],
                    "error": row[14],
                    "lease_owner": row[15],
                    "metrics": results.get(tid),
                    "history": history.get(tid, []),
                }
            )
        return out

    # -- claiming and recording -----------------------------------------------------------
    def claim(self, owner: str, lease_s: float, max_attempts: int = 3) -> dict[str, Any] | None:
        """Atomically take the next runnable trial (pending, or running under an abandoned
        lease) for `owner`; None when nothing is left to run. A trial abandoned
        `max_attempts` times (its runner died each time) is marked failed instead."""
        now = time.time()
        with self._write() as db:
            rows = db.execute(
                "SELECT trial_id, status, lease_owner, lease_expires, attempts FROM trials"
                " WHERE status IN ('pending', 'running') ORDER BY trial_id"
            ).fetchall()
            for tid, status, holder, expires, attempts in rows:
                abandoned = status == "running" and ((expires or 0) < now or _owner_dead(holder))
                if abandoned and attempts >= max_attempts:
                    db.execute(
                        "UPDATE trials SET status='failed', error=?, lease_owner=NULL,"
                        " lease_expires=NULL, finished=? WHERE trial_id=?",
                        (f"abandoned by its runner {attempts} times", now, tid),
                    )
                    continue
                if status == "pending" or abandoned:
                    db.execute(
                        "UPDATE trials SET status='running', lease_owner=?, lease_expires=?,"
                        " attempts=attempts+1, started=COALESCE(started, ?) WHERE trial_id=?",
                        (owner, now + lease_s, now, tid),
                    )
                    break
            else:
                return None
        return self.trial(tid)

    def renew(self, trial_id: int, owner: str, lease_s: float) -> bool:
        """Extend `owner`'s lease on a running trial; False if the lease was lost."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE trials SET lease_expires=? WHERE trial_id=? AND lease_owner=?"
                " AND status='running'",
                (time.time() + lease_s, trial_id, owner),
            )
            return cur.rowcount == 1

    def record_epoch(self, trial_id: int, owner: str, metrics: dict[str, Any]) -> None:
        """Store one epoch's metrics of a trial `owner` holds (a replayed epoch after a resume
        overwrites its own earlier line: same epoch, same trial, not yet finished)."""
        with self._write() as db:
            held = db.execute(
                "SELECT 1 FROM trials WHERE trial_id=? AND lease_owner=? AND status='running'",
                (trial_id, owner),
            ).fetchone()
            if held:
                db.execute(
                    "INSERT OR REPLACE INTO epochs VALUES (?, ?, ?)",
                    (trial_id, int(metrics["epoch"]), json.dumps(metrics)),
                )

    def finish(
        self,
        trial_id: int,
        owner: str,
        status: str,
        metrics: dict[str, Any] | None,
        history: Sequence[dict[str, Any]] = (),
        error: str | None = None,
    ) -> bool:
        """Record a trial's end. Only the lease holder may, and a finished trial is never
        rewritten: returns False (and changes nothing) otherwise."""
        if status not in FINISHED:
            raise ValueError(f"status={status!r} is invalid; allowed: {', '.join(FINISHED)}")
        with self._write() as db:
            row = db.execute(
                "SELECT status, lease_owner FROM trials WHERE trial_id=?", (trial_id,)
            ).fetchone()
            if row is None or row[0] != "running" or row[1] != owner:
                return False
            for line in history:
                db.execute(
                    "INSERT OR REPLACE INTO epochs VALUES (?, ?, ?)",
                    (trial_id, int(line["epoch"]), json.dumps(line)),
                )
            if metrics is not None:
                db.execute(
                    "INSERT INTO results VALUES (?, ?, ?)",
                    (trial_id, json.dumps(metrics), time.time()),
                )
            db.execute(
                "UPDATE trials SET status=?, error=?, finished=?, lease_owner=NULL,"
                " lease_expires=NULL WHERE trial_id=?",
                (status, error, time.time(), trial_id),
            )
        return True

    def release(self, trial_id: int, owner: str) -> None:
        """Give a trial back to the queue (e.g. on Ctrl-C) without counting it as failed."""
        with self._write() as db:
            db.execute(
                "UPDATE trials SET status='pending', lease_owner=NULL, lease_expires=NULL"
                " WHERE trial_id=? AND lease_owner=? AND status='running'",
                (trial_id, owner),
            )

    def retry_failed(self) -> int:
        """Put failed trials back in the queue; returns how many."""
        with self._write() as db:
            return db.execute(
                "UPDATE trials SET status='pending', error=NULL WHERE status='failed'"
            ).rowcount


def _plan_row(trial_id: int, p: TrialPlan) -> tuple[Any, ...]:
    return (
        trial_id,
        p.group,
        json.dumps(p.spec),
        p.spec_id,
        json.dumps(p.recipe),
        p.seed,
        p.epochs,
        json.dumps(p.design),
        json.dumps(p.meta),
        p.flops,
        p.params,
        p.acts,
    )
