"""Function keys enforced like Azure once ``DEVSTACK_FUNCTION_KEY`` is set; open without it.

The sample app (function-level by default, one anonymous and one admin route) runs with the
function key in its ``local.settings.json`` and the master key in the environment; the real app
runs with the function key in the environment, its Durable client and the emulator behind it.
Every host's whole output is kept on disk, so the tests can show no key reached any log line.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.azurite import AzuriteEndpoints
from devstack.host.keys import AuthLevel, HostKeys, presented_key
from devstack.launch import REPO_ROOT, LocalHost, app_env
from tests.conftest import EmulatorHandle
from tests.integration.host.conftest import SAMPLE_APP
from tests.integration.host.test_bad_requests import wait_for_log

FUNCTION_KEY = f"fk-{uuid.uuid4().hex}"
MASTER_KEY = f"mk-{uuid.uuid4().hex}"
APP_KEY = f"ak-{uuid.uuid4().hex}"
KEYS_UNSET = ("DEVSTACK_FUNCTION_KEY", "DEVSTACK_MASTER_KEY")


@dataclass
class KeyedHost:
    host: LocalHost
    log_path: Path

    @property
    def api(self) -> str:
        return self.host.api_url

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _start(app_dir: Path, data: Path, env: dict[str, str], name: str) -> KeyedHost:
    log_path = data / "host.log"
    host = LocalHost(app_dir, data / "host", env, log_path=log_path, name=name)
    host.start(timeout=90)
    return KeyedHost(host, log_path)


@pytest.fixture(scope="module")
def keyed_sample(
    azurite: AzuriteEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KeyedHost]:
    """The sample app; DEVSTACK_FUNCTION_KEY from local.settings.json, the master key from env."""
    data = tmp_path_factory.mktemp("keyed-sample")
    app_dir = data / "app"
    shutil.copytree(SAMPLE_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    sample = json.loads((app_dir / "local.settings.sample.json").read_text(encoding="utf-8"))
    sample["Values"]["DEVSTACK_FUNCTION_KEY"] = FUNCTION_KEY
    (app_dir / "local.settings.json").write_text(json.dumps(sample), encoding="utf-8")
    env = app_env(
        azurite.connection_string,
        unset=KEYS_UNSET,
        SAMPLE_QUEUE=f"keyed-{uuid.uuid4().hex[:8]}",
        DEVSTACK_MASTER_KEY=MASTER_KEY,
    )
    keyed = _start(app_dir, data, env, "keyed-sample")
    try:
        yield keyed
    finally:
        keyed.host.stop()


@pytest.fixture(scope="module")
def keyed_app(
    azurite: AzuriteEndpoints,
    emulator_process: EmulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KeyedHost]:
    """function_app.py itself, with DEVSTACK_FUNCTION_KEY in the environment."""
    data = tmp_path_factory.mktemp("keyed-app")
    env = app_env(
        azurite.connection_string,
        emulator_process.base_url,
        emulator_process.api_key,
        unset=(*KEYS_UNSET, "IMAGE_MODELS", "IMAGE_DEFAULT_MODEL", "IMAGES_STORAGE_CONNECTION"),
        FUNCTIONS_WORKER_RUNTIME="python",
        IMAGES_CONTAINER=f"keys-{uuid.uuid4().hex[:10]}",
        DEVSTACK_FUNCTION_KEY=APP_KEY,
    )
    keyed = _start(REPO_ROOT, data, env, "keyed-app")
    try:
        yield keyed
    finally:
        keyed.host.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, follow_redirects=False) as c:
        yield c


def _assert_refused(r: httpx.Response) -> None:
    """What the Functions host answers: 401, nothing in the body."""
    assert r.status_code == 401, r.text
    assert r.content == b""


# -- the sample app, keys enforced --------------------------------------------------------------


def test_a_function_level_route_without_a_key_is_an_empty_401(keyed_sample, client):
    _assert_refused(client.get(f"{keyed_sample.api}/hello"))
    _assert_refused(client.post(f"{keyed_sample.api}/echo", content=b"x" * 100_000))


def test_a_wrong_key_is_a_401_in_the_header_or_the_query(keyed_sample, client):
    url = f"{keyed_sample.api}/hello"
    _assert_refused(client.get(url, headers={"x-functions-key": "not-the-key"}))
    _assert_refused(client.get(url, params={"code": "not-the-key"}))
    _assert_refused(client.get(url, headers={"x-functions-key": FUNCTION_KEY[:-1]}))
    _assert_refused(client.get(url, headers={"x-functions-key": FUNCTION_KEY + "x"}))
    _assert_refused(client.get(url, headers={"x-functions-key": ""}))


def test_the_function_key_in_the_header_or_as_code_calls_the_function(keyed_sample, client):
    url = f"{keyed_sample.api}/hello"
    by_header = client.get(
        url, params={"name": "badger"}, headers={"X-Functions-Key": FUNCTION_KEY}
    )
    assert by_header.status_code == 200
    assert by_header.text == "hello badger"
    by_code = client.get(url, params={"code": FUNCTION_KEY, "name": "otter"})
    assert by_code.status_code == 200
    assert by_code.text == "hello otter"
    # As ASP.NET reads a query: the name in any case, the first of repeated values.
    assert client.get(url, params={"CODE": FUNCTION_KEY}).status_code == 200
    assert client.get(f"{url}?code={FUNCTION_KEY}&code=other").status_code == 200
    keyed_items = client.delete(
        f"{keyed_sample.api}/items/7", headers={"x-functions-key": FUNCTION_KEY}
    )
    assert keyed_items.json() == {"id": "7", "method": "DELETE"}


def test_the_header_wins_over_code_as_on_azure(keyed_sample, client):
    url = f"{keyed_sample.api}/hello"
    _assert_refused(
        client.get(url, params={"code": FUNCTION_KEY}, headers={"x-functions-key": "wrong"})
    )
    _assert_refused(client.get(url, params={"code": FUNCTION_KEY}, headers={"x-functions-key": ""}))
    assert (
        client.get(url, params={"code": "wrong"}, headers={"x-functions-key": FUNCTION_KEY})
    ).status_code == 200


def test_anonymous_routes_and_missing_routes_need_no_key(keyed_sample, client):
    r = client.get(f"{keyed_sample.api}/public")
    assert r.status_code == 200
    assert r.text == "anyone may read this"
    assert client.get(f"{keyed_sample.api}/public", params={"code": "wrong"}).status_code == 200
    # Routing comes first: a path no function serves is a 404, key or not.
    assert client.get(f"{keyed_sample.api}/nothing-here").status_code == 404
    assert client.post(f"{keyed_sample.api}/hello").status_code == 404


def test_admin_routes_take_the_master_key_only_and_it_opens_function_routes(keyed_sample, client):
    admin = f"{keyed_sample.api}/admin-only"
    _assert_refused(client.get(admin))
    _assert_refused(client.get(admin, headers={"x-functions-key": FUNCTION_KEY}))
    assert client.get(admin, headers={"x-functions-key": MASTER_KEY}).text == "admins only"
    assert client.get(admin, params={"code": MASTER_KEY}).status_code == 200
    hello = client.get(f"{keyed_sample.api}/hello", headers={"x-functions-key": MASTER_KEY})
    assert hello.text == "hello world"


def test_a_refused_request_never_runs_the_function_and_no_key_is_logged(keyed_sample, client):
    marker = f"refused-{uuid.uuid4().hex[:8]}"
    # Earlier tests' lines are on disk once this refusal's line is (the log is one stream).
    _assert_refused(client.get(f"{keyed_sample.api}/items/{marker}-start"))
    start_line = f"GET /api/items/{marker}-start -> 401"
    text = wait_for_log(keyed_sample.host, start_line)
    before = text.index(start_line) + len(start_line)
    _assert_refused(client.get(f"{keyed_sample.api}/items/{marker}"))
    ok = client.get(f"{keyed_sample.api}/items/{marker}-ok", params={"code": FUNCTION_KEY})
    assert ok.status_code == 200
    boom = client.get(f"{keyed_sample.api}/boom", headers={"x-functions-key": FUNCTION_KEY})
    assert boom.status_code == 500
    # The access log line is written after the answer: the last request's, last.
    text = wait_for_log(keyed_sample.host, "GET /api/boom -> 500")
    refused_line = text.index(f"GET /api/items/{marker} -> 401", before)
    ok_line = text.index(f"GET /api/items/{marker}-ok -> 200", refused_line)
    assert "Executing" not in text[before:refused_line]
    assert text[refused_line:ok_line].count("Executing 'Functions.item'") == 1
    assert "function keys enforced (DEVSTACK_FUNCTION_KEY, DEVSTACK_MASTER_KEY set)" in text
    assert "/api/public (anonymous)" in text
    assert "/api/admin-only (admin)" in text
    assert "/api/hello (function)" in text
    for key in (FUNCTION_KEY, MASTER_KEY):
        assert key not in text


# -- the real app, keys enforced ----------------------------------------------------------------


def test_the_apps_openapi_document_is_anonymous_and_its_api_needs_the_key(keyed_app, client):
    doc = client.get(f"{keyed_app.api}/openapi.json")
    assert doc.status_code == 200
    assert doc.json()["swagger"] == "2.0"
    _assert_refused(client.get(f"{keyed_app.api}/models"))
    _assert_refused(client.get(f"{keyed_app.api}/images/some-job", params={"code": "nope"}))
    _assert_refused(client.post(f"{keyed_app.api}/images", json={"prompt": "a badger"}))
    models = client.get(f"{keyed_app.api}/models", headers={"x-functions-key": APP_KEY})
    assert models.status_code == 200, models.text
    assert client.get(f"{keyed_app.api}/models", params={"code": APP_KEY}).status_code == 200


def test_a_job_runs_through_the_open_durable_api_with_the_key_only_on_the_callers_side(
    keyed_app, client
):
    headers = {"x-functions-key": APP_KEY}
    started = client.post(
        f"{keyed_app.api}/images", json={"prompt": "a badger in a bowler hat"}, headers=headers
    )
    assert started.status_code == 202, started.text
    link = started.headers["Location"]  # signed: it opens without the key
    status_url = f"{keyed_app.api}/images/{started.json()['id']}"
    assert APP_KEY not in started.text
    assert all(APP_KEY not in v for v in started.headers.values())
    _assert_refused(client.get(status_url))
    assert client.get(link).status_code in (200, 202)
    deadline = time.monotonic() + 60
    while (r := client.get(status_url, headers=headers)).status_code == 202:
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    # The engine's own HTTP API is left open (the app's durable client uses it without a key).
    base = keyed_app.host.base_url
    engine = client.get(f"{base}/runtime/webhooks/durabletask/instances/{uuid.uuid4().hex}")
    assert engine.status_code == 404
    assert APP_KEY not in keyed_app.log_text()


# -- no key configured: open, as Core Tools ------------------------------------------------------


def test_without_the_setting_every_route_is_open(sample_host, client):
    api = f"{sample_host.base_url}/api"
    assert client.get(f"{api}/hello").text == "hello world"
    assert client.get(f"{api}/hello", headers={"x-functions-key": "anything"}).status_code == 200
    assert client.get(f"{api}/admin-only").text == "admins only"
    assert client.get(f"{api}/public").status_code == 200


# -- the pieces, in process ----------------------------------------------------------------------


def test_the_auth_level_comes_from_the_apps_registrations(keyed_app):
    """The host's route list shows each level: openapi.json and the signed status routes say
    anonymous, the DFApp's http_auth_level=FUNCTION covers every other route."""
    listed = re.findall(r"\] http://\S+/api/(\S+) \((\w+)\)$", keyed_app.log_text(), re.M)
    levels = dict(listed)
    assert levels.pop("openapi.json") == "anonymous"
    assert levels.pop("status/{id}") == "anonymous"  # checks its link's signature itself
    assert levels.pop("status/{id}/images/{index}") == "anonymous"
    assert levels.pop("status/{id}/previews/{index}") == "anonymous"
    assert levels.pop("ui") == "anonymous"  # the playground page holds no secret
    assert levels.pop("ui/{name}") == "anonymous"
    assert {"images", "images/{id}", "models"} <= set(levels)
    assert set(levels.values()) == {"function"}


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("ANONYMOUS", AuthLevel.ANONYMOUS),
        ("anonymous", AuthLevel.ANONYMOUS),
        ("FUNCTION", AuthLevel.FUNCTION),
        ("Admin", AuthLevel.ADMIN),
        (None, AuthLevel.FUNCTION),  # the host's default
        ("", AuthLevel.FUNCTION),
        ("system", AuthLevel.ADMIN),  # unknown: closed, never open
    ],
)
def test_auth_levels_parse_like_the_host(value, level):
    assert AuthLevel.parse(value) is level


def test_which_key_opens_which_level():
    keys = HostKeys(function_key="fkey-12345", master_key="mkey-12345")
    assert keys.authorizes(AuthLevel.ANONYMOUS, None)
    assert not keys.authorizes(AuthLevel.FUNCTION, None)
    assert not keys.authorizes(AuthLevel.FUNCTION, "")
    assert not keys.authorizes(AuthLevel.FUNCTION, "fkey-1234")
    assert keys.authorizes(AuthLevel.FUNCTION, "fkey-12345")
    assert keys.authorizes(AuthLevel.FUNCTION, "mkey-12345")
    assert not keys.authorizes(AuthLevel.ADMIN, "fkey-12345")
    assert keys.authorizes(AuthLevel.ADMIN, "mkey-12345")
    only_function = HostKeys(function_key="fkey-12345")
    assert not only_function.authorizes(AuthLevel.ADMIN, "fkey-12345")
    assert not only_function.authorizes(AuthLevel.ADMIN, None)
    open_host = HostKeys.from_environ({"DEVSTACK_FUNCTION_KEY": ""})
    assert not open_host.enforced
    assert open_host.authorizes(AuthLevel.ADMIN, None)
    assert "fkey" not in repr(keys)
    assert "mkey" not in repr(keys)


def test_the_presented_key_is_the_header_if_present_else_the_first_code():
    assert presented_key({}, [("name", "x"), ("Code", "q1"), ("code", "q2")]) == "q1"
    assert presented_key({"x-functions-key": "h"}, [("code", "q")]) == "h"
    assert presented_key({"x-functions-key": ""}, [("code", "q")]) == ""
    assert presented_key({}, [("codes", "q")]) is None
