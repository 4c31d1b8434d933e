"""The local runtime's state: one SQLite database in the run directory.

    store = RunStore.open(run_dir / "state.db")
    state = store.state()                          # -> genesys.evolution.EvolutionState

Every change is one transaction, so a crash (even kill -9) leaves the last committed
state. Budget usage is never stored: it is derived from the verification rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from genesys.api.vocabulary import NewOperation, Operation, RecordPhase
from genesys.evolution import DesignRecord, EvolutionState, SessionRecord, VerificationRecord
from genesys.evolution.outcomes import VerificationSettlement

# 2: verifications.repeat (calibration runs of the seeds); 3: verifications.charged; 4: sessions.usd
SCHEMA_VERSION = 4
# Columns added since a version: an older run's state is upgraded in place when it is opened.
# (table, column, its declaration); a table the older run never had is created whole, column included.
_UPGRADES = {3: ("verifications", "charged", "INTEGER NOT NULL DEFAULT 1"),
             4: ("sessions", "usd", "REAL NOT NULL DEFAULT 0")}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS designs (
    name TEXT PRIMARY KEY, operation TEXT NOT NULL, parents TEXT NOT NULL, ord INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT PRIMARY KEY, operation TEXT NOT NULL, parents TEXT NOT NULL, seed INTEGER NOT NULL,
    phase TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, reason TEXT,
    started_at REAL NOT NULL, finished_at REAL, usd REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS verifications (
    name TEXT PRIMARY KEY, design TEXT NOT NULL, rung TEXT NOT NULL, repeat INTEGER NOT NULL DEFAULT 0,
    phase TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, reason TEXT,
    fitness REAL, scores TEXT NOT NULL DEFAULT '{}', baselines TEXT NOT NULL DEFAULT '{}',
    device_seconds REAL NOT NULL DEFAULT 0, summary TEXT NOT NULL DEFAULT '{}',
    started_at REAL NOT NULL, finished_at REAL, charged INTEGER NOT NULL DEFAULT 1, UNIQUE (design, rung, repeat));
"""


class RunDirError(RuntimeError):
    """A run directory (or the Evolution for it) cannot be used as asked; the message says what to do."""


@dataclass(frozen=True)
class SessionRow:
    name: str
    operation: str
    parents: tuple[str, ...]
    seed: int
    phase: str
    attempts: int
    reason: str | None
    started_at: float
    finished_at: float | None
    usd: float = 0.0  # what its LLM calls cost, from its outcome (0: none, or it left no outcome)


@dataclass(frozen=True)
class VerificationRow:
    name: str
    design: str
    rung: str
    phase: str
    attempts: int
    reason: str | None
    fitness: float | None
    scores: dict[str, float]
    baselines: dict[str, float]
    device_seconds: float
    summary: dict[str, Any]  # small facts from result.json: params, losses, fitness_stderr
    started_at: float
    finished_at: float | None
    repeat: int = 0  # > 0: a calibration run with training seed spec.seed + repeat
    charged: bool = True  # counts as a run of its rung's budget (genesys.evolution.outcomes decides)


@dataclass(frozen=True)
class DesignRow:
    name: str
    operation: str
    parents: tuple[str, ...]
    order: int
    title: str
    created_at: float


class RunStore:
    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> RunStore:
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        store = cls(db, path)
        version = store.get_meta("schema_version")
        if version is None:
            store.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) < SCHEMA_VERSION and all(v in _UPGRADES for v in range(int(version) + 1, SCHEMA_VERSION + 1)):
            with store.transaction() as tx:
                for v in range(int(version) + 1, SCHEMA_VERSION + 1):
                    table, column, declaration = _UPGRADES[v]
                    if column not in {r["name"] for r in tx.execute(f"PRAGMA table_info({table})")}:
                        tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                store.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise RunDirError(f"{path} has state schema v{version}, this genesys writes v{SCHEMA_VERSION}: "
                             "use a new --run-dir, or the genesys version that started this run")
        return store

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- designs ------------------------------------------------------------------------------
    def add_design(self, name: str, operation: str, parents: tuple[str, ...], order: int, title: str = "",
                   db: sqlite3.Connection | None = None) -> None:
        db = db or self._db
        db.execute("INSERT OR IGNORE INTO designs (name, operation, parents, ord, title, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (name, operation, json.dumps(list(parents)), order, title, time.time()))

    def designs(self) -> list[DesignRow]:
        rows = self._db.execute("SELECT * FROM designs ORDER BY ord").fetchall()
        return [DesignRow(r["name"], r["operation"], tuple(json.loads(r["parents"])), r["ord"], r["title"],
                          r["created_at"]) for r in rows]

    # -- sessions -----------------------------------------------------------------------------
    def start_session(self, name: str, operation: str, parents: tuple[str, ...], seed: int) -> None:
        self._db.execute("INSERT INTO sessions (name, operation, parents, seed, phase, started_at) "
                         "VALUES (?, ?, ?, ?, 'running', ?)", (name, operation, json.dumps(list(parents)), seed,
                                                                time.time()))

    def finish_session(self, name: str, succeeded: bool, reason: str | None = None, title: str = "",
                       order: int = 0, usd: float = 0.0) -> None:
        """Close a session with its LLM spend `usd`; a succeeded one adds its design (creation `order`)
        in the same transaction."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM sessions WHERE name = ?", (name,)).fetchone()
            if row is None or row["phase"] != "running":
                return
            db.execute("UPDATE sessions SET phase = ?, reason = ?, finished_at = ?, usd = ? WHERE name = ?",
                       ("succeeded" if succeeded else "failed", reason, time.time(), usd, name))
            if succeeded:
                self.add_design(name, row["operation"], tuple(json.loads(row["parents"])), order, title, db)

    def retry_session(self, name: str) -> None:
        self._db.execute("UPDATE sessions SET attempts = attempts + 1, started_at = ? WHERE name = ?",
                         (time.time(), name))

    def sessions(self) -> list[SessionRow]:
        rows = self._db.execute("SELECT * FROM sessions ORDER BY rowid").fetchall()
        return [SessionRow(r["name"], r["operation"], tuple(json.loads(r["parents"])), r["seed"], r["phase"],
                           r["attempts"], r["reason"], r["started_at"], r["finished_at"], r["usd"]) for r in rows]

    # -- verifications ------------------------------------------------------------------------
    def start_verification(self, name: str, design: str, rung: str, repeat: int = 0) -> None:
        self._db.execute("INSERT INTO verifications (name, design, rung, repeat, phase, started_at) "
                         "VALUES (?, ?, ?, ?, 'running', ?)", (name, design, rung, repeat, time.time()))

    def finish_verification(self, name: str, settled: VerificationSettlement) -> None:
        """Close a running verification as the core settled it (succeeded or failed)."""
        self._db.execute(
            "UPDATE verifications SET phase = ?, reason = ?, fitness = ?, scores = ?, baselines = ?, "
            "device_seconds = ?, summary = ?, charged = ?, finished_at = ? WHERE name = ? AND phase = 'running'",
            (settled.verdict, settled.reason, settled.fitness, json.dumps(dict(settled.scores)),
             json.dumps(dict(settled.baselines)), settled.device_seconds, json.dumps(dict(settled.summary)),
             int(settled.charged), time.time(), name),
        )

    def retry_verification(self, name: str) -> None:
        """Another attempt of a verification the runtime lost (preempted): same row, same budget charge."""
        self._db.execute("UPDATE verifications SET attempts = attempts + 1 WHERE name = ?", (name,))

    def verifications(self) -> list[VerificationRow]:
        rows = self._db.execute("SELECT * FROM verifications ORDER BY rowid").fetchall()
        return [VerificationRow(r["name"], r["design"], r["rung"], r["phase"], r["attempts"], r["reason"],
                                r["fitness"], json.loads(r["scores"]), json.loads(r["baselines"]),
                                r["device_seconds"], json.loads(r["summary"]), r["started_at"], r["finished_at"],
                                r["repeat"], bool(r["charged"]))
                for r in rows]

    # -- the core's view ----------------------------------------------------------------------
    def state(self, elapsed_hours: float = 0.0) -> EvolutionState:
        # SQLite gives back text: the rows were written from these Literals, so they are cast back
        designs = tuple(DesignRecord(d.name, cast(Operation, d.operation), d.parents, d.order) for d in self.designs())
        sessions = tuple(SessionRecord(s.name, cast(NewOperation, s.operation), s.parents, cast(RecordPhase, s.phase),
                                       usd=s.usd, reason=s.reason)
                         for s in self.sessions())
        verifications = tuple(
            VerificationRecord(v.name, v.design, v.rung, cast(RecordPhase, v.phase), v.scores, v.baselines, v.fitness,
                               v.device_seconds, charged=v.charged, repeat=v.repeat,
                               fitness_stderr=v.summary.get("fitness_stderr"))
            for v in self.verifications()
        )
        return EvolutionState(designs, sessions, verifications, elapsed_hours)
