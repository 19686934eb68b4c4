"""Blob naming, metadata encoding, image sniffing/dimensions and the download policy."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from PIL import Image

from shared.imaging.types import ErrorCode, ImageApiError
from shared.storage import DownloadPolicy, blob_name, decode_metadata, dimensions, sniff
from shared.storage.metadata import MAX_TOTAL, encode_metadata, truncated_keys

# ------------------------------------------------------------------ naming


def test_blob_name_layout():
    created = datetime(2026, 3, 7, 23, 59, tzinfo=UTC)
    assert blob_name("job-1", created, 0, "png") == "2026/03/07/job-1/0.png"
    assert blob_name("job-1", created, 12, ".JPG") == "2026/03/07/job-1/12.jpg"


def test_blob_name_uses_the_utc_date():
    created = datetime(2026, 3, 8, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    assert blob_name("j", created, 0, "png") == "2026/03/07/j/0.png"


@pytest.mark.parametrize("job_id", ["", "../x", "a/b", "a b", "a?b", "-x"])
def test_blob_name_refuses_ids_that_would_escape_the_layout(job_id):
    with pytest.raises(ValueError, match="job id"):
        blob_name(job_id, datetime.now(UTC), 0, "png")


# ------------------------------------------------------------------ metadata


def test_metadata_round_trips_unicode_and_stays_ascii():
    values = {
        "model": "dall-e-3",
        "size": "1024x1024",
        "job_id": "abc",
        "prompt": 'Ein Dachs im Smoking 🦡 — "quoted"\nnew line, 100% café',
        "revised_prompt": "  leading and trailing spaces  ",
    }
    encoded = encode_metadata(values)
    assert all(v.isascii() and "\n" not in v for v in encoded.values())
    assert decode_metadata(encoded) == values
    assert truncated_keys(encoded) == []


def test_missing_values_are_left_out():
    decoded = decode_metadata(encode_metadata({"model": "m", "revised_prompt": None}))
    assert decoded == {"model": "m"}


def test_huge_prompts_are_truncated_under_the_limit_on_a_character_boundary():
    prompt = "é🦡" * 10_000
    encoded = encode_metadata({"model": "gpt-image-1", "prompt": prompt, "revised_prompt": prompt})
    assert sum(len(k) + len(v) for k, v in encoded.items()) <= MAX_TOTAL
    decoded = decode_metadata(encoded)
    assert prompt.startswith(decoded["prompt"])
    assert prompt.startswith(decoded["revised_prompt"])
    assert decoded["model"] == "gpt-image-1"
    assert set(truncated_keys(encoded)) >= {"revised_prompt"}


def test_metadata_keys_must_be_identifiers():
    with pytest.raises(ValueError, match="identifier"):
        encode_metadata({"job-id": "x"})


# ------------------------------------------------------------------ formats


def image_bytes(fmt: str, size=(37, 21), **save) -> bytes:
    buf = io.BytesIO()
    mode = "RGBA" if save.pop("alpha", False) else "RGB"
    Image.new(mode, size, (200, 10, 10)).save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (image_bytes("PNG"), "image/png"),
        (image_bytes("PNG", alpha=True), "image/png"),
        (image_bytes("JPEG"), "image/jpeg"),
        (image_bytes("JPEG", progressive=True), "image/jpeg"),
        (image_bytes("JPEG", exif=b"Exif\x00\x00" + b"\x00" * 60_000), "image/jpeg"),
        (image_bytes("WEBP", quality=80), "image/webp"),
        (image_bytes("WEBP", lossless=True), "image/webp"),
        (image_bytes("WEBP", alpha=True, quality=80), "image/webp"),
    ],
    ids=[
        "png",
        "png-rgba",
        "jpeg",
        "jpeg-progressive",
        "jpeg-big-exif",
        "webp-lossy",
        "webp-lossless",
        "webp-alpha",
    ],
)
def test_dimensions_and_type_from_the_header(data, content_type):
    fmt = sniff(data[:12])
    assert fmt is not None
    assert fmt.content_type == content_type
    assert dimensions(data) == (37, 21)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a....",
        b"<html><body>expired</body></html>",
        b"RIFF\x00\x00\x00\x00WAVE",
        b'{"error": "AuthenticationFailed"}',
    ],
)
def test_non_images_are_not_recognised(data):
    assert sniff(data) is None
    assert dimensions(data) is None


def test_a_prefix_too_short_has_a_type_but_no_dimensions():
    data = image_bytes("PNG")
    assert sniff(data[:12]) is not None
    assert dimensions(data[:12]) is None


# ------------------------------------------------------------------ download policy


def refused_reason(policy: DownloadPolicy, url: str) -> str:
    with pytest.raises(ImageApiError) as info:
        policy.check(url)
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert "sig=" not in info.value.message
    return info.value.message


def test_default_policy_allows_azure_blob_hosts():
    policy = DownloadPolicy()
    for url in (
        "https://dalleprodsec.blob.core.windows.net/private/images/x/generated_00.png?se=1&sig=2",
        "https://dalletipusw2.blob.core.windows.net/private/images/a.png",
        "https://oaidalleapiprodscus.blob.core.windows.net/private/org/img.png?sig=x",
    ):
        assert policy.check(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example.com/a.png?sig=x", "allow-list"),
        ("https://blob.core.windows.net.evil.example/a.png", "allow-list"),
        ("http://dalleprodsec.blob.core.windows.net/a.png", "http"),
        ("ftp://dalleprodsec.blob.core.windows.net/a.png", "https"),
        ("https://127.0.0.1/a.png", "private or loopback"),
        ("https://10.1.2.3/a.png", "private or loopback"),
        ("https://169.254.169.254/metadata", "private or loopback"),
        ("https://[::1]/a.png", "private or loopback"),
        ("https://user:pw@dalleprodsec.blob.core.windows.net/a.png", "credentials"),
        ("https:///a.png", "no host"),
    ],
)
def test_disallowed_urls_are_refused(url, why):
    assert why in refused_reason(DownloadPolicy(), url)


def test_local_dev_allows_plain_http_only_on_the_named_hosts():
    policy = DownloadPolicy.local_dev("127.0.0.1")
    assert policy.check("http://127.0.0.1:7072/images/a.png")
    assert "http" in refused_reason(policy, "http://localhost:7072/images/a.png")
    assert "http" in refused_reason(policy, "http://10.0.0.5/a.png")


def test_a_wildcard_never_lets_private_ip_literals_through():
    policy = DownloadPolicy(allowed_hosts=("*",))
    assert policy.check("https://example.org/a.png")
    assert "private" in refused_reason(policy, "https://192.168.1.1/a.png")
