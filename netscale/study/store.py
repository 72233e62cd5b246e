"""The study ledger: one SQLite database (WAL) per study directory.

Tables: `meta` (schema version, the study's config), `trials` (the planned trials, fixed at
creation, with their kind, status, lease, attempts, error and the precision fixed at the
first claim),
`epochs` (per-epoch metrics) and `results` (final metrics). Results are insert-only: a
completed trial is never rewritten. Claims are atomic (`BEGIN IMMEDIATE`), so any number
of runner processes on one directory run each trial once. A lease names its holder
(host:pid) and an expiry; a lease whose holder is a dead process on this host, or whose
expiry has passed, may be taken over. `create` takes `TrialPlan`s; reads hand back frozen
`Trial` records (both in records.py).
A database of an older schema is migrated in place on open (one transaction); anything that
is not a netscale study database is refused untouched, with a `StoreError` (schema.py).
No torch import.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from netscale.study.records import TRIAL_KINDS, Trial, TrialPlan
from netscale.study.schema import (
    SCHEMA_SQL,
    SCHEMA_VERSION,
    StoreError,  # defined with the schema checks; imported from here by callers
    check_magic,
    check_schema,
    meta_value,
    migrate,
    translate,
)

DB_NAME = "study.db"
STATUSES = ("pending", "running", "completed", "failed", "diverged")
FINISHED = ("completed", "failed", "diverged")
PRECISIONS = ("fp32", "bf16")  # what a trial trains in, fixed per trial (`fix_precision`)
# The trials columns a `Trial` holds (`group_name` as its field `group`), and those in JSON.
_TRIAL_COLUMNS = ("trial_id", "group_name", "spec", "spec_id", "recipe", "seed", "epochs",
                  "design", "meta", "flops", "params", "acts", "status", "attempts", "error",
                  "lease_owner", "precision", "kind", "budget_s")  # fmt: skip
_FIELDS = {"group_name": "group"}
_JSON_COLUMNS = ("spec", "recipe", "design", "meta")


class StoreExistsError(StoreError):
    """`Store.create` found the study already created (perhaps by a concurrent runner)."""


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
        self._db.execute("PRAGMA busy_timeout=60000")

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, study_dir: Path, study: dict[str, Any], plans: Sequence[TrialPlan]) -> Store:
        """Create the ledger with its planned trials, atomically: a half-created database is
        never left behind (it is built under a temporary name, then renamed)."""
        for p in plans:
            if p.kind not in TRIAL_KINDS:
                allowed = ", ".join(TRIAL_KINDS)
                raise ValueError(f"trial kind={p.kind!r} is invalid; allowed: {allowed}")
        study_dir.mkdir(parents=True, exist_ok=True)
        final = study_dir / DB_NAME
        if final.exists():
            raise StoreExistsError(f"{str(final)!r} already exists; open it instead")
        tmp = study_dir / f".{DB_NAME}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # stored in the file: every open is WAL
            db.executescript(SCHEMA_SQL)
            db.execute("BEGIN")
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT INTO meta VALUES ('study', ?)", (json.dumps(study),))
            db.executemany(
                "INSERT INTO trials (trial_id, group_name, spec, spec_id, recipe, seed, epochs,"
                " design, meta, flops, params, acts, kind, budget_s)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
        """Open an existing ledger, migrating an older schema in place. A missing file, a
        file that is not a netscale study database, or one of a newer schema is a
        StoreError, and the file is left untouched."""
        path = study_dir / DB_NAME
        if not path.is_file():
            raise StoreError(f"{str(study_dir)!r} holds no study ({DB_NAME} is missing)")
        check_magic(path)  # before sqlite touches it: it would turn an empty file into a db
        store = cls(path)
        try:
            with store._errors():
                if check_schema(store._db, path) is not None:
                    with store._write() as db:
                        migrate(db)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as StoreErrors naming the file (see schema.translate)."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            raise translate(err, self.path) from err
        except json.JSONDecodeError as err:  # a damaged cell that SQLite still reads
            raise StoreError(f"{str(self.path)!r} is damaged: a stored value is not JSON") from err

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- reading --------------------------------------------------------------------------
    def study(self) -> dict[str, Any]:
        """The study's record (name, planner, config, created, planned)."""
        with self._errors():
            return json.loads(meta_value(self._db, "study") or "null")

    def counts(self) -> dict[str, int]:
        """Number of trials per status (every status present, zeros included)."""
        out = dict.fromkeys(STATUSES, 0)
        with self._errors():
            query = "SELECT status, COUNT(*) FROM trials GROUP BY status"
            for status, n in self._db.execute(query):
                out[status] = n
        return out

    def trials(self) -> list[Trial]:
        """Every trial, in trial_id order."""
        with self._errors():
            return self._read_trials("", ())

    def trial(self, trial_id: int) -> Trial:
        """One trial, in the form `trials` gives."""
        with self._errors():
            return self._read_trials(" WHERE trial_id=?", (trial_id,))[0]

    def _read_trials(self, where: str, args: tuple[Any, ...]) -> list[Trial]:
        """Trials as `Trial`s; a trial's `precision` is None until its first claim fixes it."""
        results = {
            tid: json.loads(m)
            for tid, m in self._db.execute(f"SELECT trial_id, metrics FROM results{where}", args)
        }
        history: dict[int, list[dict[str, Any]]] = {}
        query = f"SELECT trial_id, metrics FROM epochs{where} ORDER BY epoch"
        for tid, m in self._db.execute(query, args):
            history.setdefault(tid, []).append(json.loads(m))
        query = f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM trials{where} ORDER BY trial_id"
        out = []
        for row in self._db.execute(query, args):
            fields = {
                _FIELDS.get(col, col): json.loads(v) if col in _JSON_COLUMNS else v
                for col, v in zip(_TRIAL_COLUMNS, row, strict=True)
            }
            tid = fields["trial_id"]
            out.append(Trial(**fields, metrics=results.get(tid), history=history.get(tid, [])))
        return out

    # -- claiming and recording -----------------------------------------------------------
    def claim(self, owner: str, lease_s: float, max_attempts: int = 3) -> Trial | None:
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

    def fix_precision(self, trial_id: int, owner: str, precision: str) -> str:
        """Fix the precision trial `trial_id` trains in, once: set only while none is stored
        and only by the lease holder. Returns the stored precision, which every attempt of
        the trial (on any worker or host) trains in, so its metrics never depend on which
        machine claimed it later. A StoreError when none is stored and `owner` does not hold
        the lease."""
        if precision not in PRECISIONS:
            allowed = ", ".join(PRECISIONS)
            raise ValueError(f"precision={precision!r} is invalid; allowed: {allowed}")
        with self._write() as db:
            db.execute(
                "UPDATE trials SET precision=? WHERE trial_id=? AND precision IS NULL"
                " AND lease_owner=? AND status='running'",
                (precision, trial_id, owner),
            )
            row = db.execute("SELECT precision FROM trials WHERE trial_id=?", (trial_id,))
            stored = (row.fetchone() or (None,))[0]
        if stored is None:
            raise StoreError(
                f"trial {trial_id}: {owner} does not hold its lease, so it cannot fix its "
                "precision (the lease expired and another runner took the trial over?)"
            )
        return stored

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


def precision_counts(trials: Iterable[Trial]) -> dict[str, int]:
    """Trials per stored precision, by name; trials no claim has reached yet are left out."""
    counts = Counter(t.precision for t in trials if t.precision)
    return dict(sorted(counts.items()))


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
        p.kind,
        p.budget_s,
    )
