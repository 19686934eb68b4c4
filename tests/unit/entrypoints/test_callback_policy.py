"""Which callback URLs the app will call, and what it shows of them."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from shared.links import Signature
from shared.models import parse_body
from shared.notify.payload import completion_payload, scrub
from shared.notify.urls import HTTP_HOSTS_CONTEXT, CallbackUrl, callback_url_problem, redact_url


@pytest.mark.parametrize(
    "url",
    [
        "https://prod-01.westeurope.logic.azure.com/workflows/abc/run?api-version=1&sig=x",
        "https://hooks.example.com:8443/done",
    ],
)
def test_https_callbacks_are_accepted(url):
    assert callback_url_problem(url, http_hosts=()) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/done", "must use https"),
        ("ftp://hooks.example.com/done", "must use https"),
        ("https://user:pass@hooks.example.com/done", "credentials"),
        ("/relative/path", "absolute URL"),
        ("https://" + "a" * 3000 + ".com/", "longer than"),
        ("https://host:notaport/", "port"),
        ("https://169.254.169.254/metadata", "link-local"),
        ("https://10.1.2.3/hook", "private"),
        ("https://[::1]:8443/hook", "loopback"),
    ],
)
def test_unsafe_callbacks_are_refused_with_a_reason(url, problem):
    reason = callback_url_problem(url, http_hosts=())
    assert reason is not None
    assert problem in reason


# ------------------------------------------------------------------ canonical or refused
# Every case here was accepted before `shared.addresses.url_problem`: a URL the app checks must be
# the URL it calls, so anything two parsers could read two ways is refused, not repaired.


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        # raw control characters: C0, DEL, C1 (a CR/LF would split the request line)
        ("https://hooks.example.com/done\r\nX-Injected: 1", "control character (U+000D)"),
        ("https://hooks.example.com/do\x00ne", "control character (U+0000)"),
        ("https://hooks.example.com/done\x7f", "control character (U+007F)"),
        ("https://hooks.example.com/done\x85", "control character (U+0085)"),
        ("https://hooks.exa\tmple.com/done", "control character (U+0009)"),
        # whitespace, ASCII or not
        ("https://hooks.example.com/do ne", "whitespace (U+0020)"),
        (" https://hooks.example.com/done", "whitespace (U+0020)"),
        ("https://hooks.example.com/done\u00a0", "whitespace (U+00A0)"),
        ("https://hooks.example.com/done\u3000", "whitespace (U+3000)"),
        # credentials, even an empty userinfo
        ("https://user@hooks.example.com/done", "credentials"),
        ("https://:pw@hooks.example.com/done", "credentials"),
        ("https://@hooks.example.com/done", "credentials"),
        # numeric IPv4 shorthands, of public addresses too: one spelling per address
        ("https://127.1/cb", "as four decimal numbers (127.0.0.1)"),
        ("https://2130706433/cb", "as four decimal numbers (127.0.0.1)"),
        ("https://0x7f.0.0.1/cb", "as four decimal numbers (127.0.0.1)"),
        ("https://0177.0.0.1/cb", "as four decimal numbers (127.0.0.1)"),
        ("https://134744072/cb", "as four decimal numbers (8.8.8.8)"),
        ("https://08.8.8.8/cb", "neither a name nor an IPv4 address"),
        ("https://1.2.3.4.5/cb", "neither a name nor an IPv4 address"),
        # other non-canonical hosts
        ("https://hooks.example.com./done", "trailing dot (hooks.example.com)"),
        ("https://Hooks.Example.com/done", "lower case (hooks.example.com)"),
        ("https://%68ooks.example.com/done", "percent-encode its host"),
        ("https://[fe80::1%25eth0]/done", "percent-encode its host"),
        ("https://[2001:4860:0:0:0:0:0:8888]/cb", "canonically ([2001:4860::8888])"),
        ("https://[::ffff:808:808]/cb", "canonically ([::ffff:8.8.8.8])"),
        ("https://hooks_1.example.com/done", "not a valid DNS name"),
        ("https://-hooks.example.com/done", "not a valid DNS name"),
        ("https://xn--zz.example/done", "invalid IDNA label"),
        # ports
        ("https://hooks.example.com:/done", "empty port"),
        ("https://hooks.example.com:0/done", "between 1 and 65535"),
        ("https://hooks.example.com:65536/done", "between 1 and 65535"),
        ("https://hooks.example.com:0443/done", "without leading zeros"),
        ("https://hooks.example.com:4_43/done", "decimal number"),
        # backslashes, schemes, fragments, escapes, non-ASCII
        ("https://hooks.example.com\\@evil.example/done", "backslash"),
        ("https:\\\\hooks.example.com/done", "backslash"),
        ("HTTPS://hooks.example.com/done", "lower case"),
        ("Https://hooks.example.com/done", "lower case"),
        ("https:/hooks.example.com/done", "absolute URL"),
        ("javascript://hooks.example.com/%0aalert(1)", "must use https"),
        ("https://hooks.example.com/done#frag", "fragment"),
        ("https://hooks.example.com/done#", "fragment"),
        ("https://hooks.example.com/do%zzne", "two hex digits"),
        ("https://hooks.example.com/done%2", "two hex digits"),
        ("https://hooks.example.com/café", "non-ASCII character (U+00E9)"),
        ("https://hooks.example.com/<script>", "percent-encoded (U+003C)"),
    ],
)
def test_non_canonical_callbacks_are_refused_with_a_reason(url, problem):
    reason = callback_url_problem(url, http_hosts=())
    assert reason is not None
    assert problem in reason


def test_the_reason_never_quotes_the_url():
    """The reason becomes a 400 message and a delivery record: it names the rule, not the URL
    (its query may carry a signature)."""
    for url in (
        "https://hooks.example.com/run?sig=SECRET\n",
        "https://hooks.example.com/run?sig=SECRET#x",
        "https://hooks.example.com/run?sig=SECRET%",
        "https://u:SECRET@hooks.example.com/run",
    ):
        reason = callback_url_problem(url) or ""
        assert reason
        assert "SECRET" not in reason


def test_the_length_limit_counts_the_whole_url():
    base = "https://hooks.example.com/"
    assert callback_url_problem(base + "a" * (2048 - len(base))) is None
    assert "longer than 2048" in (callback_url_problem(base + "a" * (2049 - len(base))) or "")


def test_unicode_hosts_are_refused_with_their_idna_form():
    """Decision: refused, not converted. The caller learns the exact host we would call, and
    look-alike or width-folded forms (U+3002 is a dot to IDNA) never reach a resolver."""
    assert "IDNA form (xn--bcher-kva.example)" in (
        callback_url_problem("https://bücher.example/hook") or ""
    )
    assert "IDNA form (hooks.example.com)" in (
        callback_url_problem("https://hooks\u3002example.com/hook") or ""
    )
    assert callback_url_problem("https://xn--bcher-kva.example/hook") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com:443/done",  # an explicit default port is one spelling
        "https://hooks.example.com/a%20b/%E2%9C%93?q=%0A%00&sig=abc%2B%3D",  # escapes are fine
        "https://xn--bcher-kva.example/hook",
        "https://[2001:4860::8888]:8443/cb",
        "https://8.8.8.8/cb",
        "https://a-b.c0.example/x?y=[1]",
    ],
)
def test_canonical_callbacks_pass(url):
    assert callback_url_problem(url, http_hosts=()) is None


def test_listed_http_hosts_still_need_a_canonical_url():
    listed = {"127.0.0.1", "localhost"}
    assert callback_url_problem("http://127.0.0.1:7071/cb", listed) is None
    assert callback_url_problem("http://127.1:7071/cb", listed) is not None
    assert callback_url_problem("http://LOCALHOST:7071/cb", listed) is not None
    assert callback_url_problem("http://localhost:7071/cb\n", listed) is not None


def test_plain_http_only_for_listed_hosts():
    assert callback_url_problem("http://127.0.0.1:9999/cb", http_hosts={"127.0.0.1"}) is None
    assert callback_url_problem("https://127.0.0.1:9999/cb", http_hosts={"127.0.0.1"}) is None
    assert callback_url_problem("http://10.0.0.5/cb", http_hosts={"127.0.0.1"}) is not None
    assert callback_url_problem("https://8.8.8.8/cb", http_hosts=()) is None


def test_without_an_allow_list_nothing_is_called_over_plain_http():
    assert callback_url_problem("http://localhost:7000/cb") is not None
    assert callback_url_problem("https://127.0.0.1:7000/cb") is not None


def test_a_request_body_takes_the_allow_list_it_is_given():
    body = b'{"prompt": "p", "callback_url": "http://localhost:7000/cb"}'
    allowed = parse_body(body, callback_http_hosts=["localhost"])
    assert allowed.callback_url == "http://localhost:7000/cb"
    with pytest.raises(Exception, match="callback_url must use https") as refused:
        parse_body(body)
    assert refused.value.field == "callback_url"  # type: ignore[attr-defined]


class _Body(BaseModel):
    callback_url: CallbackUrl | None = None


def test_callback_url_type_makes_a_validation_error_naming_the_problem():
    assert _Body(callback_url="https://a.example/x").callback_url == "https://a.example/x"
    with pytest.raises(ValidationError, match="callback_url must use https"):
        _Body(callback_url="http://a.example/x")
    listed = {HTTP_HOSTS_CONTEXT: ["a.example"]}
    ok = _Body.model_validate({"callback_url": "http://a.example/x"}, context=listed)
    assert ok.callback_url == "http://a.example/x"


def test_redacted_url_keeps_no_signature_or_credentials():
    assert (
        redact_url("https://u:p@flow.example.com:444/path/run?sig=SECRET#frag")
        == "https://flow.example.com:444/path/run"
    )


def test_payload_links_the_apps_signed_routes_and_drops_other_signed_urls():
    result = {
        "id": "job-9",
        "status": "succeeded",
        "images": [
            {"blob": "job-9/0.png", "sas": "https://acct.blob.core.windows.net/i/0.png?sv=1&sig=S"},
            {"blob": "job-9/1.png"},
        ],
        "notification": {"status": "none"},
    }
    signature = Signature(expires=1_900_000_000, sig="L" * 43)
    body = completion_payload("job-9", result, signature, "https://app.example.net")
    link = "expires=1900000000&sig=" + "L" * 43
    assert body["statusQueryGetUri"] == f"https://app.example.net/api/status/job-9?{link}"
    assert [i["url"] for i in body["images"]] == [
        f"https://app.example.net/api/status/job-9/images/0?{link}",
        f"https://app.example.net/api/status/job-9/images/1?{link}",
    ]
    assert [i["blob"] for i in body["images"]] == ["job-9/0.png", "job-9/1.png"]
    assert "sig=S" not in str(body)  # the SAS URL of the result is gone
    assert "notification" not in body


def test_scrub_removes_keys_anywhere():
    data = {"a": ["https://x/y?code=KEY", "fine"], "b": {"c": "https://x/y?sig=1"}}
    assert scrub(data) == {"a": ["fine"], "b": {}}


@pytest.mark.parametrize("listed", ["::1", "[::1]"])
def test_a_listed_ipv6_host_may_be_called_over_plain_http_bracketed_or_not(listed):
    assert callback_url_problem("http://[::1]:7071/cb", http_hosts={listed}) is None
    assert callback_url_problem("http://[::2]:7071/cb", http_hosts={listed}) is not None


def test_an_internal_address_is_refused_in_those_words():
    assert callback_url_problem("https://10.1.2.3/hook") == (
        "must not point at a private, loopback or link-local address"
    )


def test_a_url_that_cannot_be_read_is_redacted_to_a_placeholder():
    assert redact_url("https://hooks.example.com:notaport/x?sig=SECRET") == "<invalid url>"
    assert redact_url("https:///path?sig=SECRET") == "https:///path"  # no host, none invented
