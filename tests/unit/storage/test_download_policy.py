"""Which image URLs the store will fetch: the URL comes from an API reply, so a refusal is the
norm for anything unexpected, and its reason (shown to the user as the job's error) never
carries the signed URL itself.

The private/loopback/link-local check is the app's one such check (`shared.addresses`): image
downloads and completion callbacks must agree on what is inside our network, so both are tested
on the same hosts here."""

from __future__ import annotations

import pytest

from shared.addresses import is_internal_address
from shared.imaging.types import ErrorCode, ImageApiError
from shared.notify.urls import callback_url_problem
from shared.storage.policy import DEFAULT_MAX_BYTES, DownloadPolicy

BLOB = "dalleprodsec.blob.core.windows.net"
CREDENTIALS = "must not carry credentials (user:password@) before the host"


def refused_reason(policy: DownloadPolicy, url: str) -> str:
    with pytest.raises(ImageApiError) as info:
        policy.check(url)
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert "sig=" not in info.value.message
    return info.value.message


def test_default_policy_allows_azure_blob_hosts():
    policy = DownloadPolicy()
    for url in (
        f"https://{BLOB}/private/images/x/generated_00.png?se=1&sig=2",
        "https://dalletipusw2.blob.core.windows.net/private/images/a.png",
        "https://oaidalleapiprodscus.blob.core.windows.net/private/org/img.png?sig=x",
        f"https://{BLOB}:443/a.png?sig=a%2Bb%3D",  # a default port, escapes in the query
    ):
        assert policy.check(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "https://evil.example.com/a.png?sig=x",
            "The image host evil.example.com is not on the allow-list.",
        ),
        (
            "https://blob.core.windows.net.evil.example/a.png",
            "The image host blob.core.windows.net.evil.example is not on the allow-list.",
        ),
        (f"http://{BLOB}/a.png", f"Plain http is not allowed for image host {BLOB}."),
        (
            f"ftp://{BLOB}/a.png",
            "The image URL must use https (or http), its scheme written in lower case.",
        ),
        ("https://127.0.0.1/a.png", "The image host 127.0.0.1 is a private or loopback address."),
        ("https://10.1.2.3/a.png", "The image host 10.1.2.3 is a private or loopback address."),
        (
            "https://169.254.169.254/metadata",
            "The image host 169.254.169.254 is a private or loopback address.",
        ),
        ("https://[::1]/a.png", "The image host ::1 is a private or loopback address."),
        (f"https://user:pw@{BLOB}/a.png", f"The image URL {CREDENTIALS}."),
        (f"https://user@{BLOB}/a.png", f"The image URL {CREDENTIALS}."),
        (f"https://:pw@{BLOB}/a.png", f"The image URL {CREDENTIALS}."),
        (f"https://@{BLOB}/a.png", f"The image URL {CREDENTIALS}."),  # was accepted
        ("https:///a.png", "The image URL is not an absolute URL with a host."),
        (
            f"https://{BLOB}:notaport/a.png",
            "The image URL must write its port as a decimal number without leading zeros.",
        ),
        (f"https://{BLOB}:99999/a.png", "The image URL must use a port between 1 and 65535."),
        # Canonical form, the rules callbacks get: all of these were fetched before.
        (
            f"https://{BLOB.upper()}/a.png",
            f"The image URL must name its host in lower case ({BLOB}).",
        ),
        (
            f"https://{BLOB}./a.png",
            f"The image URL must name its host without a trailing dot ({BLOB}).",
        ),
        (f"https://%64{BLOB[1:]}/a.png", "The image URL must not percent-encode its host."),
        (
            f"https://{BLOB}/a.png\r\nHost: evil",
            "The image URL contains a control character (U+000D); percent-encode it.",
        ),
        (
            f"https://{BLOB}\\@evil.example/a.png",
            "The image URL contains a backslash; use '/' or percent-encode it (%5C).",
        ),
        (f"https://{BLOB}:/a.png", "The image URL has an empty port after ':'."),
        (f"https://{BLOB}:0/a.png", "The image URL must use a port between 1 and 65535."),
        (
            f"HTTPS://{BLOB}/a.png",
            "The image URL must use https (or http), its scheme written in lower case.",
        ),
    ],
)
def test_disallowed_urls_are_refused_with_the_reason(url, reason):
    assert refused_reason(DownloadPolicy(), url) == reason


def test_plain_http_only_on_the_named_hosts():
    policy = DownloadPolicy(allow_http_hosts=("127.0.0.1",))
    assert policy.check("http://127.0.0.1:7072/images/a.png")
    assert policy.check(f"https://{BLOB}/a.png")  # the Azure hosts stay allowed
    assert "http" in refused_reason(policy, "http://localhost:7072/images/a.png")
    assert "http" in refused_reason(policy, "http://10.0.0.5/a.png")


def test_the_default_hosts_are_where_azure_and_openai_serve_images():
    policy = DownloadPolicy()
    assert policy.check("https://dalleprodsec.blob.core.windows.net/private/images/a.png")
    assert policy.check("https://oaidalleapiprodscus.blob.core.windows.net/private/a.png")
    assert "allow" in refused_reason(policy, "https://images.example.com/a.png").lower()
    assert policy.max_bytes == DEFAULT_MAX_BYTES


def test_http_host_settings_match_whatever_their_case():
    policy = DownloadPolicy(allow_http_hosts=("LocalHost",))
    assert policy.check("http://localhost:7072/a.png")
    # The URL itself must be canonical: a host in upper case is another spelling, refused.
    assert "lower case" in refused_reason(policy, "http://LOCALHOST:7072/a.png")


def test_a_wildcard_never_lets_private_ip_literals_through():
    policy = DownloadPolicy(allowed_hosts=("*",))
    assert policy.check("https://example.org/a.png")
    assert "private" in refused_reason(policy, "https://192.168.1.1/a.png")


@pytest.mark.parametrize("listed", ["fd00::5", "FD00::5"])
def test_an_internal_address_listed_exactly_is_allowed(listed):
    """A private endpoint of a storage account is reached on a private address on purpose."""
    policy = DownloadPolicy(allowed_hosts=(listed, "10.0.0.7"))
    assert policy.check("https://[fd00::5]/a.png")
    assert policy.check("https://10.0.0.7/a.png")
    assert "private" in refused_reason(policy, "https://10.0.0.8/a.png")


# ------------------------------------------------------------------ one internal-address check

INTERNAL = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # instance metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "::1",
    "fe80::1",
    "fd00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
]
# Numeric shorthands a resolver turns into loopback: not canonical, so refused before the
# address is even judged; `is_internal_address` still reads them as the address they are.
SHORTHANDS = ["127.1", "2130706433", "0x7f.0.0.1", "017700000001", "0177.0.0.1", "0x7f000001"]
PUBLIC = ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "example.org", "1e100.net"]


@pytest.mark.parametrize("host", INTERNAL)
def test_internal_addresses_are_refused_for_downloads_and_callbacks_alike(host):
    literal = f"[{host}]" if ":" in host else host
    assert "private" in refused_reason(DownloadPolicy(allowed_hosts=("*",)), f"https://{literal}/a")
    assert "private" in (callback_url_problem(f"https://{literal}/cb", http_hosts=()) or "")


@pytest.mark.parametrize("host", SHORTHANDS)
def test_numeric_shorthands_are_refused_for_downloads_and_callbacks_alike(host):
    rule = "four decimal numbers (127.0.0.1)"
    assert is_internal_address(host)
    assert rule in refused_reason(DownloadPolicy(allowed_hosts=("*",)), f"https://{host}/a")
    assert rule in (callback_url_problem(f"https://{host}/cb", http_hosts=()) or "")
    # Listing the shorthand as a plain-http host does not make it a spelling we call either.
    assert rule in refused_reason(DownloadPolicy(allow_http_hosts=(host,)), f"http://{host}/a")


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_and_names_pass_both_checks(host):
    literal = f"[{host}]" if ":" in host else host
    assert DownloadPolicy(allowed_hosts=("*",)).check(f"https://{literal}/a")
    assert callback_url_problem(f"https://{literal}/cb", http_hosts=()) is None


def test_a_bracketed_ipv6_host_is_read_as_the_address():
    assert is_internal_address("[::1]")
    assert is_internal_address("[fe80::1]")
    assert not is_internal_address("[2001:4860:4860::8888]")


# ------------------------------------------------------------------ redirect hops keep the origin

LOCAL = DownloadPolicy(allow_http_hosts=("127.0.0.1",))


@pytest.mark.parametrize(
    ("first", "target"),
    [
        (f"https://{BLOB}/a.png?sig=1", f"https://{BLOB}/b.png?sig=2"),
        (f"https://{BLOB}/a.png", f"https://{BLOB}:443/b.png"),  # the default port, written
        ("http://127.0.0.1:7072/a.png", "http://127.0.0.1:7072/elsewhere/b.png"),
    ],
)
def test_a_redirect_within_the_origin_is_followed(first, target):
    assert LOCAL.check_redirect(first, target) == target


@pytest.mark.parametrize(
    ("first", "target", "reason"),
    [
        # https -> http, although plain http is allowed for that host
        (
            "https://127.0.0.1:7072/a.png",
            "http://127.0.0.1:7072/a.png",
            "The image URL redirected from https to http.",
        ),
        (
            "http://127.0.0.1:7072/a.png",
            "https://127.0.0.1:7072/a.png",
            "The image URL redirected from http to https.",
        ),
        # another port of the same host: another service
        (
            f"https://{BLOB}/a.png",
            f"https://{BLOB}:8443/a.png",
            "The image URL redirected to another port.",
        ),
        (
            "http://127.0.0.1:7072/a.png",
            "http://127.0.0.1:10000/devstoreaccount1/a.png",
            "The image URL redirected to another port.",
        ),
        # another allowed host
        (
            f"https://{BLOB}/a.png",
            "https://other.blob.core.windows.net/a.png",
            "The image URL redirected to another host.",
        ),
    ],
)
def test_a_redirect_that_leaves_the_origin_is_refused(first, target, reason):
    with pytest.raises(ImageApiError) as info:
        LOCAL.check_redirect(first, target)
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert info.value.message == reason


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (f"https://{BLOB}/b.png#x", "fragment"),
        (f"https://{BLOB}/b png", "whitespace"),
        (f"https://user@{BLOB}/b.png", "credentials"),
        (f"https://{BLOB.upper()}/b.png", "lower case"),
    ],
)
def test_every_hop_passes_the_whole_check_too(target, reason):
    assert reason in refused_reason_of_hop(f"https://{BLOB}/a.png", target)


def refused_reason_of_hop(first: str, target: str) -> str:
    with pytest.raises(ImageApiError) as info:
        DownloadPolicy().check_redirect(first, target)
    return info.value.message


def test_a_stalled_image_download_is_given_up_on():
    """10 s to connect, to send and to get a pooled connection; a minute of silence between two
    reads of the image (a slow but moving download is not cut off)."""
    import httpx

    limits = httpx.Timeout(connect=10.0, read=60.0, write=10.0, pool=10.0)
    assert DownloadPolicy().timeout == limits


def test_image_urls_may_be_longer_than_callback_urls():
    """The service's URLs carry a long SAS query: up to 8192 characters are fetched."""
    base = f"https://{BLOB}/private/images/a.png?sig="
    longest = base + "a" * (8192 - len(base))
    assert DownloadPolicy().check(longest) == longest
    assert "longer than 8192" in refused_reason(DownloadPolicy(), longest + "a")


def test_a_callers_url_gets_plain_http_only_on_an_exact_origin():
    """An edit's {"url"} input: the service's loopback allowance does not open every port."""
    service = DownloadPolicy(allow_http_hosts=("127.0.0.1",))
    callers = service.for_callers(("http://127.0.0.1:10000",))
    assert service.check("http://127.0.0.1:7071/api/openapi.json")  # the service's own URLs
    assert callers.check("http://127.0.0.1:10000/devstoreaccount1/images/a.png")
    for url in (
        "http://127.0.0.1:7071/api/openapi.json",  # the Functions host
        "http://127.0.0.1:10001/queue",  # another port of the same host
        "https://127.0.0.1:10000/a.png",  # https to loopback: still internal
    ):
        with pytest.raises(ImageApiError):
            callers.check(url)
    assert callers.max_bytes == service.max_bytes
    assert callers.allowed_hosts == service.allowed_hosts
