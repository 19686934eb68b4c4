"""One orchestrator episode: the inbox of an instance in, one replay of the orchestrator, out.

An episode takes the events waiting for an instance (or one control message: terminate, suspend,
resume), builds the orchestration context the SDK replays, calls the orchestrator and has the
outcome recorded (``commit.py``). The dispatcher guarantees one episode per instance at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from azure.durable_functions.models.history import HistoryEventType

from devstack.durable import actions as A
from devstack.durable.commit import EpisodeRecorder
from devstack.durable.history import Event, event
from devstack.durable.invoker import FunctionInvoker
from devstack.durable.signals import Signals
from devstack.durable.store import CONTROL_KINDS, InboxRow, Instance, Store

log = logging.getLogger("devstack.durable")


class EpisodeRunner:
    """Runs episodes of any instance against one store."""

    def __init__(self, store: Store, invoker: FunctionInvoker, signals: Signals) -> None:
        self.store = store
        self.invoker = invoker
        self.signals = signals
        self.recorder = EpisodeRecorder(store, invoker.orchestrator_names)

    async def run(self, iid: str) -> bool:
        """Run one episode of ``iid``; False when there was nothing it could do yet."""
        st = self.store
        rows = st.inbox_for(iid)
        if not rows:
            return False
        inst = st.get_instance(iid)
        if inst is None or inst.terminal:
            with st.tx():
                st.delete_inbox([r.id for r in rows])
            return False
        stale = [r.id for r in rows if r.execution_id not in (None, inst.execution_id)]
        if stale:
            with st.tx():
                st.delete_inbox(stale)
            rows = [r for r in rows if r.id not in stale]
            if not rows:
                return False
        controls = [r for r in rows if r.kind in CONTROL_KINDS]
        if rows[0].kind in CONTROL_KINDS or (inst.status == "Suspended" and controls):
            self._apply_control(inst, controls[0])
            return True
        if inst.status == "Suspended":
            return False
        batch = self._pick_batch(rows)
        if not batch:
            return False
        old = st.load_history(iid)
        if not old and batch[0].event["EventType"] != HistoryEventType.EXECUTION_STARTED:
            # Events that arrived before a fresh execution started wait for its first episode.
            return False
        for ev in old:
            ev["IsPlayed"] = True
        now = time.time()
        started = event(HistoryEventType.ORCHESTRATOR_STARTED, now)
        new_events = [started] + [r.event for r in batch]
        context = {
            "history": old + new_events,
            "input": inst.input,
            "instanceId": iid,
            "isReplaying": bool(old),
            "parentInstanceId": inst.parent_instance_id,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
        try:
            outcome = A.parse_result(
                await self.invoker.run_orchestrator(inst.name, json.dumps(context))
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = A.parse_failure(exc)
        try:
            with st.tx():
                self.recorder.commit(inst, batch, old, new_events, outcome, now)
        except Exception as exc:  # an action the engine cannot digest: fail loudly, not hang
            log.exception("durable: episode of %s could not be recorded", iid)
            with st.tx():
                self.recorder.commit(
                    inst,
                    batch,
                    old,
                    new_events,
                    A.Outcome(error=f"devstack Durable engine error: {type(exc).__name__}: {exc}"),
                    now,
                )
        self.signals.wake_all()
        self.signals.notify_changed()
        return True

    @staticmethod
    def _pick_batch(rows: list[InboxRow]) -> list[InboxRow]:
        """Events for one episode: a retry event alone, else every event up to the next one."""
        first = rows[0]
        if first.retry is not None:
            return [first]
        batch: list[InboxRow] = []
        for row in rows:
            if row.kind in CONTROL_KINDS or row.retry is not None:
                break
            batch.append(row)
        # history[1] must be ExecutionStarted: it goes first in a fresh execution's first episode.
        batch.sort(key=lambda r: r.event["EventType"] != HistoryEventType.EXECUTION_STARTED)
        return batch

    def _apply_control(self, inst: Instance, row: InboxRow) -> None:
        """Terminate, suspend or resume ``inst`` without calling the orchestrator."""
        st = self.store
        now = time.time()
        reason = str(row.event.get("reason") or "")
        with st.tx():
            st.delete_inbox([row.id])
            history_len = len(st.load_history(inst.instance_id))
            events: list[Event] = []
            fields: dict[str, Any] = {"last_updated_time": now}
            if row.kind == "terminate":
                events = [
                    event(HistoryEventType.ORCHESTRATOR_STARTED, now),
                    event(HistoryEventType.EXECUTION_TERMINATED, now, Input=json.dumps(reason)),
                    event(
                        HistoryEventType.EXECUTION_COMPLETED,
                        now,
                        OrchestrationStatus="Terminated",
                        Result=json.dumps(reason),
                    ),
                    event(HistoryEventType.ORCHESTRATOR_COMPLETED, now),
                ]
                fields.update(status="Terminated", output=json.dumps(reason))
                self.recorder.finish(
                    inst,
                    completed=False,
                    result=f"Sub-orchestration '{inst.instance_id}' was terminated: {reason}",
                    details=reason,
                )
                st.delete_inbox([r.id for r in st.inbox_for(inst.instance_id)])
            elif row.kind == "suspend" and inst.status in ("Running", "Pending"):
                events = [event(HistoryEventType.EXECUTION_SUSPENDED, now, Reason=reason)]
                fields["status"] = "Suspended"
            elif row.kind == "resume" and inst.status == "Suspended":
                events = [event(HistoryEventType.EXECUTION_RESUMED, now, Reason=reason)]
                fields["status"] = "Running"
            if events:
                written = st.append_history(inst.instance_id, history_len, events)
                fields["history_bytes"] = inst.history_bytes + written
            st.update_instance(inst.instance_id, **fields)
        self.signals.orchestrations.set()
        self.signals.notify_changed()
