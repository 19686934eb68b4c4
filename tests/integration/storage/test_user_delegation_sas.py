"""The managed-identity path: token credential in, user-delegation SAS out.

Azurite checks bearer tokens (`--oauth basic`, HTTPS only) for lifetime, issuer and audience but
not their signature, so an unsigned token with the right claims stands in for what
DefaultAzureCredential would return. This Azurite is private to this module (HTTPS, OAuth).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob.aio import BlobServiceClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.azurite import ACCOUNT_NAME, REPO_ROOT
from devstack.procs import ManagedProcess
from shared.storage.store import ImageStore

PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class UnsignedTokenCredential:
    """An async TokenCredential whose tokens carry the claims Azurite checks."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.calls += 1
        now = int(time.time())
        tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": str(uuid.uuid4()),
            "tid": tenant,
        }

        def b64(obj: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        return AccessToken(f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.c2ln", now + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> UnsignedTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("azurite-oauth")
    cert, key = self_signed(directory)
    proc = ManagedProcess(
        [
            str(REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--oauth",
            "basic",
            "--cert",
            str(cert),
            "--key",
            str(key),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
        ],
        r"Azurite Blob service (?:is successfully listening at|successfully listens on) (\S+)",
        name="azurite-oauth",
    )
    match = proc.start(timeout=60)
    try:
        yield f"{match.group(1)}/{ACCOUNT_NAME}", cert
    finally:
        # Azurite reports "successfully closed" on SIGTERM but its process lingers; do not wait
        # long for it (it keeps nothing on disk here).
        proc.stop(timeout=2)


@pytest.fixture
async def token_store(oauth_azurite) -> AsyncIterator[tuple[ImageStore, UnsignedTokenCredential]]:
    url, cert = oauth_azurite
    credential = UnsignedTokenCredential()
    service = BlobServiceClient(url, credential=credential, connection_verify=str(cert))
    async with ImageStore(service, f"mi-{uuid.uuid4().hex[:10]}") as store:
        yield store, credential


async def test_token_credential_store_signs_a_user_delegation_sas(token_store, oauth_azurite):
    store, credential = token_store
    stored = await store.save_bytes("2026/01/01/j/0.png", PNG_1x1, {"prompt": "mi"})
    assert (stored.width, stored.height) == (1, 1)
    assert credential.calls >= 1  # the writes really went through the token path

    url = await store.sas_url(stored.blob, dt.timedelta(minutes=5))
    assert "skoid=" in url  # a user-delegation SAS, not an account-key one
    again = await store.sas_url(stored.blob, dt.timedelta(minutes=5))
    assert "skoid=" in again

    verify = ssl.create_default_context(cafile=str(oauth_azurite[1]))
    async with httpx.AsyncClient(verify=verify) as client:
        got = await client.get(url)
        assert got.status_code == 200
        assert got.content == PNG_1x1
        assert got.headers["content-type"] == "image/png"
        forged = await client.get(url.replace("sig=", "sig=AAAA"))
        assert forged.status_code == 403
