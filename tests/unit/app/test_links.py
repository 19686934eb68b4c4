"""Signed status links: what opens, what does not, and what a refusal says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.links import LinkProblem, LinkSigner, Signature, image_link, status_link
from shared.settings import SettingsError, load_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECRET = b"a-status-link-secret-of-32-chars!"
OLD = b"the-previous-secret-of-32-chars!!"


def signer(secret: bytes = SECRET, previous: bytes | None = None) -> LinkSigner:
    return LinkSigner(secret=secret, previous=previous, ttl=timedelta(hours=24))


def check(s: LinkSigner, job: str, sig: Signature, now: datetime = NOW) -> object:
    return s.check(job, str(sig.expires), sig.sig, now)


def test_a_link_opens_its_job_until_it_expires():
    s = signer()
    sig = s.sign("job-1", NOW)

    assert sig.expires == int((NOW + timedelta(hours=24)).timestamp())
    assert check(s, "job-1", sig) == sig
    assert check(s, "job-1", sig, NOW + timedelta(hours=23, minutes=59)) == sig
    assert check(s, "job-1", sig, NOW + timedelta(hours=24)) is LinkProblem.EXPIRED


def test_a_link_does_not_open_another_job():
    s = signer()
    assert check(s, "job-2", s.sign("job-1", NOW)) is LinkProblem.INVALID


def test_a_later_expiry_or_another_signature_is_refused():
    s = signer()
    sig = s.sign("job-1", NOW)
    longer = Signature(sig.expires + 3600, sig.sig)
    flipped = Signature(sig.expires, ("B" if sig.sig[0] == "A" else "A") + sig.sig[1:])

    assert check(s, "job-1", longer) is LinkProblem.INVALID
    assert check(s, "job-1", flipped) is LinkProblem.INVALID


def test_an_expired_and_tampered_link_is_invalid_not_expired():
    s = signer()
    old = s.sign("job-1", NOW - timedelta(days=3))
    tampered = Signature(old.expires, old.sig[:-1] + ("A" if old.sig[-1] != "A" else "B"))

    assert check(s, "job-1", old) is LinkProblem.EXPIRED
    assert check(s, "job-1", tampered) is LinkProblem.INVALID


@pytest.mark.parametrize(
    ("expires", "sig"),
    [(None, "x" * 43), ("1900000000", None), ("", ""), (None, None)],
)
def test_a_link_without_its_parameters_is_missing_them(expires, sig):
    assert signer().check("job-1", expires, sig, NOW) is LinkProblem.MISSING


@pytest.mark.parametrize(
    ("expires", "sig"),
    [
        ("19e8", "x" * 43),
        ("-1", "x" * 43),
        ("１９００", "x" * 43),  # full-width digits: isdigit() but not ours
        ("9" * 5000, "x" * 43),  # never given to int()
        ("1900000000", "x" * 42),
        ("1900000000", "é" * 43),
    ],
)
def test_malformed_parameters_are_invalid(expires, sig):
    assert signer().check("job-1", expires, sig, NOW) is LinkProblem.INVALID


def test_the_previous_secret_still_verifies_but_no_longer_signs():
    issued = signer(OLD).sign("job-1", NOW)
    rotated = signer(SECRET, previous=OLD)

    assert check(rotated, "job-1", issued) == issued
    assert check(signer(SECRET), "job-1", issued) is LinkProblem.INVALID
    assert check(signer(OLD), "job-1", rotated.sign("job-1", NOW)) is LinkProblem.INVALID


def test_each_refusal_says_why_without_naming_the_job():
    for problem in LinkProblem:
        assert problem.message
        assert "job-1" not in problem.message


def test_links_carry_the_signature_and_quote_the_id():
    sig = Signature(1_900_000_000, "s" * 43)
    status = status_link("https://app/api", "a b", sig)
    image = image_link("https://app/api", "job-1", 2, sig)

    assert status.startswith("https://app/api/status/a%20b?")
    assert parse_qs(urlsplit(status).query) == {"expires": ["1900000000"], "sig": ["s" * 43]}
    assert image.startswith("https://app/api/status/job-1/images/2?")


def test_a_signer_never_prints_its_secret():
    assert "secret" not in repr(signer(previous=OLD))


BASE_ENV = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "IMAGE_REQUESTS_QUEUE": "q-1"}


def test_a_missing_secret_is_a_settings_error_naming_it():
    settings = load_settings({**BASE_ENV, "AZURE_OPENAI_ENDPOINT": "https://x"})
    with pytest.raises(SettingsError) as caught:
        settings.link_signer  # noqa: B018
    assert caught.value.setting == "STATUS_LINK_SECRET"
    assert "missing" in str(caught.value)


@pytest.mark.parametrize("name", ["STATUS_LINK_SECRET", "STATUS_LINK_SECRET_PREVIOUS"])
@pytest.mark.parametrize("value", ["hunter2", "a" * 40, " " * 40, "abcabcabc" * 5])
def test_a_short_or_plain_secret_is_refused_without_showing_it(name, value):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE_ENV, "AZURE_OPENAI_ENDPOINT": "https://x", name: value})
    assert caught.value.setting == name
    assert caught.value.problem.startswith("too short or too plain")
    # The whole value, blanks included (" " * 40 is 40 spaces in a row), is never echoed.
    assert value not in str(caught.value)


@pytest.mark.parametrize(("ttl", "deadline"), [("10", "900"), ("74", "900"), ("1440", "86400")])
def test_links_must_outlive_the_jobs_they_follow_and_their_notifications(ttl, deadline):
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                **BASE_ENV,
                "AZURE_OPENAI_ENDPOINT": "https://x",
                "STATUS_LINK_TTL_MINUTES": ttl,
                "IMAGE_JOB_DEADLINE_SECONDS": deadline,
            }
        )
    assert caught.value.setting == "STATUS_LINK_TTL_MINUTES"
    assert "minutes" in str(caught.value)


def test_a_link_lifetime_of_the_deadline_plus_an_hour_is_enough():
    settings = load_settings(
        {
            **BASE_ENV,
            "AZURE_OPENAI_ENDPOINT": "https://x",
            "STATUS_LINK_TTL_MINUTES": "75",
            "IMAGE_JOB_DEADLINE_SECONDS": "900",
        }
    )
    assert settings.status_link_ttl_minutes == 75


def test_the_settings_signer_uses_both_secrets():
    settings = load_settings(
        {
            **BASE_ENV,
            "AZURE_OPENAI_ENDPOINT": "https://x",
            "STATUS_LINK_SECRET": SECRET.decode(),
            "STATUS_LINK_SECRET_PREVIOUS": OLD.decode(),
        }
    )
    issued = signer(OLD).sign("job-1", NOW)
    assert check(settings.link_signer, "job-1", issued) == issued
    assert settings.link_signer.ttl == timedelta(hours=24)
