"""Only the app ships, and what ships works on its own (issue #14, outcome 4).

The package is built the way Core Tools (``func azure functionapp publish``, ``func pack``) and azd
build a Python function app's: every file of the project except what ``.funcignore`` excludes
(gitignore syntax, matched here by ``pathspec``'s gitignore flavour, which mypy already pulls in).
An ignored directory is not descended into, as with git: nothing under it can come back.

Then, as a remote build does, a fresh virtual environment gets the package's
``requirements.txt`` (from the configured index, through pip's cache), and the functions are
indexed from the package alone the way the Python worker indexes a v2 app: import
``function_app`` with the package as the working directory, list ``app.get_functions()`` and
their bindings. They must be exactly the ones tests/unit/test_layering.py lists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pathspec
import pytest

from tests.unit.test_layering import FUNCTIONS

ROOT = Path(__file__).resolve().parents[3]
FUNCIGNORE = ROOT / ".funcignore"

MUST_SHIP = (
    "function_app.py",
    "host.json",
    "requirements.txt",
    "shared/__init__.py",
    # the playground (GET /api/ui): static files the app reads at run time
    "shared/ui/index.html",
    "shared/ui/app.js",
    "shared/ui/app.css",
)
# Directories of the repository that are not the app (each must be kept out whole).
NOT_THE_APP = (
    "devstack",
    "tests",
    "bench",
    "docs",
    "connector",
    "infra",
    "node_modules",
    ".venv",
    ".git",
    ".ci",
)
# Paths that exist only on some machines (local data, caches, secrets): checked against the
# rules, whether or not they are there right now. From .gitignore and the devstack's data dirs.
MUST_NOT_SHIP_EVEN_IF_PRESENT = (
    "local.settings.json",  # local secrets; every Core Tools template ignores it
    ".devstack-data/engine.sqlite",
    "__blobstorage__/images/a.png",
    "__queuestorage__/queue.json",
    "__azurite_db_blob__.json",
    "generated-images/a.png",
    "durable.sqlite",
    "durable.sqlite-wal",
    "bench/results/run.json",
    "test-artifacts/playground.png",
    "mutants/shared/ids.py",
    ".hypothesis/examples/x",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/x.json",
    ".ruff_cache/x",
    "__pycache__/function_app.cpython-311.pyc",
    "shared/__pycache__/ids.cpython-311.pyc",
    "node_modules/azurite/package.json",
    ".venv/bin/python",
    "tests/conftest.py",
    "infra/main.bicep",
)
PACKAGE_MAX_BYTES = 5 * 1024 * 1024  # the app's source is about 1 MiB; node_modules is 360 MB
PIP_TIMEOUT_S = 240
REQS = ("-r", "requirements.txt")  # the package's own, read from its directory


def funcignore() -> pathspec.GitIgnoreSpec:
    if not FUNCIGNORE.is_file():
        pytest.skip(
            ".funcignore is missing: the deployment package cannot be built as the deploy tools "
            "build it (issue #14 adds it with infra/ and azure.yaml)"
        )
    return pathspec.GitIgnoreSpec.from_lines(FUNCIGNORE.read_text(encoding="utf-8").splitlines())


def ignored(spec: pathspec.GitIgnoreSpec, rel: str) -> bool:
    """Whether the tools leave `rel` (a file, posix, relative to the project) out: it matches,
    or one of its directories does."""
    parts = rel.split("/")
    dirs = ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]
    return any(spec.match_file(d) for d in dirs) or spec.match_file(rel)


def package_files(spec: pathspec.GitIgnoreSpec, root: Path = ROOT) -> list[str]:
    """Every file the package holds, posix paths relative to the project."""
    files: list[str] = []
    for here, dirnames, filenames in os.walk(root):
        base = Path(here).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(f"{prefix}{d}/"))
        files.extend(
            f"{prefix}{name}" for name in sorted(filenames) if not ignored(spec, f"{prefix}{name}")
        )
    return files


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    spec = funcignore()
    files = package_files(spec)
    out = tmp_path_factory.mktemp("package") / "app"
    for rel in files:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    return out, files


def test_the_package_holds_the_app(package: tuple[Path, list[str]]) -> None:
    _, files = package
    shipped = set(files)
    missing = [f for f in MUST_SHIP if f not in shipped]
    assert not missing, f".funcignore leaves out what the app needs: {missing}"
    app_modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "shared").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert app_modules - shipped == set(), "shared/ does not ship whole"


def test_nothing_but_the_app_ships(package: tuple[Path, list[str]]) -> None:
    out, files = package
    spec = funcignore()
    leaked = sorted(
        f for f in files if f.split("/", 1)[0] in NOT_THE_APP or "__pycache__" in f.split("/")
    )
    assert not leaked, f"shipped, but not the app: {leaked[:20]}"
    would_ship = [p for p in MUST_NOT_SHIP_EVEN_IF_PRESENT if not ignored(spec, p)]
    assert not would_ship, f".funcignore lets these through when they exist: {would_ship}"
    size = sum((out / f).stat().st_size for f in files)
    assert size < PACKAGE_MAX_BYTES, f"the package is {size} bytes: {files}"


INDEX_PROBE = """
import json, sys
from pathlib import Path
import function_app
here = Path.cwd().resolve()
for name in ("function_app", "shared"):
    origin = Path(sys.modules[name].__file__).resolve()
    assert here in origin.parents, f"{name} imported from {origin}, not from the package"
functions = function_app.app.get_functions()
for f in functions:
    f.get_raw_bindings()  # what the worker sends the host for each function
print(json.dumps({f.get_function_name(): sorted([b.type, b.name] for b in f.get_bindings())
                  for f in functions}))
"""


def test_a_fresh_venv_with_its_requirements_indexes_every_function(
    package: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out, _ = package
    venv = tmp_path / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    created = time.monotonic()
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-input", "--progress-bar", "off", "-q", *REQS],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
        check=False,
    )
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-3000:]
    installed = time.monotonic()
    # The host starts the worker in the app's directory with only the app's settings: no
    # settings are needed to index, and nothing of the repository is on the path.
    proc = subprocess.run(
        [str(python), "-c", INDEX_PROBE],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    registered = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {name: sorted(list(b) for b in bindings) for name, bindings in FUNCTIONS.items()}
    assert registered == expected
    print(
        f"venv {created - started:.1f} s, pip install {installed - created:.1f} s, "
        f"indexing {time.monotonic() - installed:.1f} s"
    )
