"""Which callback URLs the app will call, and what it shows of them."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from shared.notify.callback import CallbackUrl, callback_url_problem, redact_url
from shared.notify.payload import completion_payload, public_base_url, scrub


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


def test_allow_list_comes_from_the_setting(monkeypatch):
    monkeypatch.setenv("CALLBACK_ALLOW_HTTP_HOSTS", " LocalHost , 127.0.0.1 ")
    assert callback_url_problem("http://localhost:7000/cb") is None
    monkeypatch.delenv("CALLBACK_ALLOW_HTTP_HOSTS")
    assert callback_url_problem("http://localhost:7000/cb") is not None


class _Body(BaseModel):
    callback_url: CallbackUrl | None = None


def test_callback_url_type_makes_a_validation_error_naming_the_problem(monkeypatch):
    monkeypatch.delenv("CALLBACK_ALLOW_HTTP_HOSTS", raising=False)
    assert _Body(callback_url="https://a.example/x").callback_url == "https://a.example/x"
    with pytest.raises(ValidationError, match="callback_url must use https"):
        _Body(callback_url="http://a.example/x")


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


def test_public_base_url_from_settings():
    assert public_base_url({"PUBLIC_BASE_URL": "https://img.example.com/"}) == (
        "https://img.example.com"
    )
    assert public_base_url({"WEBSITE_HOSTNAME": "app.azurewebsites.net"}) == (
        "https://app.azurewebsites.net"
    )
    assert public_base_url({"WEBSITE_HOSTNAME": "localhost:7071"}) == "http://localhost:7071"
    assert public_base_url({}) == ""
