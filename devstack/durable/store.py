"""SQLite persistence: instances, their history, and the work queues, in one WAL database.

Everything the engine must not forget across a crash lives here: the history of the current
execution of every instance, the orchestrator inbox (events not yet given to the orchestrator),
pending activity executions and pending timers. An episode's writes happen in one transaction
(``with store.tx():``), so after ``kill -9`` the database holds either the whole episode or none of
it, and the queues say exactly what is left to do.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.durable.history import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time REAL NOT NULL,
    last_updated_time REAL NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    parent_retry TEXT,
    next_task_id INTEGER NOT NULL DEFAULT 0,
    flat_ids TEXT NOT NULL DEFAULT '[]',
    actions_handled INTEGER NOT NULL DEFAULT 0,
    actions_scheduled INTEGER NOT NULL DEFAULT 0,
    episodes INTEGER NOT NULL DEFAULT 0,
    history_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created_time);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    retry TEXT
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, id);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    retry TEXT
);
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    timer_id INTEGER NOT NULL,
    fire_at REAL NOT NULL,
    fire_at_text TEXT NOT NULL,
    retry TEXT
);
CREATE INDEX IF NOT EXISTS timers_fire ON timers(fire_at);
"""

TERMINAL = ("Completed", "Failed", "Terminated")
CONTROL_KINDS = ("terminate", "suspend", "resume")


@dataclass
class Instance:
    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_time: float
    last_updated_time: float
    parent_instance_id: str | None
    parent_execution_id: str | None
    parent_task_id: int | None
    parent_retry: str | None
    next_task_id: int
    flat_ids: str
    actions_handled: int
    actions_scheduled: int
    episodes: int
    history_bytes: int

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class InboxRow:
    id: int
    instance_id: str
    execution_id: str | None
    kind: str
    event: Event
    retry: dict[str, Any] | None


@dataclass
class ActivityRow:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    retry: dict[str, Any] | None


def _loads_opt(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def json_text_or_none(value: Any) -> str | None:
    """A value for a nullable JSON text column: ``None`` stays SQL NULL."""
    return None if value is None else json.dumps(value)


class Store:
    """One connection, used only from the engine's event loop thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a process crash (kill -9); only an OS crash may lose the tail.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.executescript(SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing; nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    # -- instances -------------------------------------------------------------------------
    def get_instance(self, instance_id: str) -> Instance | None:
        row = self.conn.execute(
            "SELECT * FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return Instance(**dict(row)) if row else None

    def query_instances(
        self,
        created_from: float | None = None,
        created_to: float | None = None,
        statuses: list[str] | None = None,
        prefix: str | None = None,
    ) -> list[Instance]:
        sql = "SELECT * FROM instances WHERE 1=1"
        args: list[Any] = []
        if created_from is not None:
            sql += " AND created_time >= ?"
            args.append(created_from)
        if created_to is not None:
            sql += " AND created_time <= ?"
            args.append(created_to)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        if prefix:
            sql += " AND substr(instance_id, 1, ?) = ?"
            args.extend([len(prefix), prefix])
        sql += " ORDER BY created_time, instance_id"
        return [Instance(**dict(r)) for r in self.conn.execute(sql, args)]

    def update_instance(self, instance_id: str, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(
            f"UPDATE instances SET {cols} WHERE instance_id = ?",  # noqa: S608 - names are ours
            [*fields.values(), instance_id],
        )

    def insert_instance(self, inst: Instance) -> None:
        d = inst.__dict__
        self.conn.execute(
            f"INSERT OR REPLACE INTO instances ({', '.join(d)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(d))})",
            list(d.values()),
        )

    def delete_instance_data(self, instance_id: str, *, keep_row: bool = False) -> None:
        """Forget an instance's history and queued work (and the row unless ``keep_row``)."""
        for table in ("history", "inbox", "activities", "timers"):
            self.conn.execute(
                f"DELETE FROM {table} WHERE instance_id = ?",  # noqa: S608
                (instance_id,),
            )
        if not keep_row:
            self.conn.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))

    def drop_execution_work(self, instance_id: str) -> None:
        """An execution ended: its pending activities and timers will never be wanted."""
        self.conn.execute("DELETE FROM activities WHERE instance_id = ?", (instance_id,))
        self.conn.execute("DELETE FROM timers WHERE instance_id = ?", (instance_id,))

    # -- history ---------------------------------------------------------------------------
    def load_history(self, instance_id: str) -> list[Event]:
        rows = self.conn.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [json.loads(r[0]) for r in rows]

    def append_history(self, instance_id: str, start_seq: int, events: list[Event]) -> int:
        """Append events; returns the number of bytes written (for the metrics)."""
        size = 0
        for i, ev in enumerate(events):
            text = json.dumps(ev)
            size += len(text.encode())
            self.conn.execute(
                "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                (instance_id, start_seq + i, text),
            )
        return size

    def clear_history(self, instance_id: str) -> None:
        self.conn.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    # -- inbox -----------------------------------------------------------------------------
    def push_inbox(
        self,
        instance_id: str,
        execution_id: str | None,
        kind: str,
        ev: Event,
        retry: dict[str, Any] | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO inbox (instance_id, execution_id, kind, event, retry) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                instance_id,
                execution_id,
                kind,
                json.dumps(ev),
                json_text_or_none(retry),
            ),
        )

    def inbox_for(self, instance_id: str) -> list[InboxRow]:
        rows = self.conn.execute(
            "SELECT * FROM inbox WHERE instance_id = ? ORDER BY id", (instance_id,)
        )
        return [
            InboxRow(
                id=r["id"],
                instance_id=r["instance_id"],
                execution_id=r["execution_id"],
                kind=r["kind"],
                event=json.loads(r["event"]),
                retry=_loads_opt(r["retry"]),
            )
            for r in rows
        ]

    def delete_inbox(self, ids: list[int]) -> None:
        self.conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    def instances_with_work(self) -> list[str]:
        """Instances the orchestration dispatcher should look at (suspended ones only for
        control messages)."""
        rows = self.conn.execute(
            "SELECT DISTINCT b.instance_id FROM inbox b LEFT JOIN instances i "
            "ON i.instance_id = b.instance_id "
            "WHERE i.status IS NULL OR i.status != 'Suspended' "
            "OR b.kind IN ('terminate', 'suspend', 'resume')",
        )
        return [r[0] for r in rows]

    # -- activities ------------------------------------------------------------------------
    def add_activity(
        self,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_json: str | None,
        retry: dict[str, Any] | None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO activities (instance_id, execution_id, task_id, name, input, retry) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                instance_id,
                execution_id,
                task_id,
                name,
                input_json,
                json_text_or_none(retry),
            ),
        )

    def pending_activities(self, after_id: int) -> list[ActivityRow]:
        """Activity rows newer than ``after_id`` (ids only grow, so older ones were seen)."""
        rows = self.conn.execute("SELECT * FROM activities WHERE id > ? ORDER BY id", (after_id,))
        return [
            ActivityRow(
                id=r["id"],
                instance_id=r["instance_id"],
                execution_id=r["execution_id"],
                task_id=r["task_id"],
                name=r["name"],
                input=r["input"],
                retry=_loads_opt(r["retry"]),
            )
            for r in rows
        ]

    def take_activity(self, activity_id: int) -> bool:
        """Remove a finished activity's row; False if it was cancelled meanwhile."""
        cur = self.conn.execute("DELETE FROM activities WHERE id = ?", (activity_id,))
        return cur.rowcount > 0

    # -- timers ----------------------------------------------------------------------------
    def add_timer(
        self,
        instance_id: str,
        execution_id: str,
        timer_id: int,
        fire_at: float,
        fire_at_text: str,
        retry: dict[str, Any] | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO timers (instance_id, execution_id, timer_id, fire_at, fire_at_text, "
            "retry) VALUES (?, ?, ?, ?, ?, ?)",
            (
                instance_id,
                execution_id,
                timer_id,
                fire_at,
                fire_at_text,
                json_text_or_none(retry),
            ),
        )

    def cancel_timer(self, instance_id: str, execution_id: str, timer_id: int) -> None:
        self.conn.execute(
            "DELETE FROM timers WHERE instance_id = ? AND execution_id = ? AND timer_id = ?",
            (instance_id, execution_id, timer_id),
        )

    def due_timers(self, now: float) -> list[sqlite3.Row]:
        return list(
            self.conn.execute("SELECT * FROM timers WHERE fire_at <= ? ORDER BY fire_at", (now,))
        )

    def delete_timer(self, row_id: int) -> None:
        self.conn.execute("DELETE FROM timers WHERE id = ?", (row_id,))

    def next_timer_at(self) -> float | None:
        row = self.conn.execute("SELECT MIN(fire_at) FROM timers").fetchone()
        return None if row is None or row[0] is None else float(row[0])
