"""The one answer to "is this host an address inside our own network?", for every URL the app
fetches or calls on someone else's say-so (image download URLs from an API reply, callback URLs
from a caller).

Private, loopback, link-local (the instance metadata endpoint 169.254.169.254), unspecified,
shared and reserved ranges all count: anything Python does not call globally routable. Besides
the canonical spellings, the numeric shorthands a resolver also accepts (``127.1``,
``2130706433``, ``0x7f.0.0.1``) are read as the IPv4 addresses they are, so that a host that
would connect to loopback cannot pass for a name. Pure: no DNS lookup (names are judged where they
are resolved).
"""

from __future__ import annotations

import ipaddress
import socket


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` spells (brackets of an IPv6 URL host allowed), or None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))  # the libc's shorthand forms
    except (OSError, ValueError):
        return None


def is_internal_address(host: str) -> bool:
    """True for an IP literal that is not globally routable; a name is never one here."""
    address = ip_literal(host)
    return address is not None and not address.is_global
