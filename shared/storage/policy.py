"""Which source URLs `copy_from_url` will fetch, and how much it will take from them.

The URL comes from an API reply, so it is treated as untrusted: https only, on hosts matching an
allow-list (e.g. `*.blob.core.windows.net`), no IP literals in private/loopback/link-local ranges
(`shared.addresses`, the same check callbacks get) unless listed exactly, redirects
followed only on the same host. Plain http is allowed only for hosts named in `allow_http_hosts`
(local development: the emulator on 127.0.0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import httpx

from shared.addresses import is_internal_address
from shared.imaging.types import ErrorCode, ImageApiError

AZURE_IMAGE_HOSTS = ("*.blob.core.windows.net", "dalleprodsec.blob.core.windows.net")
OPENAI_IMAGE_HOSTS = ("oaidalleapiprodscus.blob.core.windows.net",)
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=10.0, pool=10.0)


def refused(reason: str) -> ImageApiError:
    return ImageApiError(ErrorCode.IMAGE_DOWNLOAD_FAILED, reason)


@dataclass(frozen=True)
class DownloadPolicy:
    """Rules for fetching a generated image. Host patterns are fnmatch-style, case-insensitive."""

    allowed_hosts: tuple[str, ...] = AZURE_IMAGE_HOSTS + OPENAI_IMAGE_HOSTS
    allow_http_hosts: tuple[str, ...] = ()  # e.g. ("127.0.0.1", "localhost") for local dev
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 3
    timeout: httpx.Timeout = field(default_factory=lambda: DOWNLOAD_TIMEOUT)

    @classmethod
    def local_dev(cls, *hosts: str, max_bytes: int = DEFAULT_MAX_BYTES) -> DownloadPolicy:
        """Azure hosts plus plain-http loopback hosts (the emulator, Azurite)."""
        local = hosts or ("127.0.0.1", "localhost")
        return cls(allow_http_hosts=tuple(local), max_bytes=max_bytes)

    def check(self, url: str) -> str:
        """The URL if it may be fetched; raises IMAGE_DOWNLOAD_FAILED (no URL in the message:
        it is signed) otherwise."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            _ = parts.port  # raises on a malformed port
        except ValueError:
            raise refused("The image URL is malformed.") from None
        if not host:
            raise refused("The image URL has no host.")
        if parts.username or parts.password:
            raise refused("The image URL carries credentials.")
        explicit_http = host in {h.lower() for h in self.allow_http_hosts}
        if parts.scheme == "http":
            if not explicit_http:
                raise refused(f"Plain http is not allowed for image host {host}.")
        elif parts.scheme != "https":
            raise refused("The image URL is not https.")
        if explicit_http:
            return url
        if is_internal_address(host) and not any(h.lower() == host for h in self.allowed_hosts):
            raise refused(f"The image host {host} is a private or loopback address.")
        if not any(fnmatchcase(host, pattern.lower()) for pattern in self.allowed_hosts):
            raise refused(f"The image host {host} is not on the allow-list.")
        return url
