"""Which Entra ID identity a connection uses, and the one place a credential is built for it.

The Functions host reads an identity-based connection from settings under the connection's
prefix (Microsoft Learn, "Common properties for identity-based connections"):

- ``<prefix>__credential``: ``managedidentity`` makes the host use the managed identity itself
  (``ManagedIdentityCredential``), the user-assigned one named by ``<prefix>__clientId`` or, with
  no client id, the system-assigned one. Only valid where a managed identity exists (Azure).
- without it, the host's default credential chain (the developer's identity locally, managed
  identity in Azure), which picks the user-assigned identity ``<prefix>__clientId`` names, else
  the one ``AZURE_CLIENT_ID`` names (azure-identity's own convention).

The app's own connections (Azure OpenAI tokens, ``IMAGES_STORAGE_ACCOUNT_URL``) have no prefix:
they use ``AZURE_CLIENT_ID``. Its Storage queues and any blob reached through the host's
``AzureWebJobsStorage__*`` settings use that connection's identity, as the host's queue trigger
does. ``shared.settings.Settings`` reads the settings and hands out ``Identity`` values; every
credential of the app is built by ``make_credential`` from one.

Nothing heavy is imported here: azure-identity loads when the first credential is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

# The host's storage connection: the queue trigger's binding names it, and the app's own queue
# clients (poison queue, results queue) use the same settings.
HOST_STORAGE = "AzureWebJobsStorage"
MANAGED_IDENTITY = "managedidentity"  # the one `<prefix>__credential` value the host defines


@dataclass(frozen=True)
class Identity:
    """How one connection obtains tokens. Hashable: clients of one identity share a credential."""

    # The connection's prefix (``AzureWebJobsStorage``), or ``AZURE_CLIENT_ID`` for the app's own
    # connections: named in logs and errors, never a secret.
    source: str
    client_id: str | None = None
    managed_identity_only: bool = False  # `<prefix>__credential` = managedidentity

    def __repr__(self) -> str:
        kind = "ManagedIdentityCredential" if self.managed_identity_only else "default chain"
        who = self.client_id or "system-assigned / developer identity"
        return f"Identity({self.source}: {kind}, {who})"


def make_credential(identity: Identity) -> AsyncTokenCredential:
    """An async azure-identity credential for ``identity``: ManagedIdentityCredential for
    ``credential=managedidentity``, else DefaultAzureCredential with the user-assigned client id.

    The client id is always passed explicitly (``None`` included): DefaultAzureCredential would
    otherwise read AZURE_CLIENT_ID from the environment behind the settings' back.
    """
    if identity.managed_identity_only:
        from azure.identity.aio import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=identity.client_id)
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=identity.client_id)
