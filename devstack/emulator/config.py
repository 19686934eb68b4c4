"""The emulator's knobs: one pydantic model, set at start-up (CLI/env) and patched at run time.

Faults are configuration rather than code paths so that a test (or a person poking at `make
start`) can turn on "every third request is a 503" against the very process the app talks to,
and turn it off again with `POST /_emulator/reset`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devstack.emulator.models import MODELS

DEFAULT_API_KEY = "emulator-key"
DEFAULT_DEPLOYMENTS: dict[str, str] = {name: name for name in MODELS}

Rate = Field(default=0.0, ge=0.0, le=1.0)
MAX_IMAGE_MIN_BYTES = 128 * 1024 * 1024  # a padded image is held in memory (render cache, base64)
MIB = 1024 * 1024


class EmulatorConfig(BaseModel):
    """Everything that changes how the emulator answers. Unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)

    api_keys: list[str] = Field(default_factory=lambda: [DEFAULT_API_KEY], min_length=1)
    deployments: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_DEPLOYMENTS))
    # Models past their retirement date: their deployments answer as the service does then.
    retired_models: list[str] = Field(default_factory=list)

    latency_seconds: float = Field(default=0.0, ge=0.0)
    latency_jitter_seconds: float = Field(default=0.0, ge=0.0)

    rpm_default: int = Field(default=0, ge=0)  # 0 = no quota
    rpm_per_deployment: dict[str, int] = Field(default_factory=dict)

    error_rate_429: float = Rate  # random throttling, drawn before the 5xx draw, never billed
    error_429_retry_after_seconds: int = Field(default=1, ge=0)
    error_rate_500: float = Rate
    error_rate_503: float = Rate
    drop_rate: float = Rate
    # Every stream closes after this many events (a deterministic cut; None: only drop_rate's).
    stream_cut_after_events: int | None = Field(default=None, ge=0)

    download_bytes_per_second: int = Field(default=0, ge=0)  # 0 = unthrottled
    truncate_rate: float = Rate
    image_min_bytes: int = Field(default=0, ge=0, le=MAX_IMAGE_MIN_BYTES)  # pad PNG/JPEG results

    content_filter_words: list[str] = Field(default_factory=list)
    content_filter_shape: Literal["content_policy_violation", "contentFilter"] = (
        "content_policy_violation"
    )
    image_filter_rate: float = Rate  # DALL-E 2 operations that end `failed` (contentFilter)
    operation_timeout_seconds: float = Field(default=300.0, gt=0.0)
    async_retry_after_seconds: int | None = Field(default=None, ge=0)
    # The contract documents both: the spec's and the example's header; n 1-10 (S5) or 1-5 (D1).
    operation_location_header: Literal["operation-location", "Operation-Location"] = (
        "operation-location"
    )
    async_max_n: int = Field(default=10, ge=1, le=10)

    url_ttl_seconds: float = Field(default=86400.0, gt=0.0)
    # BFL's own API: `result.sample` lives 10 minutes after Ready (B3); 0 = expired at once.
    bfl_sample_ttl_seconds: float = Field(default=600.0, ge=0.0)
    bfl_max_active_tasks: int = Field(default=24, ge=1)  # over this many Pending → 429 (B9)
    bfl_error_rate: float = Rate  # BFL tasks that end `Error` (the operation-failure fault)
    # Image edits (image-models-2026.md §3, §5): per-input limits, and the emulator's own cap on
    # one request body (16 inputs of 50 MB would be 800 MB; nobody tests that on one machine).
    edit_image_max_bytes: int = Field(default=50 * MIB, ge=1)  # each image must be smaller
    edit_mask_max_bytes: int = Field(default=4 * MIB, ge=1)  # the mask must be smaller
    bfl_input_image_max_bytes: int = Field(default=20 * MIB, ge=1)  # FLUX inputs: at most this
    edit_max_body_bytes: int = Field(default=100 * MIB, ge=1024)  # larger bodies → 413
    public_base_url: str | None = None
    seed: int | None = None

    @field_validator("deployments")
    @classmethod
    def _known_models(cls, value: dict[str, str]) -> dict[str, str]:
        for deployment, model in value.items():
            if model not in MODELS:
                known = ", ".join(MODELS)
                raise ValueError(f"deployment {deployment!r}: unknown model {model!r} ({known})")
        return value

    @field_validator("retired_models")
    @classmethod
    def _known_retired(cls, value: list[str]) -> list[str]:
        for model in value:
            if model not in MODELS:
                raise ValueError(f"unknown model {model!r} ({', '.join(MODELS)})")
        return value

    @field_validator("rpm_per_deployment")
    @classmethod
    def _positive_rpm(cls, value: dict[str, int]) -> dict[str, int]:
        for deployment, rpm in value.items():
            if rpm < 0:
                raise ValueError(f"deployment {deployment!r}: rpm must be >= 0")
        return value

    @field_validator("content_filter_words")
    @classmethod
    def _non_empty_words(cls, value: list[str]) -> list[str]:
        if any(not w.strip() for w in value):
            raise ValueError("trigger words must not be empty")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    def rpm_for(self, deployment: str) -> int:
        return self.rpm_per_deployment.get(deployment, self.rpm_default)

    def public_view(self) -> dict[str, Any]:
        """The config as `GET /_emulator/config` shows it: keys are never echoed back."""
        return self.model_dump(exclude={"api_keys"})


class ConfigError(ValueError):
    """A configuration patch that does not validate; the message names the field."""


def format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        parts.append(f"{field}: {err['msg']}")
    return "; ".join(parts)


_DICT_FIELDS = ("deployments", "rpm_per_deployment")


def apply_patch(current: EmulatorConfig, patch: object) -> EmulatorConfig:
    """Merge a partial JSON object into ``current``.

    Top-level keys replace; the two map-valued fields merge key by key (``null`` removes a key),
    so ``{"rpm_per_deployment": {"dall-e-3": 2}}`` adds one quota without restating the others.
    """
    if not isinstance(patch, dict):
        raise ConfigError("config: body must be a JSON object")
    unknown = sorted(set(patch) - set(EmulatorConfig.model_fields))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown configuration field")
    merged = current.model_dump()
    for key, value in patch.items():
        if key in _DICT_FIELDS and isinstance(value, dict):
            target = dict(merged[key])
            for k, v in value.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = v
            merged[key] = target
        else:
            merged[key] = value
    try:
        return EmulatorConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc


# --- start-up: CLI and EMULATOR_* environment ---------------------------------------------------


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{what}: expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


# field → (CLI flag, env var, kind); kind decides how strings become values.
_OPTIONS: list[tuple[str, str, str, str]] = [
    ("api_keys", "--api-key", "EMULATOR_API_KEYS", "list"),
    ("deployments", "--deployment", "EMULATOR_DEPLOYMENTS", "map"),
    ("retired_models", "--retired-model", "EMULATOR_RETIRED_MODELS", "list"),
    ("latency_seconds", "--latency", "EMULATOR_LATENCY_SECONDS", "float"),
    ("latency_jitter_seconds", "--latency-jitter", "EMULATOR_LATENCY_JITTER_SECONDS", "float"),
    ("rpm_default", "--rpm-default", "EMULATOR_RPM_DEFAULT", "int"),
    ("rpm_per_deployment", "--rpm", "EMULATOR_RPM", "intmap"),
    ("error_rate_429", "--error-rate-429", "EMULATOR_ERROR_RATE_429", "float"),
    (
        "error_429_retry_after_seconds",
        "--error-429-retry-after",
        "EMULATOR_ERROR_429_RETRY_AFTER_SECONDS",
        "int",
    ),
    ("error_rate_500", "--error-rate-500", "EMULATOR_ERROR_RATE_500", "float"),
    ("error_rate_503", "--error-rate-503", "EMULATOR_ERROR_RATE_503", "float"),
    ("drop_rate", "--drop-rate", "EMULATOR_DROP_RATE", "float"),
    (
        "stream_cut_after_events",
        "--stream-cut-after-events",
        "EMULATOR_STREAM_CUT_AFTER_EVENTS",
        "int",
    ),
    (
        "download_bytes_per_second",
        "--download-bytes-per-second",
        "EMULATOR_DOWNLOAD_BYTES_PER_SECOND",
        "int",
    ),
    ("truncate_rate", "--truncate-rate", "EMULATOR_TRUNCATE_RATE", "float"),
    ("image_min_bytes", "--image-min-bytes", "EMULATOR_IMAGE_MIN_BYTES", "int"),
    ("content_filter_words", "--content-filter-word", "EMULATOR_CONTENT_FILTER_WORDS", "list"),
    ("content_filter_shape", "--content-filter-shape", "EMULATOR_CONTENT_FILTER_SHAPE", "str"),
    ("image_filter_rate", "--image-filter-rate", "EMULATOR_IMAGE_FILTER_RATE", "float"),
    (
        "operation_timeout_seconds",
        "--operation-timeout",
        "EMULATOR_OPERATION_TIMEOUT_SECONDS",
        "float",
    ),
    (
        "async_retry_after_seconds",
        "--async-retry-after",
        "EMULATOR_ASYNC_RETRY_AFTER_SECONDS",
        "int",
    ),
    (
        "operation_location_header",
        "--operation-location-header",
        "EMULATOR_OPERATION_LOCATION_HEADER",
        "str",
    ),
    ("async_max_n", "--async-max-n", "EMULATOR_ASYNC_MAX_N", "int"),
    ("url_ttl_seconds", "--url-ttl", "EMULATOR_URL_TTL_SECONDS", "float"),
    ("bfl_sample_ttl_seconds", "--bfl-sample-ttl", "EMULATOR_BFL_SAMPLE_TTL_SECONDS", "float"),
    (
        "bfl_max_active_tasks",
        "--bfl-max-active-tasks",
        "EMULATOR_BFL_MAX_ACTIVE_TASKS",
        "int",
    ),
    ("bfl_error_rate", "--bfl-error-rate", "EMULATOR_BFL_ERROR_RATE", "float"),
    ("edit_image_max_bytes", "--edit-image-max-bytes", "EMULATOR_EDIT_IMAGE_MAX_BYTES", "int"),
    ("edit_mask_max_bytes", "--edit-mask-max-bytes", "EMULATOR_EDIT_MASK_MAX_BYTES", "int"),
    (
        "bfl_input_image_max_bytes",
        "--bfl-input-image-max-bytes",
        "EMULATOR_BFL_INPUT_IMAGE_MAX_BYTES",
        "int",
    ),
    ("edit_max_body_bytes", "--edit-max-body-bytes", "EMULATOR_EDIT_MAX_BODY_BYTES", "int"),
    ("public_base_url", "--public-base-url", "EMULATOR_PUBLIC_BASE_URL", "str"),
    ("seed", "--seed", "EMULATOR_SEED", "int"),
]
_REPEATABLE = {"list", "map", "intmap"}

_HELP: dict[str, str] = {
    "api_keys": "accepted key (api-key header or Bearer); repeatable; default emulator-key",
    "deployments": "NAME=MODEL, added to the defaults (each model by its name); repeatable",
    "retired_models": "MODEL past retirement: its deployments answer 404 (Azure) / 400 (OpenAI)",
    "latency_seconds": "fixed generation latency in seconds (default 0)",
    "latency_jitter_seconds": "extra uniform random latency 0..J seconds (default 0)",
    "rpm_default": "requests per minute per deployment, 0 = unlimited (default 0)",
    "rpm_per_deployment": "DEPLOYMENT=RPM quota for one deployment; repeatable",
    "error_rate_429": "fraction of API requests answered 429 at random, before the 5xx draw (0..1)",
    "error_429_retry_after_seconds": "Retry-After of the random 429s, in seconds (default 1)",
    "error_rate_500": "fraction of API requests answered 500 (0..1)",
    "error_rate_503": "fraction of API requests answered 503 (0..1)",
    "drop_rate": "fraction of API requests whose connection is closed unanswered (0..1)",
    "stream_cut_after_events": "close every stream after N events (a deterministic cut)",
    "download_bytes_per_second": "throttle image URL downloads, 0 = full speed",
    "truncate_rate": "fraction of image downloads cut short after Content-Length (0..1)",
    "image_min_bytes": "pad PNG/JPEG results to at least N bytes (same pixels), 0 = off",
    "content_filter_words": "prompt trigger word (case-insensitive substring) → 400; repeatable",
    "content_filter_shape": "content_policy_violation (default) or contentFilter error body",
    "image_filter_rate": "fraction of DALL-E 2 operations that end failed/contentFilter (0..1)",
    "operation_timeout_seconds": "DALL-E 2 operations slower than this end canceled (default 300)",
    "async_retry_after_seconds": "fixed retry-after on submit/poll (default: seconds remaining)",
    "operation_location_header": "header name spelling: operation-location or Operation-Location",
    "async_max_n": "largest n on the DALL-E 2 submit route: 10 (spec) or 5 (older docs)",
    "url_ttl_seconds": "lifetime of signed image URLs and operations (default 86400)",
    "bfl_sample_ttl_seconds": "BFL result.sample lifetime after Ready, seconds (default 600)",
    "bfl_max_active_tasks": "Pending BFL tasks allowed at once; one more → 429 (default 24)",
    "bfl_error_rate": "fraction of BFL tasks that end with status Error (0..1)",
    "edit_image_max_bytes": "gpt-image edit inputs must be smaller than N bytes (default 50 MiB)",
    "edit_mask_max_bytes": "edit masks must be smaller than N bytes (default 4 MiB)",
    "bfl_input_image_max_bytes": "FLUX reference images: at most N bytes each (default 20 MiB)",
    "edit_max_body_bytes": "largest edit / BFL request body, else 413 (default 100 MiB)",
    "public_base_url": "base for operation-location and image URLs (default: the Host header)",
    "seed": "seed for every random draw (faults, jitter), for reproducible runs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.emulator",
        description="Local Azure OpenAI / OpenAI image generation API emulator.",
    )
    parser.add_argument(
        "--host", default=os.environ.get("EMULATOR_HOST", "127.0.0.1"), help="[EMULATOR_HOST]"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("EMULATOR_PORT", "0"),  # argparse applies `type` to it
        help="0 picks a free port [EMULATOR_PORT]",
    )
    for field, flag, env, kind in _OPTIONS:
        help_text = f"{_HELP[field]} [{env}]"
        if kind in _REPEATABLE:
            parser.add_argument(flag, dest=field, action="append", default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=field, default=None, help=help_text)
    return parser


def _convert(field: str, kind: str, raw: str | list[str]) -> Any:
    try:
        if kind == "list":
            return list(raw) if isinstance(raw, list) else _split(raw)
        if kind in ("map", "intmap"):
            items = raw if isinstance(raw, list) else _split(raw)
            pairs = _pairs(items, field)
            if kind == "intmap":
                return {k: int(v) for k, v in pairs.items()}
            return {**DEFAULT_DEPLOYMENTS, **pairs} if field == "deployments" else pairs
        assert isinstance(raw, str)
        if kind == "float":
            return float(raw)
        if kind == "int":
            return int(raw)
        return raw
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{field}: {exc}") from exc


def config_from_sources(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[argparse.Namespace, EmulatorConfig]:
    """Defaults < EMULATOR_* environment < command line."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    for field, _flag, env_name, kind in _OPTIONS:
        if env.get(env_name, "").strip():
            values[field] = _convert(field, kind, env[env_name])
        cli = getattr(args, field)
        if cli is not None:
            values[field] = _convert(field, kind, cli)
    try:
        return args, EmulatorConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc
