"""The engine's three workers on one event loop: orchestration episodes, activities, timers.

Each loop sleeps on its wake-up event (``signals.py``) and reads its queue from the store when
woken, so work queued before a crash is found again on the first pass after ``start()``. The
timer loop sleeps until the earliest ``fireAt``; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import traceback
from collections.abc import Coroutine
from typing import Any

from azure.durable_functions.models.history import HistoryEventType

from devstack.durable.episode import EpisodeRunner
from devstack.durable.history import event
from devstack.durable.invoker import FunctionInvoker
from devstack.durable.signals import Signals
from devstack.durable.store import ActivityRow, Store

log = logging.getLogger("devstack.durable")


class Dispatcher:
    """Runs queued work from one store until stopped; one instance per ``DurableEngine.start()``."""

    def __init__(
        self,
        store: Store,
        invoker: FunctionInvoker,
        signals: Signals,
        *,
        max_concurrent_activities: int,
        max_concurrent_orchestrations: int,
    ) -> None:
        self.store = store
        self.invoker = invoker
        self.signals = signals
        self.episodes = EpisodeRunner(store, invoker, signals)
        self._orch_sem = asyncio.Semaphore(max_concurrent_orchestrations)
        self._act_sem = asyncio.Semaphore(max_concurrent_activities)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._running_instances: set[str] = set()
        self._broken: set[str] = set()
        self._activity_cursor = 0

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._orchestration_loop(), name="durable-orchestrations"),
            asyncio.create_task(self._activity_loop(), name="durable-activities"),
            asyncio.create_task(self._timer_loop(), name="durable-timers"),
        ]
        self.signals.wake_all()

    async def stop(self) -> None:
        """Cancel the loops and every episode and activity still running."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(BaseException):
                await task
        self._loops = []
        self._tasks.clear()
        self._running_instances.clear()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ orchestrations
    async def _orchestration_loop(self) -> None:
        wake = self.signals.orchestrations
        while True:
            wake.clear()
            for iid in self.store.instances_with_work():
                if iid in self._running_instances or iid in self._broken:
                    continue
                self._running_instances.add(iid)
                self._spawn(self._drive_instance(iid))
            await wake.wait()

    async def _drive_instance(self, iid: str) -> None:
        progressed_once = False
        try:
            while True:
                async with self._orch_sem:
                    progressed = await self.episodes.run(iid)
                if not progressed:
                    break
                progressed_once = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("durable engine: instance %s is stuck after an internal error", iid)
            self._broken.add(iid)
        finally:
            self._running_instances.discard(iid)
            # Events that arrived while this driver ran were skipped by the dispatcher: look
            # again. (With no progress there is no await between the last read and here.)
            if progressed_once:
                self.signals.orchestrations.set()

    # ------------------------------------------------------------------ activities
    async def _activity_loop(self) -> None:
        wake = self.signals.activities
        while True:
            wake.clear()
            for row in self.store.pending_activities(self._activity_cursor):
                self._activity_cursor = max(self._activity_cursor, row.id)
                self._spawn(self._run_activity(row))
            await wake.wait()

    async def _run_activity(self, row: ActivityRow) -> None:
        retry = None
        async with self._act_sem:
            try:
                result = await self.invoker.run_activity(row.name, row.input)
                ev = event(
                    HistoryEventType.TASK_COMPLETED, time.time(), TaskScheduledId=row.task_id
                )
                ev["Result"] = result
            except Exception as exc:
                ev = event(
                    HistoryEventType.TASK_FAILED,
                    time.time(),
                    TaskScheduledId=row.task_id,
                    Reason=f"Activity function '{row.name}' failed: {type(exc).__name__}: {exc}",
                    Details="".join(traceback.format_exception(exc)),
                )
                retry = row.retry
        with self.store.tx():
            if self.store.take_activity(row.id):
                self.store.push_inbox(row.instance_id, row.execution_id, "event", ev, retry)
        self.signals.orchestrations.set()

    # ------------------------------------------------------------------ timers
    async def _timer_loop(self) -> None:
        wake = self.signals.timers
        while True:
            wake.clear()
            now = time.time()
            due = self.store.due_timers(now)
            if due:
                with self.store.tx():
                    for row in due:
                        self.store.delete_timer(row["id"])
                        self.store.push_inbox(
                            row["instance_id"],
                            row["execution_id"],
                            "event",
                            event(
                                HistoryEventType.TIMER_FIRED,
                                now,
                                TimerId=row["timer_id"],
                                FireAt=row["fire_at_text"],
                            ),
                            None if row["retry"] is None else json.loads(row["retry"]),
                        )
                self.signals.orchestrations.set()
            nxt = self.store.next_timer_at()
            timeout = None if nxt is None else max(0.0, nxt - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
