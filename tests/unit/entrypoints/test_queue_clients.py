"""Identity-based queue connections: the credential is built once, not per message."""

from __future__ import annotations

from shared.notify.queues import queue_client

IDENTITY = {"AzureWebJobsStorage__accountName": "contosoimages"}


async def test_identity_based_clients_share_one_credential():
    # A queue client's close does not close its credential: one per poison or result message
    # would leak an HTTP session each time.
    first = queue_client("image-requests-poison", env=IDENTITY)
    second = queue_client("image-results", env=IDENTITY)
    try:
        assert first.url.startswith("https://contosoimages.queue.core.windows.net/")
        assert first.credential is second.credential
    finally:
        await first.close()
        await second.close()
