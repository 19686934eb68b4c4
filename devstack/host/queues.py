"""Storage queue triggers, run as the Functions host runs them.

Each queue-triggered function gets a listener that polls its queue in Azurite (short backoff, so a
new message starts within about a second), hides what it takes for a lease it keeps renewing while
the function runs, decodes base64 per host.json ``messageEncoding``, deletes the message on
success, makes it visible again after ``visibilityTimeout`` on failure, and once it has been
dequeued ``maxDequeueCount`` times moves it, unchanged, to ``{queue}-poison`` (a message that is
not base64 although it should be goes there at once: no retry could decode it). Nothing is lost: a
message is deleted only after its function succeeded or after its copy sits in the poison queue.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import re
from collections.abc import Mapping

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.functions.queue import QueueMessage as FunctionsQueueMessage
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from devstack.host.loader import FunctionSpec, LoadedApp
from devstack.host.settings import QueueSettings

log = logging.getLogger("devstack.host.queues")

_SETTING_REF = re.compile(r"%([^%]+)%")


class BadMessageEncoding(ValueError):
    """The message text is not base64 although host.json says messages are."""


def resolve_setting_refs(text: str, env: Mapping[str, str]) -> str:
    """``%NAME%`` binding expressions replaced by app settings, as the host does."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in env:
            raise KeyError(f"app setting {m.group(1)} (referenced as %{m.group(1)}%) is not set")
        return env[m.group(1)]

    return _SETTING_REF.sub(sub, text)


def connection_string(setting: str | None, env: Mapping[str, str]) -> str:
    """The connection a binding names: the setting, or AzureWebJobs<setting>, or the default."""
    name = setting or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        value = env.get(candidate)
        if value:
            return value
    raise KeyError(f"connection setting {name} is not set")


_BASE64_WHITESPACE = str.maketrans("", "", " \t\r\n")


def decode_body(text: str, encoding: str) -> bytes:
    """The bytes the function gets. Like .NET's ``Convert.FromBase64String`` (what the host
    uses), whitespace is ignored: ``base64`` without ``-w0`` wraps lines, and Azure reads that.
    """
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text.translate(_BASE64_WHITESPACE), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadMessageEncoding(
            "message is not valid base64 (host.json extensions.queues.messageEncoding is base64)"
        ) from exc


class QueueListener:
    """Polls one queue for one function."""

    def __init__(
        self,
        app: LoadedApp,
        spec: FunctionSpec,
        settings: QueueSettings,
        *,
        env: Mapping[str, str] | None = None,
        lease_seconds: int = 60,
    ) -> None:
        environ = os.environ if env is None else env
        self.app = app
        self.spec = spec
        self.settings = settings
        self.queue_name = resolve_setting_refs(str(spec.trigger["queueName"]), environ).lower()
        self.poison_name = f"{self.queue_name}-poison"
        self._conn = connection_string(spec.trigger.get("connection"), environ)
        self.lease_seconds = lease_seconds
        self._client: QueueClient | None = None
        self._poison: QueueClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._client = QueueClient.from_connection_string(self._conn, self.queue_name)
        self._poison = QueueClient.from_connection_string(self._conn, self.poison_name)
        with contextlib.suppress(ResourceExistsError):
            await self._client.create_queue()
        self._task = asyncio.create_task(self._run(), name=f"queue-{self.queue_name}")
        log.info("listening on queue %s for %s", self.queue_name, self.spec.name)

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Stop fetching; give running functions a moment to finish, as the host does."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=drain_seconds)
            for task in pending:  # their messages come back when the lease runs out
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for client in (self._client, self._poison):
            if client is not None:
                await client.close()

    async def _run(self) -> None:
        """Fetch a batch whenever no more than ``batchSize / 2`` messages are still running.

        That is the host's ``newBatchThreshold``: a slow message never holds up the queue.
        """
        assert self._client is not None
        idle = 0.05
        threshold = self.settings.batch_size // 2
        while True:
            if len(self._inflight) > threshold:
                await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                batch = [
                    m
                    async for m in self._client.receive_messages(
                        messages_per_page=self.settings.batch_size,
                        max_messages=self.settings.batch_size,
                        visibility_timeout=self.lease_seconds,
                    )
                ]
            except AzureError as exc:
                log.warning("polling %s failed: %s", self.queue_name, exc)
                batch = []
            for message in batch:
                task = asyncio.create_task(self._process(message))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if batch:
                idle = 0.05
            else:
                await asyncio.sleep(idle)
                idle = min(idle * 2, self.settings.max_polling_interval)

    async def _renew(self, message: QueueMessage, receipt: list[str]) -> None:
        """Keep the message hidden while its function runs (the host's lease renewal)."""
        assert self._client is not None
        while True:
            await asyncio.sleep(self.lease_seconds / 2)
            updated = await self._client.update_message(
                message.id, pop_receipt=receipt[0], visibility_timeout=self.lease_seconds
            )
            receipt[0] = str(updated.pop_receipt)

    async def _to_poison(self, message: QueueMessage, text: str, receipt: str) -> None:
        """Copy the message, unchanged, to the poison queue; then delete the original."""
        assert self._client is not None
        assert self._poison is not None
        with contextlib.suppress(ResourceExistsError):
            await self._poison.create_queue()
        await self._poison.send_message(text)
        await self._client.delete_message(message.id, receipt)

    async def _process(self, message: QueueMessage) -> None:
        assert self._client is not None
        receipt = [str(message.pop_receipt)]
        text = message.content if isinstance(message.content, str) else str(message.content)
        if (message.dequeue_count or 0) > self.settings.max_dequeue_count:
            # Dequeued too often already (its runs died with their host): poison, as the host does.
            log.error(
                "message %s was dequeued %d times; moving it to %s",
                message.id,
                message.dequeue_count,
                self.poison_name,
            )
            with contextlib.suppress(AzureError):
                await self._to_poison(message, text, receipt[0])
            return
        try:
            body = decode_body(text, self.settings.message_encoding)
        except BadMessageEncoding as exc:
            # No retry can decode it: poison at once, without running the function, as the
            # Storage extension 5.x does.
            log.error(
                "message %s (dequeue count %d) cannot be decoded: %s; moving it to %s",
                message.id,
                message.dequeue_count or 1,
                exc,
                self.poison_name,
            )
            with contextlib.suppress(AzureError):
                await self._to_poison(message, text, receipt[0])
            return
        renew = asyncio.create_task(self._renew(message, receipt))
        error: BaseException | None = None
        try:
            trigger = FunctionsQueueMessage(
                id=message.id,
                body=body,
                dequeue_count=message.dequeue_count,
                expiration_time=message.expires_on,
                insertion_time=message.inserted_on,
                time_next_visible=message.next_visible_on,
                pop_receipt=receipt[0],
            )
            await self.app.call(self.spec, trigger)
        except Exception as exc:
            error = exc
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError, AzureError):
                await renew
        try:
            if error is None:
                await self._client.delete_message(message.id, receipt[0])
                return
            count = message.dequeue_count or 1
            if count >= self.settings.max_dequeue_count:
                log.error(
                    "message %s failed %d times (%s); moving it to %s",
                    message.id,
                    count,
                    error,
                    self.poison_name,
                )
                await self._to_poison(message, text, receipt[0])
            else:
                log.warning(
                    "message %s failed (attempt %d of %d): %s",
                    message.id,
                    count,
                    self.settings.max_dequeue_count,
                    error,
                )
                await self._client.update_message(
                    message.id,
                    pop_receipt=receipt[0],
                    visibility_timeout=int(self.settings.visibility_timeout),
                )
        except AzureError as exc:
            # The lease runs out and the message comes back: nothing is lost.
            log.warning("settling message %s on %s failed: %s", message.id, self.queue_name, exc)
