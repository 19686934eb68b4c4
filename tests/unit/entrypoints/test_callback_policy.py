"""Which callback URLs the app will call, and what it shows of them."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

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
        ("https://host:notaport/", "not a valid URL"),
        ("https://169.254.169.254/metadata", "link-local"),
        ("https://10.1.2.3/hook", "private"),
        ("https://[::1]:8443/hook", "loopback"),
    ],
)
def test_unsafe_callbacks_are_refused_with_a_reason(url, problem):
    reason = callback_url_problem(url, http_hosts=())
    assert reason is not None
    assert problem in reason


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


def test_payload_links_the_apps_redirects_and_drops_signed_urls():
    result = {
        "id": "job-9",
        "status": "succeeded",
        "images": [
            {"blob": "job-9/0.png", "sas": "https://acct.blob.core.windows.net/i/0.png?sv=1&sig=S"},
            {"blob": "job-9/1.png"},
        ],
        "notification": {"status": "none"},
    }
    body = completion_payload("job-9", result, "https://app.example.net")
    assert body["statusQueryGetUri"] == "https://app.example.net/api/images/job-9"
    assert [i["url"] for i in body["images"]] == [
        "https://app.example.net/api/images/job-9/0",
        "https://app.example.net/api/images/job-9/1",
    ]
    assert [i["blob"] for i in body["images"]] == ["job-9/0.png", "job-9/1.png"]
    assert "sig=" not in str(body)
    assert "notification" not in body


def test_scrub_removes_keys_anywhere():
    data = {"a": ["https://x/y?code=KEY", "fine"], "b": {"c": "https://x/y?sig=1"}}
    assert scrub(data) == {"a": ["fine"], "b": {}}
