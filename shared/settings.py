"""The app's settings, read from the environment once per worker process and validated.

Azure Functions hands app settings to the worker as environment variables, so that is the only
source read here. A missing or malformed setting fails the first request that needs it with a
message naming the setting (never its value: several are secrets), instead of failing deep inside
an activity with an SDK error.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared import links
from shared.identity import HOST_STORAGE, MANAGED_IDENTITY, Identity
from shared.imaging.types import (
    GPT_IMAGE_FAMILIES,
    MAX_PARTIAL_IMAGES,
    Deployment,
    Family,
    Flavour,
)
from shared.lifecycle import model_warnings
from shared.models import flavour_problem
from shared.storage.policy import DEFAULT_ALLOWED_HOSTS

log = logging.getLogger(__name__)

DALLE2_API_VERSION = "2023-06-01-preview"
DALLE3_API_VERSION = "2024-10-21"
GPT_IMAGE_API_VERSION = "2025-04-01-preview"
# FLUX on Foundry's Image API is documented at `?api-version=preview` only (image-models-2026.md
# §5a, A14); a user's 2025-04-01-preview report is third-party (T13).
FLUX_IMAGE_API_VERSION = "preview"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Black Forest Labs' global endpoint (it fails over between regions; polling URLs name the region).
BFL_DEFAULT_ENDPOINT = "https://api.bfl.ai"

DEFAULT_MODEL = "gpt-image-2"

# The deployments assumed when IMAGE_MODELS is not set: public name → (family, flavour, version),
# each deployed under its public name. Newest first; the seeds' DALL-E models stay (old
# deployments may still answer) although both are retired on Azure (shared.lifecycle).
DEFAULT_MODELS: dict[str, tuple[Family, Flavour, str]] = {
    "gpt-image-2": (Family.GPT_IMAGE_2, Flavour.AZURE_DEPLOYMENT, GPT_IMAGE_API_VERSION),
    "gpt-image-1.5": (Family.GPT_IMAGE_1_5, Flavour.AZURE_DEPLOYMENT, GPT_IMAGE_API_VERSION),
    "gpt-image-1-mini": (Family.GPT_IMAGE_1_MINI, Flavour.AZURE_DEPLOYMENT, GPT_IMAGE_API_VERSION),
    "gpt-image-1": (Family.GPT_IMAGE, Flavour.AZURE_DEPLOYMENT, GPT_IMAGE_API_VERSION),
    "dall-e-2": (Family.DALLE2, Flavour.AZURE_DALLE2_ASYNC, DALLE2_API_VERSION),
    "dall-e-3": (Family.DALLE3, Flavour.AZURE_DEPLOYMENT, DALLE3_API_VERSION),
}

# Azure's dated api-versions stop at 2025-04-01-preview, which serves the whole GPT image line
# (image-models-2026.md §1a, A13).
_DEFAULT_VERSION_BY_FAMILY = {
    Family.DALLE2: DALLE2_API_VERSION,
    Family.DALLE3: DALLE3_API_VERSION,
    **{family: GPT_IMAGE_API_VERSION for family in GPT_IMAGE_FAMILIES},
    Family.FLUX_1_1_PRO: FLUX_IMAGE_API_VERSION,
    Family.FLUX_1_KONTEXT_PRO: FLUX_IMAGE_API_VERSION,
}


class SettingsError(RuntimeError):
    """The configuration cannot work; the message names the setting(s) to fix."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"app setting {setting}: {problem}")
        self.setting = setting
        self.problem = problem


class ModelEntry(BaseModel):
    """One entry of IMAGE_MODELS as written by an operator (endpoint/version may be omitted)."""

    model_config = ConfigDict(extra="forbid")

    deployment: str = Field(min_length=1)
    family: Family
    flavour: Flavour
    endpoint: str | None = None
    api_version: str | None = None


_QUEUE_NAME = r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$"  # Azure Storage's queue-name rule
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _split_csv(value: Any) -> Any:
    """A comma-separated host list (as app settings write it), trimmed and lower-cased."""
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    return value


HostList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]


class Settings(BaseSettings):
    """Every app setting, under the exact names Azure and the devstack use: the only place in
    the app that reads the environment (the Functions host resolves `%NAME%` bindings itself).

    Empty values count as unset, as an app setting left blank does."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=True,
        env_ignore_empty=True,
        regex_engine="python-re",  # the queue-name rule needs a look-ahead
    )

    # The host's storage. None with an identity-based connection (AzureWebJobsStorage__*): the
    # images then need IMAGES_STORAGE_ACCOUNT_URL or IMAGES_STORAGE_CONNECTION.
    azure_webjobs_storage: str | None = Field(default=None, alias="AzureWebJobsStorage")
    azure_webjobs_storage_queue_service_uri: str | None = Field(
        default=None, alias="AzureWebJobsStorage__queueServiceUri"
    )
    azure_webjobs_storage_account_name: str | None = Field(
        default=None, alias="AzureWebJobsStorage__accountName"
    )
    azure_webjobs_storage_blob_service_uri: str | None = Field(
        default=None, alias="AzureWebJobsStorage__blobServiceUri"
    )
    # The identity of that connection, as the host reads it (shared/identity.py): `credential`
    # `managedidentity` = ManagedIdentityCredential; `clientId` = the user-assigned identity.
    azure_webjobs_storage_credential: str | None = Field(
        default=None, alias="AzureWebJobsStorage__credential"
    )
    azure_webjobs_storage_client_id: str | None = Field(
        default=None, alias="AzureWebJobsStorage__clientId"
    )
    # The user-assigned identity of the app's own connections (Azure OpenAI tokens,
    # IMAGES_STORAGE_ACCOUNT_URL); azure-identity's convention, set by the deployment template.
    azure_client_id: str | None = Field(default=None, alias="AZURE_CLIENT_ID")
    images_storage_connection: str | None = Field(default=None, alias="IMAGES_STORAGE_CONNECTION")
    images_storage_account_url: str | None = Field(default=None, alias="IMAGES_STORAGE_ACCOUNT_URL")
    images_container: str = Field(
        default="images",
        alias="IMAGES_CONTAINER",
        pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
    )
    azure_openai_endpoint: str | None = Field(default=None, alias="AZURE_OPENAI_ENDPOINT")
    azure_openai_api_key: SecretStr | None = Field(default=None, alias="AZURE_OPENAI_API_KEY")
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str = Field(default=OPENAI_DEFAULT_BASE_URL, alias="OPENAI_BASE_URL")
    # Black Forest Labs' own API (flavour `bfl`): the key is required only when such a model is
    # configured; the endpoint serves `bfl` models that name none of their own.
    bfl_api_key: SecretStr | None = Field(default=None, alias="BFL_API_KEY")
    bfl_endpoint: str = Field(default=BFL_DEFAULT_ENDPOINT, alias="BFL_ENDPOINT")
    # Built from the IMAGE_MODELS JSON (or the defaults) with the endpoints above filled in.
    image_models: Annotated[dict[str, Deployment], NoDecode] = Field(
        default_factory=dict, alias="IMAGE_MODELS"
    )
    image_default_model: str = Field(default=DEFAULT_MODEL, alias="IMAGE_DEFAULT_MODEL")
    image_source_allowed_hosts: HostList = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_HOSTS), alias="IMAGE_SOURCE_ALLOWED_HOSTS"
    )
    image_source_allow_http_hosts: HostList = Field(
        default_factory=list, alias="IMAGE_SOURCE_ALLOW_HTTP_HOSTS"
    )
    # Plain-http origins an edit's `{"url"}` input may come from (local development: Azurite,
    # the emulator); exact origins, not hosts (shared/storage/policy.py `for_callers`).
    edit_source_allow_http_origins: HostList = Field(
        default_factory=list, alias="EDIT_SOURCE_ALLOW_HTTP_ORIGINS"
    )
    image_sas_ttl_minutes: int = Field(
        default=60, ge=1, le=7 * 24 * 60, alias="IMAGE_SAS_TTL_MINUTES"
    )
    image_max_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024, alias="IMAGE_MAX_BYTES"
    )
    image_job_deadline_seconds: int = Field(
        default=900, ge=10, le=24 * 3600, alias="IMAGE_JOB_DEADLINE_SECONDS"
    )
    image_max_attempts: int = Field(default=6, ge=1, le=50, alias="IMAGE_MAX_ATTEMPTS")
    # Partial images a streaming model sends while it works (0: never stream), shown as the
    # job's previews; decided per job when it is accepted (shared/blueprints/jobs.py).
    image_partial_images: int = Field(
        default=2, ge=0, le=MAX_PARTIAL_IMAGES, alias="IMAGE_PARTIAL_IMAGES"
    )
    # The queue trigger's binding reads `%IMAGE_REQUESTS_QUEUE%`: the host refuses to index the
    # app without it, so it is required here too (and its poison queue is `{name}-poison`).
    image_requests_queue: str = Field(alias="IMAGE_REQUESTS_QUEUE", pattern=_QUEUE_NAME)
    image_results_queue_enabled: bool = Field(default=False, alias="IMAGE_RESULTS_QUEUE_ENABLED")
    image_results_queue: str = Field(
        default="image-results", alias="IMAGE_RESULTS_QUEUE", pattern=_QUEUE_NAME
    )
    callback_allow_http_hosts: HostList = Field(
        default_factory=list, alias="CALLBACK_ALLOW_HTTP_HOSTS"
    )
    public_base_url_setting: str | None = Field(default=None, alias="PUBLIC_BASE_URL")
    # Signs the status links the app hands out (shared/links.py); required by every route that
    # answers one, checked on first use. The previous secret only verifies (rotation).
    status_link_secret: SecretStr | None = Field(default=None, alias="STATUS_LINK_SECRET")
    status_link_secret_previous: SecretStr | None = Field(
        default=None, alias="STATUS_LINK_SECRET_PREVIOUS"
    )
    status_link_ttl_minutes: int = Field(
        default=24 * 60, ge=5, le=30 * 24 * 60, alias="STATUS_LINK_TTL_MINUTES"
    )
    website_hostname: str | None = Field(default=None, alias="WEBSITE_HOSTNAME")  # set by Azure

    @model_validator(mode="before")
    @classmethod
    def _build_models(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            data["IMAGE_MODELS"] = _models_from_env(data)
        return data

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not (
            self.azure_webjobs_storage
            or self.images_storage_connection
            or self.images_storage_account_url
            or self.blob_service_url
        ):
            raise SettingsError(
                "AzureWebJobsStorage",
                "missing: the images need a storage connection string, or "
                "IMAGES_STORAGE_ACCOUNT_URL (or AzureWebJobsStorage__blobServiceUri / "
                "__accountName) with an identity-based connection",
            )
        credential = (self.azure_webjobs_storage_credential or "").strip()
        if credential and credential.lower() != MANAGED_IDENTITY:
            raise SettingsError(
                f"{HOST_STORAGE}__credential",
                f"{credential!r} is not supported: set {MANAGED_IDENTITY!r} (a managed identity, "
                f"user-assigned with {HOST_STORAGE}__clientId) or leave it unset (the default "
                "credential chain)",
            )
        if self.bfl_api_key is None:
            bfl = [n for n, d in self.image_models.items() if d.flavour is Flavour.BFL]
            if bfl:
                raise SettingsError(
                    "BFL_API_KEY",
                    f"missing, and model {bfl[0]!r} uses Black Forest Labs' API (flavour bfl)",
                )
        for entry in self.edit_source_allow_http_origins:
            parts = urlsplit(entry)
            try:
                port = parts.port
            except ValueError:
                port = None
            odd = parts.path.strip("/") or parts.query or parts.fragment or "@" in parts.netloc
            if parts.scheme != "http" or not parts.hostname or not port or odd:
                raise SettingsError(
                    "EDIT_SOURCE_ALLOW_HTTP_ORIGINS",
                    f"{entry!r} is not an http origin with a port (http://127.0.0.1:10000)",
                )
        for name, secret in (
            (links.SECRET_SETTING, self.status_link_secret),
            (links.PREVIOUS_SECRET_SETTING, self.status_link_secret_previous),
        ):
            value = secret.get_secret_value().strip() if secret is not None else None
            if value is not None and (
                len(value) < links.MIN_SECRET_CHARS or len(set(value)) < links.MIN_SECRET_SYMBOLS
            ):
                raise SettingsError(
                    name,
                    f"too short or too plain: at least {links.MIN_SECRET_CHARS} characters of "
                    "random text (openssl rand -base64 32)",
                )
        # A job runs past its deadline while it notifies (retries on durable timers, up to about
        # 20 minutes) and cleans up: a link handed out at the start must outlive all of that.
        needed = self.image_job_deadline_seconds + links.AFTER_DEADLINE_S
        if self.status_link_ttl_minutes * 60 < needed:
            raise SettingsError(
                links.TTL_SETTING,
                f"too short for IMAGE_JOB_DEADLINE_SECONDS: at least {math.ceil(needed / 60)} "
                "minutes (the deadline plus an hour for notifications and clean-up), so a status "
                "link outlives the job it follows",
            )
        if self.image_default_model not in self.image_models:
            raise SettingsError(
                "IMAGE_DEFAULT_MODEL",
                f"names {self.image_default_model!r}, which is not one of the configured "
                f"models ({', '.join(sorted(self.image_models))})",
            )
        return self

    @property
    def images_storage(self) -> str:
        """The connection string for the images container (when no account URL is set)."""
        connection = self.images_storage_connection or self.azure_webjobs_storage
        if connection is None:  # _check refuses this combination; kept for type checkers
            raise SettingsError("IMAGES_STORAGE_CONNECTION", "missing")
        return connection

    @property
    def link_signer(self) -> links.LinkSigner:
        """Signs and checks status links; SettingsError naming STATUS_LINK_SECRET when unset."""
        if self.status_link_secret is None:
            raise SettingsError(
                links.SECRET_SETTING,
                f"missing: status links are signed with it; set at least "
                f"{links.MIN_SECRET_CHARS} characters of random text (openssl rand -base64 32)",
            )
        previous = self.status_link_secret_previous
        return links.LinkSigner(
            secret=self.status_link_secret.get_secret_value().encode(),
            previous=previous.get_secret_value().encode() if previous is not None else None,
            ttl=timedelta(minutes=self.status_link_ttl_minutes),
        )

    @property
    def results_queue(self) -> str | None:
        """The results queue for a job accepted now, or None when publishing results is off.
        Starters put it in the job's input, so the orchestrator never reads settings."""
        return self.image_results_queue if self.image_results_queue_enabled else None

    @property
    def public_base_url(self) -> str:
        """The app's public origin: PUBLIC_BASE_URL, else from WEBSITE_HOSTNAME (Azure sets it);
        empty when neither is known (links are then root-relative)."""
        explicit = (self.public_base_url_setting or "").strip().rstrip("/")
        if explicit:
            return explicit
        host = (self.website_hostname or "").strip().rstrip("/")
        if not host:
            return ""
        scheme = "http" if host.split(":")[0] in _LOCAL_HOSTS else "https"
        return f"{scheme}://{host}"

    @property
    def queue_service_url(self) -> str | None:
        """The queue endpoint of an identity-based AzureWebJobsStorage, or None."""
        return self._service_url("queue", self.azure_webjobs_storage_queue_service_uri)

    @property
    def blob_service_url(self) -> str | None:
        """The blob endpoint of an identity-based AzureWebJobsStorage, or None."""
        return self._service_url("blob", self.azure_webjobs_storage_blob_service_uri)

    def _service_url(self, service: str, uri: str | None) -> str | None:
        """`__<service>ServiceUri` as given, else the endpoint of `__accountName`, else None."""
        explicit = _blank_none(uri)
        if explicit:
            return explicit
        account = _blank_none(self.azure_webjobs_storage_account_name)
        return f"https://{account}.{service}.core.windows.net" if account else None

    @property
    def app_identity(self) -> Identity:
        """The identity of the app's own connections (Azure OpenAI, IMAGES_STORAGE_ACCOUNT_URL):
        the user-assigned identity AZURE_CLIENT_ID names, else the default chain's."""
        return Identity(source="AZURE_CLIENT_ID", client_id=_blank_none(self.azure_client_id))

    @property
    def storage_identity(self) -> Identity:
        """The identity of the host's storage connection (AzureWebJobsStorage__*), read as the
        host reads it: with `__credential` managedidentity, the managed identity `__clientId`
        names (system-assigned without one); else the default chain, with `__clientId` or, like
        azure-identity's DefaultAzureCredential, AZURE_CLIENT_ID as the user-assigned identity."""
        managed = (self.azure_webjobs_storage_credential or "").strip().lower() == MANAGED_IDENTITY
        client_id = _blank_none(self.azure_webjobs_storage_client_id)
        if client_id is None and not managed:
            client_id = _blank_none(self.azure_client_id)
        return Identity(source=HOST_STORAGE, client_id=client_id, managed_identity_only=managed)

    @property
    def images_account(self) -> tuple[str, Identity] | None:
        """Where the images live when not by connection string: (blob endpoint, identity).

        IMAGES_STORAGE_ACCOUNT_URL first (the app's identity), then a connection string
        (IMAGES_STORAGE_CONNECTION, AzureWebJobsStorage: None here, see `images_storage`), then
        the blob endpoint of an identity-based AzureWebJobsStorage (that connection's identity).
        """
        url = (self.images_storage_account_url or "").strip()
        if url:
            return url, self.app_identity
        if self.images_storage_connection or self.azure_webjobs_storage:
            return None
        blob = self.blob_service_url
        return (blob, self.storage_identity) if blob else None

    def deployment(self, model: str) -> Deployment:
        return self.image_models[model]


def _blank_none(value: str | None) -> str | None:
    return (value or "").strip() or None


def _models_from_env(env: Mapping[str, Any]) -> dict[str, Deployment]:
    """IMAGE_MODELS (or the defaults), with each entry's endpoint and api-version filled in."""
    raw = env.get("IMAGE_MODELS")
    if isinstance(raw, Mapping) and all(isinstance(d, Deployment) for d in raw.values()):
        return dict(raw)  # already built (a copy of validated settings)
    entries: dict[str, ModelEntry] = {}
    if raw is None or not str(raw).strip():
        for name, (family, flavour, default_version) in DEFAULT_MODELS.items():
            entries[name] = ModelEntry(
                deployment=name, family=family, flavour=flavour, api_version=default_version
            )
    else:
        try:
            data: Any = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError("IMAGE_MODELS", f"not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not data:
            raise SettingsError(
                "IMAGE_MODELS", "must be a JSON object: public name → {deployment, family, ...}"
            )
        for name, entry in data.items():
            try:
                entries[name] = ModelEntry.model_validate(entry)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise SettingsError(
                    "IMAGE_MODELS", f"model {name!r}: {where}: {first['msg']}"
                ) from None

    azure_endpoint = str(env.get("AZURE_OPENAI_ENDPOINT") or "").strip().rstrip("/") or None
    openai_base = (
        str(env.get("OPENAI_BASE_URL") or "").strip().rstrip("/") or OPENAI_DEFAULT_BASE_URL
    )
    bfl_base = str(env.get("BFL_ENDPOINT") or "").strip().rstrip("/") or BFL_DEFAULT_ENDPOINT
    models: dict[str, Deployment] = {}
    for name, entry in entries.items():
        # A model on a route that cannot serve it (FLUX.2 on the Image API, gpt-image on a BFL
        # route) would fail every job with a 404; say so once, at load.
        problem = flavour_problem(entry.family, entry.flavour)
        if problem is not None:
            raise SettingsError("IMAGE_MODELS", f"model {name!r}: {problem}")
        endpoint = entry.endpoint.rstrip("/") if entry.endpoint else None
        if endpoint is None:
            if entry.flavour is Flavour.OPENAI:
                endpoint = openai_base
            elif entry.flavour is Flavour.BFL:
                endpoint = bfl_base
            elif azure_endpoint is None:
                raise SettingsError(
                    "AZURE_OPENAI_ENDPOINT",
                    f"missing, and model {name!r} has no endpoint of its own",
                )
            else:
                endpoint = azure_endpoint
        version = entry.api_version
        if version is None and entry.flavour in (
            Flavour.AZURE_DEPLOYMENT,
            Flavour.AZURE_DALLE2_ASYNC,
        ):
            version = _DEFAULT_VERSION_BY_FAMILY[entry.family]
        models[name] = Deployment(
            name=name,
            deployment=entry.deployment,
            family=entry.family,
            flavour=entry.flavour,
            endpoint=endpoint,
            api_version=version,
        )
    return models


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting (from the environment, or from `env` when given); raise
    SettingsError naming the first bad one."""
    try:
        if env is None:
            return Settings()  # type: ignore[call-arg]  # required fields come from the env
        return Settings.model_validate({k: v for k, v in env.items() if v != ""})
    except ValidationError as exc:
        first = exc.errors()[0]
        setting = str(first["loc"][0]) if first["loc"] else "settings"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            msg = "missing (required)"
        raise SettingsError(setting, msg) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use (importing function_app.py reads nothing).

    A configured model that is retired, or retires within 30 days, is logged as a warning here,
    once per worker: the operator sees it in the host log before the first job fails."""
    settings = load_settings()
    for warning in model_warnings(settings.image_models, datetime.now(UTC).date()):
        log.warning("%s", warning)
    return settings


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the devstack change the environment)."""
    get_settings.cache_clear()
