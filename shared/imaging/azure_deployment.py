"""Azure's deployment route: `/openai/deployments/{d}/images/generations?api-version=`.

Serves DALL-E 3, the gpt-image family and synchronous dall-e-2; the family decides the body.
"""

from __future__ import annotations

from urllib.parse import quote

from shared.imaging.base import SyncGenerationClient
from shared.imaging.types import Flavour


class AzureDeploymentClient(SyncGenerationClient):
    flavour = Flavour.AZURE_DEPLOYMENT

    def _url(self) -> str:
        if not self.deployment.api_version:
            raise ValueError(f"deployment {self.deployment.name!r} needs an api_version")
        return (
            f"{self.endpoint}/openai/deployments/{quote(self.deployment.deployment, safe='')}"
            f"/images/generations?api-version={quote(self.deployment.api_version, safe='')}"
        )
