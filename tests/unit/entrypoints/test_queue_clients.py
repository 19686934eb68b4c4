"""Identity-based queue connections: the credential is built once, not per message."""

from __future__ import annotations

from shared.notify.queues import queue_client
from shared.settings import load_settings

IDENTITY = load_settings(
    {
        "AzureWebJobsStorage__accountName": "contosoimages",
        "IMAGES_STORAGE_ACCOUNT_URL": "https://contosoimages.blob.core.windows.net",
        "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
        "IMAGE_REQUESTS_QUEUE": "image-requests",
    }
)


async def test_identity_based_clients_share_one_credential():
    # A queue client's close does not close its credential: one per poison or result message
    # would leak an HTTP session each time.
    first = queue_client("image-requests-poison", IDENTITY)
    second = queue_client("image-results", IDENTITY)
    try:
        assert first.url.startswith("https://contosoimages.queue.core.windows.net/")
        assert first.credential is second.credential
    finally:
        await first.close()
        await second.close()
