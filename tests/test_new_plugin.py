"""``tessera plugins new``: the package it writes passes its own tests against the kernel,
run from its own folder with ``core.testing`` as a plugin author would (in a subprocess,
on a database of its own so the session's database never gets the new plugin's branch)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


async def _drop_database(owner_url: str) -> None:
    url = make_url(owner_url)
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await engine.dispose()


def run_plugin_tests(folder: Path, settings, suffix: str) -> subprocess.CompletedProcess:
    """``python -m pytest`` in a plugin's folder, as its author runs it, on a database of
    its own (dropped afterwards)."""
    database = f"{make_url(settings.database_url).database}_{suffix}"
    env = {
        **os.environ,
        "TESSERA_TEST_DATABASE": database,
        "TESSERA_PLUGIN_MODULES": "",  # the kernel's sample plugin is not there
        "PYTHONPATH": str(ROOT),  # the kernel, as if installed
    }
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        owner = make_url(settings.owner_url()).set(database=database)
        asyncio.run(_drop_database(owner.render_as_string(hide_password=False)))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run


def test_the_hello_example_passes_its_own_tests(settings):
    run = run_plugin_tests(ROOT / "examples" / "tessera-hello-plugin", settings, "hello_example")
    assert "5 passed" in run.stdout


def test_a_new_plugin_passes_its_own_tests(settings, tmp_path, capsys):
    assert main(["plugins", "new", "acme_notes", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "tessera-acme-notes"
    assert f"wrote {package}" in capsys.readouterr().out
    for part in ("pyproject.toml", "acme_notes/manifest.py", "acme_notes/models.py", "tests/conftest.py"):
        assert (package / part).is_file(), part
    assert list((package / "acme_notes" / "migrations").glob("0001_*.py"))

    run = run_plugin_tests(package, settings, "newplugin")
    assert "5 passed" in run.stdout


def test_a_name_that_cannot_be_a_plugin_is_refused_in_one_line(tmp_path, capsys):
    assert main(["plugins", "new", "Acme-Notes", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tessera: 'Acme-Notes' cannot be a plugin name") and "\n" not in err
    assert list(tmp_path.iterdir()) == []
    assert main(["plugins", "new", "acme_notes", "--dir", str(tmp_path)]) == 0
    assert main(["plugins", "new", "acme_notes", "--dir", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_the_guide_shows_the_example_conftest_and_test_verbatim():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    example = ROOT / "examples" / "tessera-hello-plugin" / "tests"
    assert (example / "conftest.py").read_text() in guide
    test_text = (example / "test_greetings.py").read_text()
    start = test_text.index("async def test_a_greeting_added_through_the_api_is_on_the_page")
    snippet = test_text[start : test_text.index("\n\n\n", start)]
    assert snippet in guide
