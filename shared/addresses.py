"""The one answer to "is this URL, and its host, something we may call on someone else's say-so?",
for every URL the app fetches or calls from outside (image download URLs from an API reply,
callback URLs from a caller; input image URLs of edit requests later).

Two questions, both pure (no DNS lookup: names are judged where they are resolved):

* `url_problem`: is the URL written canonically? Anything two parsers could read two ways is
  refused rather than repaired: raw control characters, whitespace, backslashes or other bytes
  RFC 3986 does not allow, credentials (even an empty ``@``), fragments, a scheme other than
  lower-case ``http``/``https``, and hosts that are not in their one canonical spelling (upper
  case, percent-encoded, a trailing dot, Unicode instead of its IDNA A-label, numeric IPv4
  shorthands such as ``127.1``, ``2130706433``, ``0x7f.0.0.1`` or ``0177.0.0.1``, IPv6 not in
  RFC 5952 form, a zone id), an empty port, port 0 or one above 65535. Refusing instead of
  normalising keeps the URL we check the URL we call: the caller learns at once, and no later
  component re-reads it differently.
* `is_internal_address`: private, loopback, link-local (the instance metadata endpoint
  169.254.169.254), unspecified, shared and reserved ranges all count: anything Python does not
  call globally routable. The numeric shorthands a resolver also accepts are read as the IPv4
  addresses they are, so that a host that would connect to loopback cannot pass for a name
  wherever this is asked of a URL that skipped `url_problem`.

`origin` is what redirect hops must keep: scheme, host and port, the port defaulted.
"""

from __future__ import annotations

import ipaddress
import socket
import string
import unicodedata
from typing import NamedTuple
from urllib.parse import urlsplit

import idna  # IDNA 2008 + UTS 46 (httpx's own dependency); the stdlib codec is IDNA 2003

MAX_URL_LENGTH = 2048
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986: unreserved + reserved + "%" (percent-escapes are checked on their own).
_URL_CHARS = frozenset(string.ascii_letters + string.digits + "-._~" + ":/?#[]@" + "!$&'()*+,;=%")
_LDH = frozenset(string.ascii_lowercase + string.digits + "-")
_HEX = frozenset(string.hexdigits)


class Origin(NamedTuple):
    """Scheme, host and port of a URL (RFC 6454): what a redirect may not change."""

    scheme: str
    host: str
    port: int


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


def url_problem(url: str, *, max_length: int = MAX_URL_LENGTH) -> str | None:
    """Why ``url`` is not a canonical absolute http(s) URL, or None when it is one.

    The answer is a short phrase to follow the field's name ("callback_url contains ..."): it
    never quotes the URL (a query may carry a signature), only a code point, the scheme's rule or
    the host's canonical spelling."""
    if len(url) > max_length:
        return f"is longer than {max_length} characters"
    problem = _character_problem(url)
    if problem is not None:
        return problem
    scheme, sep, _rest = url.partition("://")
    if not sep:
        return "is not an absolute URL (https://host/...)"
    if scheme not in SCHEMES:
        return "must use https (or http), its scheme written in lower case"
    if "#" in url:
        return "must not carry a fragment (#...): it is never sent to the receiver"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a valid URL"
    if "@" in parts.netloc:
        return "must not carry credentials (user:password@) before the host"
    host, port = _host_and_port(parts.netloc)
    if not host:
        return "is not an absolute URL with a host"
    return _host_problem(host) or _port_problem(port)


def origin(url: str) -> Origin:
    """The origin of a URL that passed `url_problem` (an explicit default port is the default)."""
    parts = urlsplit(url)
    host, port = _host_and_port(parts.netloc)
    return Origin(parts.scheme, host, int(port) if port else DEFAULT_PORTS[parts.scheme])


def _character_problem(url: str) -> str | None:
    for index, char in enumerate(url):
        if char in _URL_CHARS:
            escape = url[index + 1 : index + 3]
            if char == "%" and not (len(escape) == 2 and set(escape) <= _HEX):
                return "has a '%' that is not followed by two hex digits"
            continue
        name = f"U+{ord(char):04X}"
        if unicodedata.category(char) == "Cc":  # C0, DEL and C1
            return f"contains a control character ({name}); percent-encode it"
        if char.isspace() or unicodedata.category(char) == "Zs":
            return f"contains whitespace ({name}); percent-encode it"
        if char == "\\":
            return "contains a backslash; use '/' or percent-encode it (%5C)"
        if not char.isascii():
            return _non_ascii_problem(url, name)
        return f"contains a character that must be percent-encoded ({name})"
    return None


def _non_ascii_problem(url: str, name: str) -> str:
    """Raw Unicode: in the host, point at its A-label; elsewhere, ask for percent-encoding."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    host = _host_and_port(netloc)[0] if "@" not in netloc else ""
    if host and not host.isascii():
        try:
            alabel = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            return "has a host that is not a valid internationalized domain name"
        return f"must name its host in IDNA form ({alabel})"
    return f"contains a non-ASCII character ({name}); percent-encode it as UTF-8"


def _host_and_port(netloc: str) -> tuple[str, str | None]:
    """Raw host and port text of an authority without userinfo (urlsplit lower-cases hosts)."""
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        return host + "]", (rest[1:] if rest.startswith(":") else None)
    host, colon, port = netloc.partition(":")
    return host, (port if colon else None)


def _host_problem(host: str) -> str | None:
    if "%" in host:
        return "must not percent-encode its host"
    if host != host.lower():
        return f"must name its host in lower case ({host.lower()})"
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "has an IPv6 host that is not a valid address"
        canonical = _rfc5952(address)
        if f"[{canonical}]" != host:
            return f"must write its IPv6 host canonically ([{canonical}])"
        return None
    if host.endswith("."):
        return f"must name its host without a trailing dot ({host.rstrip('.')})"
    labels = host.split(".")
    if labels[-1][:1].isdigit():  # no top-level domain starts with a digit: an IPv4 literal
        try:
            address4 = ipaddress.IPv4Address(host)
        except ValueError:
            literal = ip_literal(host)
            if literal is not None:
                return f"must write its IPv4 host as four decimal numbers ({literal})"
            return "has a host that is neither a name nor an IPv4 address"
        return None if str(address4) == host else f"must write its IPv4 host as {address4}"
    if len(host) > 253 or not all(_is_ldh_label(label) for label in labels):
        return "has a host that is not a valid DNS name (letters, digits, '-' and '.')"
    if any(label.startswith("xn--") for label in labels):
        try:
            if idna.encode(idna.decode(host)).decode("ascii") != host:
                return "has an IDNA host that is not in its canonical form"
        except (idna.IDNAError, UnicodeError):
            return "has a host with an invalid IDNA label (xn--...)"
    return None


def _rfc5952(address: ipaddress.IPv6Address) -> str:
    """RFC 5952 text: compressed, lower case, an IPv4-mapped address in dotted form (§5), which
    Python prints only from 3.13 on."""
    if address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _is_ldh_label(label: str) -> bool:
    """RFC 1123 host-name label: 1-63 letters, digits and inner hyphens (lower case by now)."""
    return 0 < len(label) <= 63 and set(label) <= _LDH and label[0] != "-" and label[-1] != "-"


def _port_problem(port: str | None) -> str | None:
    if port is None:
        return None
    if not port:
        return "has an empty port after ':'"
    if not port.isdigit() or str(int(port)) != port:
        return "must write its port as a decimal number without leading zeros"
    if not 0 < int(port) <= 65535:
        return "must use a port between 1 and 65535"
    return None
