"""What an import loads: pure modules load no SDK; the app loads its SDK clients on first use.

On a consumption plan every cold start pays for ``import function_app``; Blob and Queue Storage,
azure-identity, azure-core, httpx and aiohttp belong to the first call that needs them. Each check
runs in a fresh interpreter (this one imported everything long ago) and, when it fails, names the
import chain that pulled the module in, from ``-X importtime``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDKS = "import azure.functions, azure.durable_functions"
_MARK = "--- modules loaded ---"


def imported_by(statement: str, *, after: str = "") -> tuple[set[str], list[tuple[int, str]]]:
    """The modules `statement` adds to sys.modules in a new interpreter (run after `after`), and
    its ``-X importtime`` tree as (depth, module) lines, children before their parent."""
    probe = (
        f"import sys\n{after}\nbefore = set(sys.modules)\n{statement}\n"
        f"print({_MARK!r})\nprint('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(proc.stdout.split(_MARK, 1)[1].split())
    tree = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "[us]" not in line:
            name = line.rsplit("|", 1)[1]
            tree.append(((len(name) - len(name.lstrip())) // 2, name.strip()))
    return loaded, tree


def matching(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def chain(tree: list[tuple[int, str]], prefix: str) -> str:
    """`a > b > ... > prefix`: who imported the outermost module under `prefix`."""
    hits = [i for i, (_, name) in enumerate(tree) if matching({name}, (prefix,))]
    if not hits:
        return f"{prefix} (not in the -X importtime tree)"
    i = min(hits, key=lambda k: tree[k][0])
    path = [tree[i][1]]
    depth = tree[i][0]
    for d, name in tree[i + 1 :]:  # a parent is printed after its children, one level up
        if d < depth:
            path.append(name)
            depth = d
    return " > ".join(reversed(path))


def explain(tree: list[tuple[int, str]], found: list[str], prefixes: tuple[str, ...]) -> str:
    heads = [p for p in prefixes if any(m == p or m.startswith(p + ".") for m in found)]
    return "loaded: " + ", ".join(found[:12]) + "\n" + "\n".join(chain(tree, p) for p in heads)


MODELS_MUST_NOT_LOAD = (
    "shared.blueprints",
    "shared.notify.activities",
    "azure.storage",
    "azure.identity",
    "httpx",
    "aiohttp",
)
SDK_USERS_MUST_NOT_LOAD = ("azure.storage", "azure.identity", "azure.core", "aiohttp")


def test_models_load_no_blueprint_and_no_sdk() -> None:
    loaded, tree = imported_by("import shared.models")
    found = matching(loaded, MODELS_MUST_NOT_LOAD)
    # Fails until shared/notify/* is pure for models: shared.models imports CallbackUrl from
    # shared.notify.callback (httpx), whose package __init__ imports the notify blueprint
    # (shared.notify.activities) and its queue clients (azure.storage.queue, aiohttp via
    # azure.durable_functions). The fix is on the shared/notify + shared/models side.
    assert not found, explain(tree, found, MODELS_MUST_NOT_LOAD)


def test_pure_packages_load_no_sdk() -> None:
    """shared.imaging and shared.storage re-export only pure names: the flavour clients (httpx)
    and the store (azure-storage-blob) are imported from their own modules."""
    prefixes = ("httpx", "aiohttp", "azure", "shared.imaging.factory", "shared.storage.store")
    loaded, tree = imported_by("import shared.imaging, shared.storage")
    found = matching(loaded, prefixes)
    assert not found, explain(tree, found, prefixes)


def test_store_and_runtime_modules_load_their_sdks_on_first_use() -> None:
    loaded, tree = imported_by("import shared.storage.store, shared.blueprints.deps")
    found = matching(loaded, SDK_USERS_MUST_NOT_LOAD)
    assert not found, explain(tree, found, SDK_USERS_MUST_NOT_LOAD)


@pytest.mark.parametrize("prefix", ["azure.storage", "azure.identity", "aiohttp"])
def test_function_app_loads_no_storage_identity_or_aiohttp(prefix: str) -> None:
    # aiohttp: azure.durable_functions imports it itself (models/utils/http_utils.py), so the
    # check is that the app loads no aiohttp module beyond the ones the SDKs already did.
    loaded, tree = imported_by("import function_app", after=SDKS)
    found = matching(loaded, (prefix,))
    # azure.storage: fails until shared/notify/* stops importing its queue clients at import:
    # function_app > shared.notify > shared.notify.activities > shared.notify.queues >
    # azure.storage.queue (also reached through shared.models > shared.notify.callback).
    assert not found, explain(tree, found, (prefix,))


# What a cold start must not pay for: the app's own modules (models, settings, clients) load in
# the first call of a trigger, not when the host imports function_app to index the functions.
FUNCTION_APP_MUST_NOT_LOAD = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "httpx",
    "azure.core",
    "azure.storage",
    "azure.identity",
)


def test_function_app_registers_without_models_settings_or_clients() -> None:
    loaded, tree = imported_by("import function_app")
    found = matching(loaded, FUNCTION_APP_MUST_NOT_LOAD)
    # Fails until the package __init__s of shared/notify and shared/openapi stop importing their
    # pydantic modules eagerly (function_app > shared.notify.activities > shared.notify >
    # shared.notify.orchestration > pydantic; shared.openapi.blueprint > shared.openapi >
    # shared.openapi.document > shared.models, shared.settings): every blueprint module itself
    # imports them only inside its triggers.
    assert not found, explain(tree, found, FUNCTION_APP_MUST_NOT_LOAD)


# Every function the app registers, with its bindings (type, name): lazy imports inside the
# triggers must not drop or rename one.
FUNCTIONS = {
    "delete_operation": [("activityTrigger", "payload")],
    "discard_job_blobs": [("activityTrigger", "payload")],
    "generate_images": [("activityTrigger", "payload")],
    "persist_image": [("activityTrigger", "payload")],
    "poll_operation": [("activityTrigger", "payload")],
    "submit_operation": [("activityTrigger", "payload")],
    "notify_callback": [("activityTrigger", "payload")],
    "notify_results_queue": [("activityTrigger", "payload")],
    "image_job": [("orchestrationTrigger", "context")],
    "start_image_job": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "start_edit_job": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "get_image_job": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "get_image_file": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "get_signed_status": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "get_signed_image": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "get_signed_preview": [
        ("durableClient", "client"),
        ("httpTrigger", "req"),
        ("http", "$return"),
    ],
    "cancel_image_job": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "list_image_jobs": [("durableClient", "client"), ("httpTrigger", "req"), ("http", "$return")],
    "openapi_json": [("httpTrigger", "req"), ("http", "$return")],
    "list_models": [("httpTrigger", "req"), ("http", "$return")],
    "playground_page": [("httpTrigger", "req"), ("http", "$return")],
    "playground_asset": [("httpTrigger", "req"), ("http", "$return")],
    "image_requests_queue": [("durableClient", "client"), ("queueTrigger", "msg")],
}


def test_function_app_still_registers_every_function() -> None:
    """In a fresh interpreter, as the host indexes it (this one has imported the app's modules)."""
    probe = (
        "import json, function_app\n"
        "print(json.dumps({f.get_function_name():"
        " sorted([b.type, b.name] for b in f.get_bindings())"
        " for f in function_app.app.get_functions()}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    registered = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {name: sorted(list(b) for b in bindings) for name, bindings in FUNCTIONS.items()}
    assert registered == expected
