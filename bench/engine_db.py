"""Read-only view of the local Durable engine's SQLite database (``<data-dir>/durable.sqlite``).

The engine keeps, per instance, how many actions it scheduled and how many bytes of history it
wrote — what Durable Task Scheduler bills by and what every replay re-reads — plus the history
itself. Benchmarks and reliability tests read them here, never write: a read-only URI connection
cannot disturb the running host.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.durable_functions.models.history import HistoryEventType

ENGINE_DB_NAME = "durable.sqlite"
# The engine stores the SDK's own event numbers; scenarios compare stored events with this name.
TASK_SCHEDULED = HistoryEventType.TASK_SCHEDULED
# What a base64-encoded image starts with: PNG, JPEG, WEBP (RIFF), GIF.
IMAGE_B64_SIGNATURES = ("iVBORw0KGgo", "/9j/", "UklGR", "R0lGOD")


@dataclass(frozen=True)
class InstanceMetrics:
    instance_id: str
    status: str
    actions_scheduled: int
    history_bytes: int
    episodes: int
    created_time: float
    last_updated_time: float


class EngineDb:
    """The engine database of one host data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / ENGINE_DB_NAME

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        with closing(conn):
            yield conn

    def exists(self) -> bool:
        return self.path.exists()

    def instance_ids(self) -> list[str]:
        if not self.exists():
            return []
        with self._conn() as c:
            return [r[0] for r in c.execute("SELECT instance_id FROM instances")]

    def statuses(self) -> dict[str, str]:
        if not self.exists():
            return {}
        with self._conn() as c:
            return {r[0]: r[1] for r in c.execute("SELECT instance_id, status FROM instances")}

    def metrics(self, instance_id: str) -> InstanceMetrics | None:
        with self._conn() as c:
            row = c.execute(
                "SELECT instance_id, status, actions_scheduled, history_bytes, episodes, "
                "created_time, last_updated_time FROM instances WHERE instance_id = ?",
                (instance_id,),
            ).fetchone()
        return None if row is None else InstanceMetrics(**dict(row))

    def completed_times(self, instance_ids: Iterable[str | None]) -> list[float]:
        """When each of these instances reached Completed (the engine's own clock); instances
        not (yet) Completed are left out."""
        times = []
        for instance_id in instance_ids:
            m = self.metrics(instance_id) if instance_id else None
            if m is not None and m.status == "Completed":
                times.append(m.last_updated_time)
        return times

    def _raw_events(self, instance_id: str) -> list[str]:
        with self._conn() as c:
            rows = c.execute(
                "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self._raw_events(instance_id)]

    def history_text(self, instance_id: str) -> str:
        return "\n".join(self._raw_events(instance_id))

    def all_history_text(self) -> str:
        """Every stored history event and instance input/output/custom status, for secret and
        image-byte scans."""
        if not self.exists():
            return ""
        with self._conn() as c:
            events = [r[0] for r in c.execute("SELECT event FROM history")]
            rows = c.execute("SELECT input, output, custom_status FROM instances").fetchall()
        parts = events + [v for row in rows for v in row if v]
        return "\n".join(parts)


def image_signatures_in(text: str) -> list[str]:
    """The base64 image signatures found in ``text`` (empty when there are none)."""
    return [sig for sig in IMAGE_B64_SIGNATURES if sig in text]


def scheduled_names(events: list[dict[str, Any]]) -> list[str]:
    """Names of the activities scheduled, in order (one per attempt)."""
    return [str(e.get("Name")) for e in events if e.get("EventType") == TASK_SCHEDULED]
