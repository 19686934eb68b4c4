"""Azure's deployment route: `/openai/deployments/{d}/images/generations?api-version=`, and
`.../images/edits` (multipart) for edits.

Serves DALL-E 3, the gpt-image family, synchronous dall-e-2 and FLUX on Foundry's Image API;
the family decides the body.
"""

from __future__ import annotations

from urllib.parse import quote

from shared.imaging.base import SyncGenerationClient
from shared.imaging.types import Flavour


class AzureDeploymentClient(SyncGenerationClient):
    flavour = Flavour.AZURE_DEPLOYMENT

    def _url(self, *, edit: bool = False) -> str:
        if not self.deployment.api_version:
            raise ValueError(f"deployment {self.deployment.name!r} needs an api_version")
        route = "edits" if edit else "generations"
        return (
            f"{self.endpoint}/openai/deployments/{quote(self.deployment.deployment, safe='')}"
            f"/images/{route}?api-version={quote(self.deployment.api_version, safe='')}"
        )
