"""Third-party proof: the example distribution ``examples/tessera-hello-plugin`` is built
and installed into this venv like any package from PyPI, then driven only through the
``tessera`` command and a real server, as an operator and a clinic would.

Entry points of a freshly installed distribution are seen only by a new interpreter, so
everything after the install runs in subprocesses. They use a database of their own
(``<test database>_hello``): the session's database stays free of the ``hello`` branch,
whose revisions disappear again when the distribution is uninstalled at teardown.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "tessera-hello-plugin"
DIST = "tessera-hello-plugin"
WELCOME = "Welcome! This greeting was added when your clinic turned on the Hello plugin."


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=240, check=False
    )


def _tessera_command() -> list[str]:
    script = Path(sys.executable).with_name("tessera")
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


async def _drop_database(owner_url: str) -> None:
    url = make_url(owner_url)
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HelloSite:
    port: int
    tenant_a: str  # enabled hello with a salutation
    tenant_b: str  # never enabled hello
    tenant_c: str  # enabled hello with defaults
    outputs: dict[str, str] = field(default_factory=dict)
    installed_at: str = ""
    #: slug -> (session cookie, CSRF token) of a front-desk member signed in there
    sessions: dict[str, tuple[str, str]] = field(default_factory=dict)

    def client(self, slug: str) -> httpx.Client:
        """A client signed in as a front-desk member of the clinic (the routes are guarded
        by ``hello:greetings``, which front_desk holds by default)."""
        from core.auth.sessions import COOKIE_NAME

        cookie, csrf = self.sessions[slug]
        # Connect to 127.0.0.1 and name the tenant in the Host header, so the test does
        # not depend on the resolver knowing *.localhost.
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Host": f"{slug}.localhost:{self.port}", "X-CSRF-Token": csrf},
            cookies={COOKIE_NAME: cookie},
            timeout=20,
        )


async def _sign_in_members(
    settings: Settings, hello_url: str, slugs: list[str]
) -> dict[str, tuple[str, str]]:
    """A front-desk member in each clinic, with a real session in Redis, as a sign-in makes."""
    from redis.asyncio import Redis
    from sqlalchemy import text

    from core.auth.sessions import SessionStore

    engine = create_async_engine(settings.with_(database_url=hello_url).owner_url())
    redis = Redis.from_url(settings.redis_url)
    sessions = {}
    try:
        async with engine.begin() as conn:
            for slug in slugs:
                tenant_id = (
                    await conn.execute(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug})
                ).scalar_one()
                user_id = uuid.uuid4()
                await conn.execute(
                    text("INSERT INTO users (id, email, display_name) VALUES (:id, :email, 'Front Desk')"),
                    {"id": user_id, "email": f"desk@{slug}.example.test"},
                )
                await conn.execute(
                    text(
                        "INSERT INTO memberships (tenant_id, user_id, roles, status) "
                        "VALUES (:t, :u, ARRAY['front_desk'], 'active')"
                    ),
                    {"t": tenant_id, "u": user_id},
                )
                session_id, data = await SessionStore(redis).create(
                    user_id=user_id, tenant_id=tenant_id, mfa_verified=True
                )
                sessions[slug] = (session_id, data.csrf_token)
    finally:
        await engine.dispose()
        await redis.aclose()
    return sessions


@pytest.fixture(scope="module")
def installed_hello(tmp_path_factory):
    """Build and install the distribution (not editable: the wheel must carry its templates
    and migrations); uninstall it afterwards so the venv is as before."""
    if _pip("show", DIST).returncode == 0:
        pytest.fail(f"{DIST} is already installed in this venv; `pip uninstall {DIST}` and rerun")
    # Build from a copy so the checkout gets no build/ or *.egg-info folders.
    source = tmp_path_factory.mktemp("hello-src") / "tessera-hello-plugin"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    # Without the `wheel` package this venv's setuptools cannot build, so let pip fetch
    # the build backend into an isolated environment instead.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("wheel") else []
    result = _pip("install", "--no-deps", *isolation, str(source))
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    try:
        yield
    finally:
        removed = _pip("uninstall", "-y", DIST)
        assert removed.returncode == 0, f"pip uninstall failed:\n{removed.stdout}\n{removed.stderr}"


@pytest.fixture(scope="module")
def hello_site(settings: Settings, installed_hello, tmp_path_factory):
    """Migrate a database, create tenants and enable the plugin with the CLI, then serve."""
    workdir = tmp_path_factory.mktemp("hello-run")  # outside the checkout
    owner_url = make_url(settings.database_url)
    hello_url = owner_url.set(database=f"{owner_url.database}_hello").render_as_string(hide_password=False)
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": hello_url,
        # Only what is installed: the third-party plugin reaches core through its entry point.
        "TESSERA_PLUGIN_MODULES": "",
        "TESSERA_PLUGINS_BLOCKED": "",
    }
    suffix = uuid.uuid4().hex[:6]
    site = HelloSite(
        port=_free_port(), tenant_a=f"alpha-{suffix}", tenant_b=f"beta-{suffix}", tenant_c=f"gamma-{suffix}"
    )

    def tessera(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*_tessera_command(), *args],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if ok:
            assert result.returncode == 0, (
                f"tessera {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    asyncio.run(_drop_database(hello_url))
    server = None
    log_path = workdir / "server.log"
    try:
        site.installed_at = subprocess.run(
            [sys.executable, "-c", "import tessera_hello; print(tessera_hello.__file__)"],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        tessera("db", "init")
        site.outputs["upgrade"] = tessera("db", "upgrade").stdout
        tessera("tenants", "create", "--slug", site.tenant_a, "--name", "Alpha Clinic")
        tessera("tenants", "create", "--slug", site.tenant_b, "--name", "Beta Clinic")
        tessera("tenants", "create", "--slug", site.tenant_c, "--name", "Gamma Clinic")
        config = json.dumps({"salutation": "Good day"})
        tessera("plugins", "enable", "hello", "--tenant", site.tenant_a, "--config", config)
        # Enabling again runs the setup hook again; the seed greeting must not double.
        tessera("plugins", "enable", "hello", "--tenant", site.tenant_a, "--config", config)
        tessera("plugins", "enable", "hello", "--tenant", site.tenant_c)
        bad = tessera(
            "plugins",
            "enable",
            "hello",
            "--tenant",
            site.tenant_b,
            "--config",
            json.dumps({"salutation": "x" * 41}),
            ok=False,
        )
        site.outputs["bad_config"] = f"{bad.returncode}\n{bad.stderr}"
        site.outputs["list_a"] = tessera("plugins", "list", "--tenant", site.tenant_a).stdout
        site.outputs["list_b"] = tessera("plugins", "list", "--tenant", site.tenant_b).stdout

        site.sessions = asyncio.run(
            _sign_in_members(settings, hello_url, [site.tenant_a, site.tenant_b, site.tenant_c])
        )
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [*_tessera_command(), "serve", "--host", "127.0.0.1", "--port", str(site.port)],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"tessera serve exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{site.port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tessera serve did not answer within 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield site
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)
        asyncio.run(_drop_database(hello_url))


def test_the_distribution_installs_with_its_package_data(hello_site):
    installed = Path(hello_site.installed_at).parent
    assert SOURCE not in installed.parents, "the plugin must run from the installed wheel"
    assert (installed / "templates" / "hello" / "page.html").is_file()
    assert (installed / "static" / "hello" / "hello.css").is_file()
    assert list((installed / "migrations").glob("*_hello_greetings.py"))


def test_the_cli_migrates_and_enables_the_plugin_per_tenant(hello_site):
    assert "hello" in hello_site.outputs["upgrade"]
    assert any(line.split()[:2] == ["on", "hello"] for line in hello_site.outputs["list_a"].splitlines())
    assert any(line.split()[:2] == ["off", "hello"] for line in hello_site.outputs["list_b"].splitlines())
    # The manifest's config schema is enforced: a 41-character salutation is refused readably.
    code, _, message = hello_site.outputs["bad_config"].partition("\n")
    assert code == "1"
    assert "salutation" in message and "Traceback" not in message


def test_the_page_lists_the_seeded_greeting_under_the_configured_salutation(hello_site):
    with hello_site.client(hello_site.tenant_a) as client:
        response = client.get("/hello")
    assert response.status_code == 200, response.text
    assert "text/html" in response.headers["content-type"]
    assert "Good day, Alpha Clinic" in response.text
    assert response.text.count(WELCOME) == 1  # seeded once although enabled twice
    assert 'href="/hello"' in response.text  # the navigation entry
    assert 'hx-post="/hello/greetings"' in response.text

    with hello_site.client(hello_site.tenant_c) as client:
        assert "Hello, Gamma Clinic" in client.get("/hello").text  # the default salutation


def test_the_htmx_form_adds_a_greeting_and_answers_the_list_fragment(hello_site):
    text = f"Happy Monday from the front desk {uuid.uuid4().hex[:6]}"
    with hello_site.client(hello_site.tenant_a) as client:
        response = client.post("/hello/greetings", data={"text": text}, headers={"HX-Request": "true"})
        assert response.status_code == 200, response.text
        assert response.text.lstrip().startswith('<div id="hello-greetings"')
        assert "<html" not in response.text  # a fragment, not a page
        assert text in response.text and WELCOME in response.text
        assert text in client.get("/hello").text


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "cannot be empty"), ("   ", "cannot be empty"), ("x" * 201, "at most 200 characters")],
    ids=["empty", "blank", "too-long"],
)
def test_the_form_refuses_empty_or_too_long_greetings(hello_site, text, message):
    with hello_site.client(hello_site.tenant_a) as client:
        before = client.get("/api/hello/greetings").json()
        response = client.post("/hello/greetings", data={"text": text}, headers={"HX-Request": "true"})
        assert response.status_code == 400
        assert message in response.text and 'role="alert"' in response.text
        assert client.get("/api/hello/greetings").json() == before


def test_the_json_api_lists_and_adds_greetings(hello_site):
    text = f"Welcome aboard, Dr. Reyes {uuid.uuid4().hex[:6]}"
    with hello_site.client(hello_site.tenant_a) as client:
        created = client.post("/api/hello/greetings", json={"text": text})
        assert created.status_code == 201, created.text
        assert created.json()["text"] == text
        listed = client.get("/api/hello/greetings")
        assert listed.status_code == 200
        texts = [g["text"] for g in listed.json()]
        assert texts[0] == text  # newest first
        assert WELCOME in texts
        assert {"id", "text", "created_at"} <= set(listed.json()[0])

        empty = client.post("/api/hello/greetings", json={"text": " "})
        assert empty.status_code == 400
        assert "cannot be empty" in empty.json()["detail"]
        too_long = client.post("/api/hello/greetings", json={"text": "y" * 201})
        assert too_long.status_code == 400
        assert "at most 200 characters" in too_long.json()["detail"]


def test_the_plugin_does_not_exist_for_a_tenant_that_did_not_enable_it(hello_site):
    with hello_site.client(hello_site.tenant_b) as client:
        assert client.get("/hello").status_code == 404
        assert client.post("/hello/greetings", data={"text": "hi"}).status_code == 404
        assert client.get("/api/hello/greetings").status_code == 404
        assert client.post("/api/hello/greetings", json={"text": "hi"}).status_code == 404
        assert client.get("/static/hello/hello.css").status_code == 404
        home = client.get("/")
        assert home.status_code == 200 and 'href="/hello"' not in home.text
    with hello_site.client(hello_site.tenant_a) as client:
        assert client.get("/static/hello/hello.css").status_code == 200


def test_tenants_see_only_their_own_greetings(hello_site):
    secret = f"Alpha-only greeting {uuid.uuid4().hex[:6]}"
    with hello_site.client(hello_site.tenant_a) as client:
        assert client.post("/api/hello/greetings", json={"text": secret}).status_code == 201
    with hello_site.client(hello_site.tenant_c) as client:
        texts = [g["text"] for g in client.get("/api/hello/greetings").json()]
        assert texts == [WELCOME]  # its own seed, nothing of Alpha's
        assert secret not in client.get("/hello").text
