"""Storage-queue clients for the app's own queues, framed the way the Functions host expects.

The Functions queue trigger reads message text as base64 by default (host.json
``extensions.queues.messageEncoding``) while the v12 Storage SDK sends raw text unless told
otherwise: a message sent without ``TextBase64EncodePolicy`` is unreadable to the host and ends in
the poison queue with no reason. Every message this app writes therefore goes through the policy
below, and readers of our queues (tests, batch jobs) decode with the matching one.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared import identity

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.storage.queue.aio import QueueClient

    from shared.settings import Settings

# The connection the queue trigger's binding names: its poison queue and the results queue live
# on the same account, reached with the same settings.
STORAGE_SETTING = identity.HOST_STORAGE


class QueueConnectionError(RuntimeError):
    """No usable Storage connection setting: the message names the settings looked for."""


def queue_client(queue_name: str, settings: Settings) -> QueueClient:
    """An async client for ``queue_name`` on the account of the host's storage
    (``AzureWebJobsStorage``).

    Accepts both shapes the Functions host accepts: a connection string, or an identity-based
    connection (``AzureWebJobsStorage__queueServiceUri`` or ``__accountName``) with that
    connection's identity (``__credential`` / ``__clientId``, else AZURE_CLIENT_ID: see
    ``Settings.storage_identity``), so a deployment without keys works too.
    """
    from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    policies: dict[str, Any] = {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": TextBase64DecodePolicy(),
    }
    conn = (settings.azure_webjobs_storage or "").strip()
    if conn:
        return QueueClient.from_connection_string(conn, queue_name, **policies)
    account_url = settings.queue_service_url
    if not account_url:
        raise QueueConnectionError(
            f"app setting {STORAGE_SETTING} (or {STORAGE_SETTING}__queueServiceUri / "
            f"{STORAGE_SETTING}__accountName) is missing"
        )
    credential = _shared_credential(settings.storage_identity)
    return QueueClient(account_url, queue_name, credential=credential, **policies)


_credentials: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[identity.Identity, AsyncTokenCredential]
] = weakref.WeakKeyDictionary()


def _shared_credential(who: identity.Identity) -> AsyncTokenCredential:
    """One credential per identity and event loop, reused by every queue client: a client's
    close does not close its credential, so one per message would leak a session each time."""
    per_identity = _credentials.setdefault(asyncio.get_running_loop(), {})
    credential = per_identity.get(who)
    if credential is None:
        credential = per_identity[who] = identity.make_credential(who)
    return credential


async def send_text(client: QueueClient, text: str, *, time_to_live: int | None = None) -> str:
    """Send one message (base64-framed by the client's policy), creating the queue on first use.

    Returns the new message's id.
    """
    try:
        sent = await client.send_message(text, time_to_live=time_to_live)
    except ResourceNotFoundError:
        with contextlib.suppress(ResourceExistsError):
            await client.create_queue()
        sent = await client.send_message(text, time_to_live=time_to_live)
    return str(sent.id)
