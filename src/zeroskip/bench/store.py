"""The results store: one SQLite file holding every benchmark run, workload and result row.

Tables (JSON columns hold canonical JSON text):

- ``runs``: one row per invocation of the suite: ``run_id``, ``started``/``finished`` (ISO UTC),
  ``command``, ``preset``, ``machine`` (JSON: CPU, cores, memory, versions, commit, measured copy
  bandwidth and dense GEMM rate), ``arch`` and ``energy_table`` (names) and ``settings`` (JSON).
- ``workloads``: ``name`` (primary key), ``family`` (``kernel``, ``sweep``, ``dnn``, ``gcn``,
  ``mlp``, ``minilm``), ``description``, ``params`` (JSON) and ``info`` (JSON: shapes, nnz,
  sparsity, spy grids of the operands).
- ``results``: one row per (workload, backend, configuration, run). ``config`` is the JSON of
  everything that decides the number (threads, architecture and energy table with their content
  hashes, the workload's parameters); ``config_hash`` its SHA-256. ``status`` is ``ok``,
  ``failed`` (``error`` says why) or ``skipped`` (``error`` gives the reason). ``kind`` is
  ``measured`` or ``modelled``. Metric columns: ``seconds`` (median latency of one run),
  ``energy_j`` and ``energy_method`` (``rapl``, ``estimate: ...`` or ``model``), ``throughput``
  with ``throughput_unit``, ``accuracy``, ``edp`` (J*s), ``flops`` and ``bytes`` of one run (for
  the roofline); ``metrics`` (JSON) holds the rest: samples, cycles, energy by category, per-layer
  tables, tile utilization.
- ``points``: one row per point of a design-space sweep (``zeroskip.sweep``), keyed by the hash of
  its full configuration (``params``, JSON): ``status`` ``ok``, ``failed``, ``timeout`` or
  ``memory``; ``seconds``, ``cycles`` and ``energy_j`` as modelled; ``metrics`` (JSON); ``wall_s``
  (how long the simulation took). A point is written once: a second write of a key is ignored.

Every row is written in its own transaction, so an interrupted run keeps everything it finished.
A result counts as done when an ``ok`` row with the same (workload, backend, config_hash) exists:
a rerun skips it unless asked to redo, and then adds a new row under the new run (the report reads
the newest row of each key).

Example:
    >>> import tempfile, os
    >>> with ResultStore(os.path.join(tempfile.mkdtemp(), "r.db")) as store:
    ...     run = store.begin_run(command="doctest", preset="demo", machine={"cpu": "x"})
    ...     store.put(Result("spmv/west0067", "kernel", "scipy", {"threads": 1}, kind="measured",
    ...                      seconds=1e-5, energy_j=6.5e-4, energy_method="estimate"), run)
    ...     store.done("spmv/west0067", "scipy", {"threads": 1}), len(store.results())
    (True, 1)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from zeroskip.errors import ZeroskipError

DEFAULT_DB = "zeroskip-results.db"
SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "skipped")
KINDS = ("measured", "modelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL, finished TEXT, command TEXT, preset TEXT,
    machine TEXT NOT NULL DEFAULT '{}', arch TEXT, energy_table TEXT, settings TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS workloads (
    name TEXT PRIMARY KEY, family TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}', info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    workload TEXT NOT NULL, family TEXT NOT NULL, backend TEXT NOT NULL,
    config TEXT NOT NULL, config_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'skipped')),
    kind TEXT NOT NULL CHECK (kind IN ('measured', 'modelled')),
    seconds REAL, energy_j REAL, energy_method TEXT, throughput REAL, throughput_unit TEXT,
    accuracy REAL, edp REAL, flops REAL, bytes REAL,
    metrics TEXT NOT NULL DEFAULT '{}', error TEXT, created TEXT NOT NULL,
    UNIQUE (workload, backend, config_hash, run_id)
);
CREATE INDEX IF NOT EXISTS results_key ON results (workload, backend, config_hash, status);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY, sweep TEXT NOT NULL, params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout', 'memory')),
    seconds REAL, cycles INTEGER, energy_j REAL, metrics TEXT NOT NULL DEFAULT '{}', error TEXT, wall_s REAL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_sweep ON points (sweep);
"""


class StoreError(ZeroskipError):
    """The results database cannot be opened or holds something this version cannot read."""


def jsonable(value: Any) -> Any:
    """``value`` in JSON's types: numpy scalars and arrays unwrapped, tuples as lists, paths as text,
    NaN and infinities as null (strict JSON has neither).

    Example:
        >>> import numpy as np
        >>> jsonable({"n": np.int64(3), "x": float("nan"), "s": (1, 2)})
        {'n': 3, 'x': None, 's': [1, 2]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, PurePath):
        return str(value)
    return value


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces; NaN and infinities become null)."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"))


def config_hash(workload: str, backend: str, config: dict) -> str:
    """SHA-256 of a result's identity: workload, backend and configuration."""
    return hashlib.sha256(canonical([workload, backend, config]).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Result:
    """One result row before it is stored (see the module docstring for the fields)."""

    workload: str
    family: str
    backend: str
    config: dict
    kind: str = "measured"
    status: str = "ok"
    seconds: float | None = None
    energy_j: float | None = None
    energy_method: str | None = None
    throughput: float | None = None
    throughput_unit: str | None = None
    accuracy: float | None = None
    flops: float | None = None
    bytes: float | None = None
    metrics: dict = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise StoreError(f"result status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.kind not in KINDS:
            raise StoreError(f"result kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def edp(self) -> float | None:
        """Energy-delay product in joule-seconds."""
        return None if self.seconds is None or self.energy_j is None else self.seconds * self.energy_j

    def to_dict(self) -> dict:
        """The row as a JSON-ready dict (what a worker process sends to the parent)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class ResultStore:
    """A results database; open with a path (created if missing). Use as a context manager."""

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.row_factory = sqlite3.Row
            with self._db:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            version = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open results database {self.path}: {exc}") from exc
        if int(version) != SCHEMA_VERSION:
            raise StoreError(f"results database {self.path} has schema version {version}; "
                             f"this zeroskip reads version {SCHEMA_VERSION}")

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def begin_run(self, *, command: str = "", preset: str = "", machine: dict | None = None, arch: str = "",
                  energy_table: str = "", settings: dict | None = None) -> int:
        """Record the start of a run; returns its ``run_id``."""
        with self._db:
            cur = self._db.execute(
                "INSERT INTO runs (started, command, preset, machine, arch, energy_table, settings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_now(), command, preset, canonical(machine or {}), arch, energy_table, canonical(settings or {})))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int) -> None:
        with self._db:
            self._db.execute("UPDATE runs SET finished=? WHERE run_id=?", (_now(), run_id))

    def put_workload(self, name: str, family: str, description: str = "", params: dict | None = None,
                     info: dict | None = None) -> None:
        """Insert or replace a workload's description."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO workloads VALUES (?, ?, ?, ?, ?)",
                             (name, family, description, canonical(params or {}), canonical(info or {})))

    def put(self, result: Result, run_id: int) -> None:
        """Write one result row in its own transaction (a repeat within the same run replaces it)."""
        r = result
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO results (run_id, workload, family, backend, config, config_hash, status, kind, "
                "seconds, energy_j, energy_method, throughput, throughput_unit, accuracy, edp, flops, bytes, metrics, "
                "error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, r.workload, r.family, r.backend, canonical(r.config), config_hash(r.workload, r.backend, r.config),
                 r.status, r.kind, _num(r.seconds), _num(r.energy_j), r.energy_method, _num(r.throughput),
                 r.throughput_unit, _num(r.accuracy), _num(r.edp), _num(r.flops), _num(r.bytes),
                 canonical(r.metrics), r.error, _now()))

    def done(self, workload: str, backend: str, config: dict) -> bool:
        """Whether an ``ok`` row of this (workload, backend, config) exists."""
        row = self._db.execute("SELECT 1 FROM results WHERE workload=? AND backend=? AND config_hash=? AND status='ok'",
                               (workload, backend, config_hash(workload, backend, config))).fetchone()
        return row is not None

    def put_points(self, rows: list[dict], params: dict[str, dict]) -> int:
        """Write sweep points in one transaction (a key already there is kept as it is); returns rows written."""
        with self._db:
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO points (key, sweep, params, status, seconds, cycles, energy_j, metrics, error, "
                "wall_s, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r["key"], params[r["key"]]["sweep"], canonical(params[r["key"]]), r["status"], _num(r.get("seconds")),
                  r.get("cycles"), _num(r.get("energy_j")), canonical(r.get("metrics") or {}), r.get("error"),
                  _num(r.get("wall_s")), _now()) for r in rows])
            return self._db.total_changes - before

    def point_keys(self, sweep: str) -> set[str]:
        """Keys of the points of ``sweep`` already stored (any status: a stored point is finished)."""
        return {row[0] for row in self._db.execute("SELECT key FROM points WHERE sweep=?", (sweep,))}

    def points(self, sweep: str | None = None) -> list[dict]:
        """Sweep points as dicts (``params`` and ``metrics`` decoded), of one sweep or all."""
        query, args = ("SELECT * FROM points WHERE sweep=? ORDER BY rowid", (sweep,)) if sweep else \
            ("SELECT * FROM points ORDER BY rowid", ())
        return [_decode(row) for row in self._db.execute(query, args)]

    def forget_sweep(self, sweep: str) -> int:
        """Delete the points of ``sweep`` (to run it again from scratch); returns how many."""
        with self._db:
            return self._db.execute("DELETE FROM points WHERE sweep=?", (sweep,)).rowcount

    def runs(self) -> list[dict]:
        return [_decode(row) for row in self._db.execute("SELECT * FROM runs ORDER BY run_id")]

    def workloads(self) -> dict[str, dict]:
        return {row["name"]: _decode(row) for row in self._db.execute("SELECT * FROM workloads ORDER BY name")}

    def results(self, *, latest: bool = True) -> list[dict]:
        """Result rows as dicts (JSON columns decoded); with ``latest``, only the newest row of each key."""
        query = "SELECT * FROM results"
        if latest:
            query += (" WHERE id IN (SELECT MAX(id) FROM results GROUP BY workload, backend, config_hash)")
        return [_decode(row) for row in self._db.execute(query + " ORDER BY id")]


def _num(value: float | None) -> float | None:
    """A finite float or None (SQLite stores NaN as NULL anyway; infinities are not metrics)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _decode(row: sqlite3.Row) -> dict:
    out = dict(row)
    for key in ("machine", "settings", "params", "info", "config", "metrics"):
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out
