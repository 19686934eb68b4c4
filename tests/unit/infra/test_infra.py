"""The azd template, checked offline: every Bicep file parses, checkov's Bicep checks pass but for
the listed skips, the Function App's app settings cover what the app requires without a secret
literal, azure.yaml names the service, and .funcignore ships only the app.

Nothing here reaches Azure: what only a real deployment can show is listed in docs/deploy.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pathspec
import pytest
import yaml
from pycep import BicepParser

from shared.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
API = INFRA / "app" / "api.bicep"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIPS = INFRA / "checkov-skips.yaml"
CHECKOV_ARGS = ["--skip-download", "--quiet", "--compact", "-o", "json"]

# What an identity-based deployment needs on top of the settings model's required fields: the
# host's storage connection with the user-assigned identity (Learn, "Connecting to host storage
# with an identity"), the client id DefaultAzureCredential uses, the images' account URL (there
# is no AzureWebJobsStorage connection string), the model endpoint and deployment, the status
# link secret, and telemetry with Entra auth (App Insights has local auth off).
IDENTITY_DEPLOY_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AZURE_CLIENT_ID",
    "IMAGES_STORAGE_ACCOUNT_URL",
    "AZURE_OPENAI_ENDPOINT",
    "IMAGE_MODELS",
    "STATUS_LINK_SECRET",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
DTS_SETTINGS = {
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__type",
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName",
    "AzureFunctionsJobHost__extensions__durableTask__hubName",
}
# Settings that carry a key or password when written as a connection string / literal.
SECRET_PATTERNS = [
    re.compile(r"AccountKey=", re.I),
    re.compile(r"SharedAccessSignature=", re.I),
    re.compile(r"InstrumentationKey=", re.I),
    re.compile(r"\bsig=", re.I),
]
SECRET_NAMES = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN)$", re.I)
SHIPPED_TOP_LEVEL = {"function_app.py", "host.json", "requirements.txt", "shared"}


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parsed(path: Path) -> dict[str, Any]:
    return dict(BicepParser().parse(text=path.read_text(encoding="utf-8")))


_OPERAND_KEYS = {"operand_1", "operand_2", "condition", "true_value", "false_value"}


def dicts_in(node: Any) -> Iterator[dict[str, Any]]:
    """The object literals an expression can evaluate to (both arms of a conditional)."""
    if isinstance(node, dict):
        if "operator" in node or "function" in node or set(node) <= _OPERAND_KEYS:
            for child in node.values():
                yield from dicts_in(child)
        elif "type" in node and "operands" in node:
            yield from dicts_in(node["operands"])
        else:
            yield node


def app_settings() -> dict[str, Any]:
    """Every app setting the Function App's `appsettings` config can carry: the union's
    variables (each arm of a conditional one included), name → Bicep value."""
    tree = parsed(API)
    config = tree["resources"]["appSettings"]
    assert config["type"] == "Microsoft.Web/sites/config"
    assert config["config"]["parent"] == "functionApp"
    assert config["config"]["name"] == "appsettings"
    props = config["config"]["properties"]
    union = props["function"]
    assert union["type"] == "union", "appsettings should be union(<variables>)"
    variables = tree["variables"]
    settings: dict[str, Any] = {}
    for name in union["parameters"].values():
        assert name in variables, f"appsettings names {name!r}, not a variable of api.bicep"
        for literal in dicts_in(variables[name]["value"]):
            settings.update(literal)
    return settings


def required_settings() -> set[str]:
    """The app settings the settings model cannot do without (no default), by their names."""
    return {
        field.alias or name for name, field in Settings.model_fields.items() if field.is_required()
    }


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    tree = parsed(path)
    assert tree["resources"] or tree["outputs"] or tree["parameters"]


def test_main_is_subscription_scope_with_modules_per_concern() -> None:
    text = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert re.search(r"^targetScope = 'subscription'$", text, re.M)
    assert "Microsoft.Resources/resourceGroups@" in text
    modules = set(re.findall(r"^module \w+ '\./app/(\w+)\.bicep'", text, re.M))
    assert modules == {"identity", "storage", "monitoring", "openai", "dts", "rbac", "api"}
    for module in modules:
        assert (INFRA / "app" / f"{module}.bicep").is_file()
    outputs = set(parsed(INFRA / "main.bicep")["outputs"])
    assert {"AZURE_FUNCTION_NAME", "SERVICE_API_NAME", "SERVICE_API_URI"} <= outputs
    # azd writes outputs into the env, where main.parameters.json reads its inputs: an output
    # named like an input would come back as the user's choice (and `azd down` deletes it)
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    # (AZURE_LOCATION: azd's own, which every azd template outputs as the value it passed in)
    inputs = set(re.findall(r"\$\{([A-Z_]+)", json.dumps(params))) - {"AZURE_LOCATION"}
    assert not outputs & inputs, f"outputs named like azd inputs: {sorted(outputs & inputs)}"


def test_parameters_file_maps_every_main_parameter_without_literal_secrets() -> None:
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = parsed(INFRA / "main.bicep")["parameters"]
    assert set(params) <= set(declared)
    for name, decl in declared.items():
        if decl.get("default") is None:
            assert name in params, f"main.parameters.json does not set required {name}"
        secure = any(d.get("type") == "secure" for d in decl.get("decorators", []))
        if secure:
            value = params[name]["value"]
            # Only an azd environment reference, never a value.
            # (`=` with nothing after it: an optional one, empty unless set)
            assert re.fullmatch(r"\$\{[A-Z_]+=?\}", value), f"{name}: {value!r} is not ${{VAR}}"


def test_checkov_bicep_checks_pass_but_for_the_listed_skips() -> None:
    skips = yaml.safe_load(SKIPS.read_text(encoding="utf-8"))["skips"]
    ids = [s["id"] for s in skips]
    assert len(ids) == len(set(ids)), "a check is skipped twice"
    for skip in skips:
        assert re.fullmatch(r"CKV2?_AZURE_\d+", skip["id"]), skip
        assert len(str(skip.get("reason") or "").split()) >= 5, f"{skip['id']}: no reason"
    assert CHECKOV.is_file(), "checkov missing: `make .venv-checkov/.stamp` installs it"
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(INFRA), "--framework", "bicep", *CHECKOV_ARGS],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        check=False,
    )
    report = json.loads(proc.stdout)
    results = report["results"] if isinstance(report, dict) else report[0]["results"]
    summary = report["summary"] if isinstance(report, dict) else report[0]["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 0
    assert summary["passed"] > 0
    unlisted = [
        f"{c['check_id']} {c['check_name']} ({c['file_path']} {c['resource']})"
        for c in results["failed_checks"]
        if c["check_id"] not in ids
    ]
    assert not unlisted, "checkov findings not in infra/checkov-skips.yaml:\n" + "\n".join(unlisted)
    stale = set(ids) - {c["check_id"] for c in results["failed_checks"]}
    assert not stale, f"skips no longer needed (the template passes them): {sorted(stale)}"


def test_app_settings_cover_what_the_app_requires() -> None:
    settings = app_settings()
    assert "IMAGE_REQUESTS_QUEUE" in required_settings()  # the model still says so
    missing = (required_settings() | IDENTITY_DEPLOY_SETTINGS | DTS_SETTINGS) - set(settings)
    assert not missing, f"api.bicep app settings lack {sorted(missing)}"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    # Every name the app reads from these settings is spelled as the settings model spells it.
    aliases = {f.alias for f in Settings.model_fields.values()}
    own = {
        k
        for k in settings
        if k.isupper() and not k.startswith(("APPLICATIONINSIGHTS_", "DURABLE_"))
    }
    assert own - {"AZURE_CLIENT_ID"} <= aliases, own - aliases


def test_app_settings_hold_no_secret_literal() -> None:
    tree = parsed(API)
    secure = {
        name
        for name, p in tree["parameters"].items()
        if any(d.get("type") == "secure" for d in p.get("decorators", []))
    }
    settings = app_settings()
    assert "AzureWebJobsStorage" not in settings  # no connection string: identity only
    for name, value in settings.items():
        text = json.dumps(value)
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{name} holds {pattern.pattern}"
        if SECRET_NAMES.search(name):
            assert value in secure, f"{name} must come from a @secure() parameter, not {value!r}"
    assert settings["STATUS_LINK_SECRET"] in secure
    # The secure parameter has no default (no literal) and arrives from main.bicep's own.
    assert tree["parameters"][settings["STATUS_LINK_SECRET"]].get("default") is None


def test_app_settings_load_into_the_settings_model() -> None:
    """The literal values the template writes, with placeholders for the computed ones, load."""
    settings = app_settings()
    env = {k: v for k, v in settings.items() if isinstance(v, str)}
    models = settings["IMAGE_MODELS"]["function"]["parameters"]["value_to_convert"]
    # the name and family are the model parameter (allowed: the GPT image families)
    (entry,) = models.values()
    model = {**entry, "deployment": "gpt-image-2", "family": "gpt-image-2"}
    env["IMAGE_MODELS"] = json.dumps({"gpt-image-2": model})
    env["IMAGES_STORAGE_ACCOUNT_URL"] = "https://stexample.blob.core.windows.net"
    env["AZURE_OPENAI_ENDPOINT"] = "https://oai-example.openai.azure.com/"
    env["IMAGE_REQUESTS_QUEUE"] = "image-requests"
    env["STATUS_LINK_SECRET"] = "0123456789abcdefghijklmnopqrstuvwxyzABCD"
    env["STATUS_LINK_SECRET_PREVIOUS"] = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxw"  # rotating
    env["IMAGE_DEFAULT_MODEL"] = "gpt-image-2"  # the model parameter's default
    env["IMAGES_CONTAINER"] = "images"
    loaded = load_settings(
        {k: v for k, v in env.items() if k in {f.alias for f in Settings.model_fields.values()}}
    )
    assert list(loaded.image_models) == ["gpt-image-2"]
    assert loaded.image_default_model == "gpt-image-2"


def test_dts_switches_the_provider_and_authenticates_with_the_identity() -> None:
    settings = app_settings()
    prefix = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
    assert settings[prefix + "type"] == "azureManaged"
    assert settings[prefix + "connectionStringName"] == "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
    conn = settings["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"]
    assert re.fullmatch(
        r"Endpoint=\$\{\w+\};Authentication=ManagedIdentity;ClientID=\$\{identityClientId\}", conn
    )
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert "storageProvider" not in host["extensions"]["durableTask"]  # default: Azure Storage


def test_function_app_is_flex_consumption_python_with_identity_package_auth() -> None:
    tree = parsed(API)
    plan = tree["resources"]["plan"]["config"]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    config = tree["resources"]["functionApp"]["config"]["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    assert tree["variables"]["pythonVersion"]["value"] == "3.11"
    auth = config["deployment"]["storage"]["authentication"]
    assert auth == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}
    storage = parsed(INFRA / "app" / "storage.bicep")["resources"]["storage"]["config"]
    assert storage["properties"]["allowSharedKeyAccess"] is False
    assert storage["properties"]["allowBlobPublicAccess"] is False
    assert storage["properties"]["minimumTlsVersion"] == "TLS1_2"
    insights = parsed(INFRA / "app" / "monitoring.bicep")["resources"]["applicationInsights"]
    assert insights["config"]["properties"]["DisableLocalAuth"] is True
    account = parsed(INFRA / "app" / "openai.bicep")["resources"]["account"]["config"]
    assert account["properties"]["disableLocalAuth"] is True


def test_azure_yaml_names_the_python_function_service_at_the_root() -> None:
    doc = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert doc["name"]
    service = doc["services"]["api"]
    assert service["language"] == "python"
    assert service["host"] == "function"
    assert (ROOT / service["project"]).resolve() == ROOT
    assert "serviceName: 'api'" in (INFRA / "main.bicep").read_text(encoding="utf-8")


def shipped_files() -> set[str]:
    """The repo tree as the deploy tools package it: .funcignore's gitignore patterns applied."""
    spec = pathspec.GitIgnoreSpec.from_lines(
        (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    )
    shipped: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT)
        dirs[:] = [d for d in dirs if not spec.match_file(f"{(rel / d).as_posix()}/")]
        shipped.update(
            (rel / f).as_posix() for f in files if not spec.match_file((rel / f).as_posix())
        )
    return shipped


def test_funcignore_ships_only_the_app() -> None:
    shipped = shipped_files()
    tops = {path.split("/", 1)[0] for path in shipped}
    assert tops == SHIPPED_TOP_LEVEL, f"would ship {sorted(tops - SHIPPED_TOP_LEVEL)}"
    assert {"function_app.py", "host.json", "requirements.txt", "shared/settings.py"} <= shipped
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in shipped)
