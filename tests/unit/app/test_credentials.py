"""A user-assigned identity reaches every credential the app builds (issue #14, outcome 3).

Azure OpenAI tokens, the images' blob store, the poison and results queues and the queue
trigger's connection each read their identity from the settings the Functions host reads
(``AZURE_CLIENT_ID``, ``AzureWebJobsStorage__clientId`` / ``__credential``) and build their
credential through ``shared.identity.make_credential``. The tests check the real azure-identity
objects (their client id is read from azure-identity 1.27's private attributes, see
``client_id_of``) and, for the paths that would go to the network, a recording stand-in injected
at that one helper: it answers ``get_token`` by raising, so the request never leaves.
"""

from __future__ import annotations

import weakref
from typing import Any

import pytest
from azure.functions.queue import QueueMessage
from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

from shared import identity
from shared.blueprints.deps import build_runtime
from shared.blueprints.queue_trigger import CONNECTION, FUNCTION_NAME, handle_message
from shared.identity import Identity, make_credential
from shared.imaging.types import ImageApiError
from shared.notify import queues
from shared.notify.activities import notify_results_queue
from shared.notify.queues import queue_client
from shared.settings import Settings, SettingsError, load_settings, reset_settings_cache

USER_ID = "11111111-2222-3333-4444-555555555555"  # the user-assigned identity (AZURE_CLIENT_ID)
STORAGE_ID = "66666666-7777-8888-9999-000000000000"  # AzureWebJobsStorage__clientId
SECRET = "credential-tests-status-link-secret-0123456789"

BASE = {
    "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
    "IMAGE_REQUESTS_QUEUE": "image-requests",
    "STATUS_LINK_SECRET": SECRET,
}
# What the deployment template writes: no key anywhere, one user-assigned identity.
KEYLESS = {
    **BASE,
    "AzureWebJobsStorage__accountName": "contosoimages",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": STORAGE_ID,
    "AZURE_CLIENT_ID": USER_ID,
}
AZURITE = "UseDevelopmentStorage=true"


@pytest.fixture(autouse=True)
def _no_identity_environment(monkeypatch):
    """azure-identity reads these itself; the settings must be the only source that counts."""
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "AZURE_TOKEN_CREDENTIALS",
    ):
        monkeypatch.delenv(name, raising=False)


def client_id_of(credential: Any) -> str | None:
    """The user-assigned client id a real credential asks the managed-identity endpoint for.

    azure-identity 1.27 keeps it in the managed-identity client's ``_identity_config``
    (``{"client_id": ...}``, empty for the system-assigned identity); DefaultAzureCredential
    holds a ManagedIdentityCredential among its ``credentials``.
    """
    if isinstance(credential, DefaultAzureCredential):
        (managed,) = [c for c in credential.credentials if isinstance(c, ManagedIdentityCredential)]
        return client_id_of(managed)
    assert isinstance(credential, ManagedIdentityCredential), type(credential)
    config = credential._credential._client._identity_config  # type: ignore[union-attr]
    return config.get("client_id")


class TokenAsked(Exception):
    """The stand-in's answer to get_token: the consumer used it, and nothing went out."""


class RecordingCredential:
    """Stands in for an azure-identity credential; remembers the identity it was built for."""

    def __init__(self, who: Identity) -> None:
        self.identity = who
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.scopes.append(scopes)
        raise TokenAsked(self.identity)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> RecordingCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def built(monkeypatch) -> list[RecordingCredential]:
    """Every credential the app builds from here on, as recording stand-ins."""
    made: list[RecordingCredential] = []

    def fake(who: Identity) -> RecordingCredential:
        made.append(RecordingCredential(who))
        return made[-1]

    monkeypatch.setattr(identity, "make_credential", fake)
    # The queue clients keep one credential per identity and event loop: start with none.
    monkeypatch.setattr(queues, "_credentials", weakref.WeakKeyDictionary())
    return made


# ------------------------------------------------------------------ the one helper


def test_credential_managedidentity_gives_managed_identity_credential_with_the_client_id():
    credential = make_credential(Identity("AzureWebJobsStorage", STORAGE_ID, True))
    assert type(credential) is ManagedIdentityCredential
    assert client_id_of(credential) == STORAGE_ID


def test_managedidentity_without_a_client_id_is_the_system_assigned_identity(monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_ID", USER_ID)  # the host ignores it here; so does the app
    credential = make_credential(Identity("AzureWebJobsStorage", None, True))
    assert type(credential) is ManagedIdentityCredential
    assert client_id_of(credential) is None


def test_otherwise_the_default_chain_with_the_user_assigned_client_id():
    credential = make_credential(Identity("AZURE_CLIENT_ID", USER_ID))
    assert type(credential) is DefaultAzureCredential
    assert client_id_of(credential) == USER_ID


def test_the_environment_behind_the_settings_back_does_not_count(monkeypatch):
    # DefaultAzureCredential would read AZURE_CLIENT_ID itself; the app passes what the settings
    # say, None included.
    monkeypatch.setenv("AZURE_CLIENT_ID", "not-from-the-settings")
    assert client_id_of(make_credential(Identity("AZURE_CLIENT_ID", None))) is None


# ------------------------------------------------------------------ settings


def test_storage_identity_follows_the_hosts_rules():
    s = load_settings(KEYLESS)
    assert s.storage_identity == Identity("AzureWebJobsStorage", STORAGE_ID, True)
    assert s.app_identity == Identity("AZURE_CLIENT_ID", USER_ID)
    # managedidentity without __clientId: the system-assigned identity, not AZURE_CLIENT_ID.
    no_id = {k: v for k, v in KEYLESS.items() if k != "AzureWebJobsStorage__clientId"}
    assert load_settings(no_id).storage_identity == Identity("AzureWebJobsStorage", None, True)
    # No __credential: the default chain, with __clientId, else AZURE_CLIENT_ID.
    chain = {k: v for k, v in KEYLESS.items() if k != "AzureWebJobsStorage__credential"}
    assert load_settings(chain).storage_identity == Identity("AzureWebJobsStorage", STORAGE_ID)
    chain.pop("AzureWebJobsStorage__clientId")
    assert load_settings(chain).storage_identity == Identity("AzureWebJobsStorage", USER_ID)


def test_credential_is_case_insensitive_and_anything_else_is_refused():
    s = load_settings({**KEYLESS, "AzureWebJobsStorage__credential": "ManagedIdentity"})
    assert s.storage_identity.managed_identity_only is True
    with pytest.raises(SettingsError) as info:
        load_settings({**KEYLESS, "AzureWebJobsStorage__credential": "clientsecret"})
    assert info.value.setting == "AzureWebJobsStorage__credential"
    assert "managedidentity" in info.value.problem


def test_where_the_images_live():
    # IMAGES_STORAGE_ACCOUNT_URL first, with the app's identity ...
    url = "https://other.blob.core.windows.net"
    s = load_settings({**KEYLESS, "IMAGES_STORAGE_ACCOUNT_URL": url})
    assert s.images_account == (url, Identity("AZURE_CLIENT_ID", USER_ID))
    # ... else the host storage's blob endpoint, with that connection's identity ...
    storage = Identity("AzureWebJobsStorage", STORAGE_ID, True)
    blob = "https://contosoimages.blob.core.windows.net"
    assert load_settings(KEYLESS).images_account == (blob, storage)
    uri = {**KEYLESS, "AzureWebJobsStorage__blobServiceUri": "https://b.example/"}
    assert load_settings(uri).images_account == ("https://b.example/", storage)
    # ... and a connection string wins over the identity-based settings (Azurite unchanged).
    for setting in ("AzureWebJobsStorage", "IMAGES_STORAGE_CONNECTION"):
        s = load_settings({**KEYLESS, setting: AZURITE})
        assert s.images_account is None
        assert s.images_storage == AZURITE


# ------------------------------------------------------------------ the consumers


async def test_azure_openai_tokens_use_azure_client_id():
    runtime = build_runtime(load_settings(KEYLESS))
    try:
        auth = runtime.auth_for(runtime.settings.deployment("gpt-image-2"))
        credential = auth._credential
        assert type(credential) is DefaultAzureCredential
        assert client_id_of(credential) == USER_ID
    finally:
        await runtime.aclose()


async def test_azure_openai_token_request_goes_through_the_identity_from_settings(built):
    runtime = build_runtime(load_settings({**KEYLESS, "AzureWebJobsStorage": AZURITE}))
    try:
        auth = runtime.auth_for(runtime.settings.deployment("gpt-image-2"))
        with pytest.raises(ImageApiError, match="Entra ID token"):  # Auth's own, for any error
            await auth.headers()
        (credential,) = built
        assert credential.identity == Identity("AZURE_CLIENT_ID", USER_ID)
        assert credential.scopes == [("https://cognitiveservices.azure.com/.default",)]
    finally:
        await runtime.aclose()


@pytest.mark.parametrize(
    ("env", "client_id", "kind"),
    [
        # The host storage's blob endpoint: AzureWebJobsStorage__credential / __clientId.
        (KEYLESS, STORAGE_ID, ManagedIdentityCredential),
        # IMAGES_STORAGE_ACCOUNT_URL: the app's identity.
        (
            {**KEYLESS, "IMAGES_STORAGE_ACCOUNT_URL": "https://i.blob.core.windows.net"},
            USER_ID,
            DefaultAzureCredential,
        ),
    ],
    ids=["host-storage-blob", "images-account-url"],
)
async def test_image_store_credential_carries_the_client_id(env, client_id, kind):
    runtime = build_runtime(load_settings(env))
    try:
        credential = runtime.store.service.credential
        assert type(credential) is kind
        assert client_id_of(credential) == client_id
    finally:
        await runtime.aclose()


async def test_openai_and_images_share_a_credential_when_they_share_an_identity():
    env = {**KEYLESS, "IMAGES_STORAGE_ACCOUNT_URL": "https://i.blob.core.windows.net"}
    runtime = build_runtime(load_settings(env))
    try:
        auth = runtime.auth_for(runtime.settings.deployment("gpt-image-2"))
        assert auth._credential is runtime.store.service.credential
    finally:
        await runtime.aclose()


@pytest.mark.parametrize("queue", ["image-requests-poison", "image-results"])
async def test_queue_clients_use_the_host_storage_identity(queue):
    client = queue_client(queue, load_settings(KEYLESS))
    try:
        assert client.url.startswith("https://contosoimages.queue.core.windows.net/")
        assert type(client.credential) is ManagedIdentityCredential
        assert client_id_of(client.credential) == STORAGE_ID
    finally:
        await client.close()


async def test_queue_clients_of_different_identities_do_not_share_a_credential():
    chain = {k: v for k, v in KEYLESS.items() if k != "AzureWebJobsStorage__credential"}
    first = queue_client("image-results", load_settings(KEYLESS))
    second = queue_client("image-results", load_settings(chain))
    try:
        assert type(second.credential) is DefaultAzureCredential
        assert client_id_of(second.credential) == STORAGE_ID
        assert first.credential is not second.credential
    finally:
        await first.close()
        await second.close()


async def test_a_connection_string_still_means_the_account_key(built):
    client = queue_client(
        "image-results", load_settings({**KEYLESS, "AzureWebJobsStorage": AZURITE})
    )
    try:
        assert built == []  # no token credential at all: Azurite's shared key, as before
        assert client.url.startswith("http://127.0.0.1:10001/devstoreaccount1/")
        # What signs each request: the account's shared key, not an identity's token.
        assert getattr(client.credential, "account_name", None) == "devstoreaccount1"
        assert not hasattr(client.credential, "get_token")
    finally:
        await client.close()


async def test_the_poison_queue_is_written_with_the_trigger_connections_identity(built):
    settings = load_settings(KEYLESS)
    msg = QueueMessage(id="m-1", body=b"not json at all")
    with pytest.raises(TokenAsked):
        await handle_message(msg, None, settings=settings)  # type: ignore[arg-type]
    (credential,) = built
    assert credential.identity == Identity(CONNECTION, STORAGE_ID, True)
    assert credential.scopes == [("https://storage.azure.com/.default",)]


async def test_the_results_queue_is_written_with_the_host_storage_identity(built, monkeypatch):
    for name, value in KEYLESS.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    try:
        result = {"id": "job-1", "status": "failed", "error": {"code": "content_filter"}}
        with pytest.raises(TokenAsked):
            await notify_results_queue(
                {"queue": "image-results", "job_id": "job-1", "attempt": 1, "result": result}
            )
    finally:
        reset_settings_cache()
    (credential,) = built
    assert credential.identity == Identity("AzureWebJobsStorage", STORAGE_ID, True)


def test_the_queue_trigger_names_the_connection_whose_identity_the_app_uses():
    """The host resolves the trigger's `connection` itself (AzureWebJobsStorage__credential,
    __clientId); the app's poison queue must be on that same connection, with that identity."""
    import function_app

    (trigger,) = [
        b.get_dict_repr()
        for f in function_app.app.get_functions()
        if f.get_function_name() == FUNCTION_NAME
        for b in f.get_bindings()
        if b.type == "queueTrigger"
    ]
    assert trigger["connection"] == CONNECTION == "AzureWebJobsStorage"
    assert load_settings(KEYLESS).storage_identity.source == trigger["connection"]
    # Every setting of that connection the host reads for an identity is read by the settings.
    aliases = {f.alias for f in Settings.model_fields.values()}
    for prop in ("credential", "clientId", "queueServiceUri", "blobServiceUri", "accountName"):
        assert f"{trigger['connection']}__{prop}" in aliases
