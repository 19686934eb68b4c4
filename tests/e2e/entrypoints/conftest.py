"""The whole devstack (Azurite, the emulator, the local Functions host serving function_app.py)
for the entry-point tests, on free ports, started once for this folder.

Tests that need a hook in a file this part does not own (the blueprints registered in
function_app.py, ``callback_url`` in the request model, ``notify_completion`` in the
orchestrator) fail, naming the hook, if it is missing: a rename must not turn them into skips.
``ENTRYPOINTS_APP_DIR`` points the Stack at another app folder (a patched copy) to try changes
to the hooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[3]
APP_DIR = Path(os.environ.get("ENTRYPOINTS_APP_DIR") or REPO_ROOT)
FILTER_WORD = "forbiddenfruit"
# The stack enforces function keys as Azure does (DEVSTACK_FUNCTION_KEY): every function-level
# call of these tests carries KEY; what Power Automate follows carries none.
FUNCTION_KEY = "entrypoint-tests-function-key"
KEY = {"x-functions-key": FUNCTION_KEY}

_PROBE = """
import inspect, json
import function_app
from shared import models
from shared.orchestration import image_job
names = [f.get_function_name() for f in function_app.app.get_functions()]
print(json.dumps({
    "functions": names,
    "request_callback": "callback_url" in models.ImageRequest.model_fields,
    "job_callback": "callback_url" in models.JobInput.model_fields,
    "orchestrator_notifies": "notify_completion" in inspect.getsource(image_job),
}))
"""


@dataclass(frozen=True)
class Hooks:
    functions: frozenset[str]
    request_callback: bool
    job_callback: bool
    orchestrator_notifies: bool

    def require(self, *functions: str, callbacks: bool = False) -> None:
        missing = [f for f in functions if f not in self.functions]
        if missing:
            pytest.fail(
                f"hook missing: function_app.py does not register {', '.join(missing)} "
                "(see docs/entrypoints.md, 'Hooks')"
            )
        if callbacks and not (
            self.request_callback and self.job_callback and self.orchestrator_notifies
        ):
            pytest.fail(
                "hook missing: callback_url in ImageRequest/JobInput and notify_completion in "
                "the orchestrator (see docs/entrypoints.md, 'Hooks')"
            )


@pytest.fixture(scope="session")
def hooks() -> Hooks:
    """What the app under test registers, read in a fresh interpreter (the app is imported once
    per process, and get_functions() works once per app object)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(APP_DIR)},
    )
    if done.returncode != 0:
        raise AssertionError(f"function_app.py does not import:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Hooks(
        functions=frozenset(data["functions"]),
        request_callback=data["request_callback"],
        job_callback=data["job_callback"],
        orchestrator_notifies=data["orchestrator_notifies"],
    )


@dataclass
class EntryStack:
    stack: Stack
    requests_queue: str
    results_queue: str

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def connection_string(self) -> str:
        assert self.stack.storage is not None
        return self.stack.storage.connection_string

    @property
    def emulator_url(self) -> str:
        assert self.stack.emulator_url is not None
        return self.stack.emulator_url

    def billed_for(self, prompt: str) -> int:
        stats = httpx.get(f"{self.emulator_url}/_emulator/stats", timeout=10).json()
        return int(stats["billed"]["by_prompt"].get(prompt, {}).get("generations", 0))


@pytest.fixture(scope="session")
def entry_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntryStack]:
    suffix = uuid.uuid4().hex[:8]
    requests_queue = f"image-requests-{suffix}"
    results_queue = f"image-results-{suffix}"
    env = dict(os.environ)
    env.update(
        IMAGE_REQUESTS_QUEUE=requests_queue,
        IMAGE_RESULTS_QUEUE=results_queue,
        IMAGE_RESULTS_QUEUE_ENABLED="true",
        CALLBACK_ALLOW_HTTP_HOSTS="127.0.0.1",
        EMULATOR_CONTENT_FILTER_WORDS=FILTER_WORD,
        DEVSTACK_FUNCTION_KEY=FUNCTION_KEY,
    )
    stack = Stack(tmp_path_factory.mktemp("entrypoints-stack"), app_dir=APP_DIR, env=env)
    stack.start(timeout=120)
    try:
        yield EntryStack(stack, requests_queue, results_queue)
    finally:
        stack.stop()


@pytest.fixture
async def callback_server():
    from tests.integration.entrypoints.callback_server import CallbackServer

    server = await CallbackServer().start()
    try:
        yield server
    finally:
        await server.stop()
