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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.addresses import is_internal_address
from shared.imaging.types import ErrorCode, ImageApiError

if TYPE_CHECKING:
    import httpx

# Where Azure OpenAI and OpenAI serve generated images (dalleprodsec..., oaidalleapiprodscus...):
# the default of IMAGE_SOURCE_ALLOWED_HOSTS, written once (shared/settings.py uses it).
DEFAULT_ALLOWED_HOSTS = ("*.blob.core.windows.net",)
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def _download_timeout() -> httpx.Timeout:
    import httpx  # on first use: this module is pure enough for the settings to import

    return httpx.Timeout(connect=10.0, read=60.0, write=10.0, pool=10.0)


def refused(reason: str) -> ImageApiError:
    return ImageApiError(ErrorCode.IMAGE_DOWNLOAD_FAILED, reason)


@dataclass(frozen=True)
class DownloadPolicy:
    """Rules for fetching a generated image. Host patterns are fnmatch-style, case-insensitive."""

    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    allow_http_hosts: tuple[str, ...] = ()  # e.g. ("127.0.0.1", "localhost") for local dev
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 3
    timeout: httpx.Timeout = field(default_factory=_download_timeout)

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
