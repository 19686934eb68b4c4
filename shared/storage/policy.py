"""Which source URLs `copy_from_url` will fetch, and how much it will take from them.

The URL comes from an API reply, so it is treated as untrusted: canonical
(`shared.addresses.url_problem`, the same rules as a caller's callback URL, so that the URL
checked is the URL fetched), https only, on hosts matching an allow-list (e.g.
`*.blob.core.windows.net`), no IP literals in private/loopback/link-local ranges
(`shared.addresses`, the same check callbacks get) unless listed exactly. A redirect is followed
only when its target passes all of that AND keeps the ORIGIN of the first URL (scheme, host and
port): an https → http downgrade or a move to another port of the same host is refused, since
either could reach a different service than the one the allow-list names. Plain http is allowed
only for hosts named in `allow_http_hosts` (local development: the emulator on 127.0.0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from shared.addresses import is_internal_address, origin, url_problem
from shared.imaging.types import ErrorCode, ImageApiError

if TYPE_CHECKING:
    import httpx

# Where Azure OpenAI and OpenAI serve generated images (dalleprodsec..., oaidalleapiprodscus...)
# and where Black Forest Labs delivers its samples (delivery-eu1.bfl.ai, delivery.us.bfl.ai, ...;
# https only, as every listed host): the default of IMAGE_SOURCE_ALLOWED_HOSTS, written once
# (shared/settings.py uses it).
DEFAULT_ALLOWED_HOSTS = ("*.blob.core.windows.net", "delivery*.bfl.ai")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
# A signed blob URL is a few hundred characters; this bounds what an API reply can make us parse.
MAX_SOURCE_URL_LENGTH = 8192


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
    # Exact http origins ("http://127.0.0.1:10000"): what a *caller's* URL (an edit's input)
    # may use over plain http, where a host alone would open every port of it.
    allow_http_origins: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 3
    timeout: httpx.Timeout = field(default_factory=_download_timeout)

    def check(self, url: str) -> str:
        """The URL if it may be fetched; raises IMAGE_DOWNLOAD_FAILED (no URL in the message:
        it is signed) otherwise."""
        problem = url_problem(url, max_length=MAX_SOURCE_URL_LENGTH)
        if problem is not None:
            raise refused(f"The image URL {problem}.")
        scheme, host, _port = origin(url)
        if scheme == "http" and any(origin(url) == origin(o) for o in self.allow_http_origins):
            return url
        bare = host.strip("[]")  # hosts are listed without an IPv6 URL's brackets
        explicit_http = bare in {h.lower() for h in self.allow_http_hosts}
        if scheme == "http" and not explicit_http:
            raise refused(f"Plain http is not allowed for image host {bare}.")
        if explicit_http:
            return url
        if is_internal_address(bare) and not any(h.lower() == bare for h in self.allowed_hosts):
            raise refused(f"The image host {bare} is a private or loopback address.")
        if not any(fnmatchcase(bare, pattern.lower()) for pattern in self.allowed_hosts):
            raise refused(f"The image host {bare} is not on the allow-list.")
        return url

    def for_callers(self, http_origins: tuple[str, ...]) -> DownloadPolicy:
        """The policy for URLs a caller names (an edit's `{"url"}` inputs): the same hosts and
        caps, but plain http only on the exact `http_origins`, never on a whole host — a
        caller must not reach every local port (the Functions host, Azurite, the Durable API)
        because loopback is allowed for the service's own image URLs in local development."""
        return replace(self, allow_http_hosts=(), allow_http_origins=http_origins)

    def check_redirect(self, first_url: str, target: str) -> str:
        """``target`` if a redirect from the download of ``first_url`` may be followed there: it
        passes `check` and has the first URL's origin. The first URL is the one judged (and, in
        production, the one the image service signed); a hop may move within that origin only.
        """
        self.check(target)
        before, after = origin(first_url), origin(target)
        if after.scheme != before.scheme:
            raise refused(f"The image URL redirected from {before.scheme} to {after.scheme}.")
        if after.host != before.host:
            raise refused("The image URL redirected to another host.")
        if after.port != before.port:
            raise refused("The image URL redirected to another port.")
        return target
