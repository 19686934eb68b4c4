"""Wake-ups between the client API, the episode runner and the dispatchers.

Every part that queues work sets the event of the dispatcher that runs it, and every committed
change wakes whoever waits for an instance to finish: the engine waits on events, it never polls.
"""

from __future__ import annotations

import asyncio


class Signals:
    """One engine's wake-up events; created once and shared by all of its parts."""

    def __init__(self) -> None:
        self.orchestrations = asyncio.Event()
        self.activities = asyncio.Event()
        self.timers = asyncio.Event()
        self._changed = asyncio.Event()

    @property
    def changed(self) -> asyncio.Event:
        """Set by the next ``notify_changed``: take it *before* reading the state you wait on."""
        return self._changed

    def notify_changed(self) -> None:
        """An instance changed: wake every waiter, and give later waiters a fresh event."""
        self._changed.set()
        self._changed = asyncio.Event()

    def wake_all(self) -> None:
        """Make every dispatcher look at its queue again."""
        self.orchestrations.set()
        self.activities.set()
        self.timers.set()
