"""Fixtures for testing Tessera and its plugins against the real kernel: a pytest plugin.

Core's own suites use these, and so can a plugin's package from its own folder::

    # conftest.py of the plugin's tests
    import pytest

    pytest_plugins = ["core.testing"]


    @pytest.fixture(scope="session")
    def tessera_plugin():
        return "acme_notes"  # the manifest's name

with ``asyncio_mode = auto`` in the pytest configuration. What they give:

- ``settings``: the test database (``TESSERA_TEST_DATABASE``, default ``tessera_test``) on
  the PostgreSQL of ``TESSERA_DATABASE_URL`` and the Redis of ``TESSERA_REDIS_URL`` (both
  unset: the embedded servers ``make run`` starts), dropped, recreated and migrated with
  every installed plugin's branch once per test session;
- ``registry``, ``db`` (a ``Database``), ``owner_engine`` (the schema owner, exempt from
  RLS, for arranging and inspecting), ``app``;
- ``make_tenant(plugins=(...))``, ``plugin_tenant`` (a new clinic with the plugin under
  test enabled), ``make_user(tenant, roles=(...))``;
- ``client_for(slug)``, ``client_as(tenant, user)``, ``client_for_role(role)`` (a client
  signed in on ``plugin_tenant`` as a new member with that role), ``csrf_headers(client)``,
  ``sign_in(tenant, email, password)``;
- ``run_outbox()``: runs every pending outbox job (and the jobs those jobs enqueue) in a
  burst worker, as the worker process would; returns how many ran.

Each test client runs the app in its own event loop thread: open one client at a time
per test (``async with``), or close it before opening the next.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from importlib.metadata import entry_points

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.app import build_registry, create_app
from core.db.admin import init_database, upgrade
from core.db.session import Database
from core.plugins.registry import PluginRegistry, flatten
from core.settings import Settings, asyncpg_url


def _test_settings(extra_modules: tuple[str, ...] = ()) -> Settings:
    settings = Settings.from_env()
    if not settings.database_url or not settings.redis_url:
        from core.devstack import ensure_services

        settings = ensure_services(settings)
    # a module that is also pip-installed is loaded through its entry point only
    installed = {ep.value.split(":")[0] for ep in entry_points(group="tessera.plugins")}
    dbname = os.environ.get("TESSERA_TEST_DATABASE", "tessera_test")
    url = make_url(asyncpg_url(settings.database_url)).set(database=dbname)
    return settings.with_(
        database_url=url.render_as_string(hide_password=False),
        plugin_modules=tuple(
            m for m in dict.fromkeys((*settings.plugin_modules, *extra_modules)) if m not in installed
        ),
        queue_name=f"tessera:test:{os.getpid()}",
        secret_key="test-secret",
        db_pool_size=5,
    )


async def _recreate_database(settings: Settings) -> None:
    url = make_url(settings.owner_url())
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await engine.dispose()


def migration_dirs(registry: PluginRegistry) -> list:
    return [d for _, dirs in registry.call_each("tessera_migration_dirs") for d in flatten([dirs])]


@pytest.fixture(scope="session")
def tessera_plugin_modules() -> tuple[str, ...]:
    """Plugin modules to load besides the installed ones (entry points) and
    ``TESSERA_PLUGIN_MODULES``; override it to test a plugin that is not installed."""
    return ()


@pytest.fixture(scope="session")
def tessera_plugin() -> str | None:
    """The name (manifest ``name``) of the plugin under test; override it in your
    conftest.py so ``plugin_tenant`` and ``client_for_role`` enable it."""
    return None


@pytest.fixture(scope="session")
def settings(tessera_plugin_modules) -> Settings:
    settings = _test_settings(tuple(tessera_plugin_modules))
    # Subprocesses started by tests (workers, servers, the CLI) see the same settings.
    os.environ["TESSERA_DATABASE_URL"] = settings.database_url
    os.environ["TESSERA_REDIS_URL"] = settings.redis_url
    os.environ["TESSERA_PLUGIN_MODULES"] = ",".join(settings.plugin_modules)
    os.environ["TESSERA_QUEUE_NAME"] = settings.queue_name
    os.environ["TESSERA_SECRET_KEY"] = settings.secret_key
    os.environ.pop("TESSERA_EMBEDDED", None)
    asyncio.run(_recreate_database(settings))
    asyncio.run(init_database(settings))
    upgrade(settings, migration_dirs(build_registry(settings)))
    return settings


@pytest.fixture(scope="session")
def registry(settings: Settings) -> PluginRegistry:
    return build_registry(settings)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings, pool_size=3)
    yield database
    await database.dispose()


@pytest.fixture
async def owner_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The schema owner (a superuser in CI): bypasses RLS, for arranging and inspecting."""
    engine = create_async_engine(settings.owner_url())
    yield engine
    await engine.dispose()


@pytest.fixture
def unique_slug():
    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
async def make_tenant(db: Database, registry: PluginRegistry, unique_slug):
    """Create a tenant (optionally with plugins enabled) through the real services."""
    from core.lifecycle.plugins import enable_plugin
    from core.lifecycle.registry import create_tenant

    async def make(*, plugins: tuple[str, ...] = (), slug: str | None = None, name: str = "Test Clinic"):
        async with db.session() as session:
            tenant = await create_tenant(session, slug=slug or unique_slug(), name=name)
            for plugin in plugins:
                await enable_plugin(session, registry, tenant, plugin)
            await session.commit()
            return tenant

    return make


@pytest.fixture
async def app(settings: Settings, registry: PluginRegistry):
    application = create_app(settings, registry=registry)
    yield application


@pytest.fixture
def client_for(app):
    """``async with client_for("riverside") as c`` — a test client on a tenant's host
    (``client_for(None)`` is the platform host)."""
    from litestar.testing import AsyncTestClient

    def make(slug: str | None):
        host = f"{slug}.localhost" if slug else "localhost"
        return AsyncTestClient(app=app, base_url=f"http://{host}")

    return make


@pytest.fixture
async def make_user(db: Database):
    """Create a user with a membership in ``tenant`` (real rows, argon2 hash)."""
    from core.auth.models import Membership, User
    from core.auth.passwords import hash_password
    from core.tenancy import tenant_scope

    async def make(
        tenant,
        *,
        roles=("clinician",),
        password="correct horse battery",
        email=None,
        name="Test User",
        status="active",
    ):
        email = email or f"{uuid.uuid4().hex[:10]}@example.test"
        async with db.session() as session:
            user = User(email=email, display_name=name, password_hash=hash_password(password))
            session.add(user)
            await session.flush()
            with tenant_scope(tenant.id):
                session.add(Membership(user_id=user.id, roles=list(roles), status=status))
                await session.commit()
        return user

    return make


@pytest.fixture
async def session_store(settings: Settings):
    """The Redis session store, on this test's own connection pool (the app under test runs
    in another event loop, so tests must not share its Redis client)."""
    from redis.asyncio import Redis

    from core.auth.sessions import SessionStore

    redis = Redis.from_url(settings.redis_url)
    yield SessionStore(redis)
    await redis.aclose()


@pytest.fixture
def client_as(app, session_store):
    """``async with await client_as(tenant, user) as c`` — a test client on the tenant's host
    with a real signed-in session (created in the Redis session store)."""
    from litestar.testing import AsyncTestClient

    from core.auth.sessions import COOKIE_NAME

    async def make(tenant, user, *, mfa_verified=True):
        session_id, _ = await session_store.create(
            user_id=user.id, tenant_id=tenant.id if tenant else "platform", mfa_verified=mfa_verified
        )
        host = f"{tenant.slug}.localhost" if tenant else "localhost"
        client = AsyncTestClient(app=app, base_url=f"http://{host}")
        client.cookies.set(COOKIE_NAME, session_id)
        return client

    return make


@pytest.fixture
def csrf_headers(session_store):
    """``await csrf_headers(client)`` — the ``X-CSRF-Token`` header for the client's session
    (unsafe requests made with a session cookie need it; token requests do not)."""
    from core.auth.sessions import COOKIE_NAME

    async def make(client) -> dict[str, str]:
        data = await session_store.get(client.cookies.get(COOKIE_NAME))
        assert data is not None, "the client has no live session"
        return {"X-CSRF-Token": data.csrf_token}

    return make


@pytest.fixture
async def sign_in(client_for):
    """``client = await sign_in(tenant_or_None, email, password)`` — a client signed in
    through the real HTML form (GET /login for the form's CSRF token, then POST /login).
    The response of the POST is in ``client.sign_in_response``. The client is open until
    the test ends (do not use it in ``async with``)."""
    import re

    opened = []

    async def make(tenant, email, password="correct horse battery", *, next_path="/"):
        client = client_for(tenant.slug if tenant is not None else None)
        await client.__aenter__()
        opened.append(client)
        form = await client.get("/login")
        token = re.search(r'name="_csrf" value="([^"]+)"', form.text).group(1)
        client.sign_in_response = await client.post(
            "/login",
            data={"email": email, "password": password, "_csrf": token, "next": next_path},
            follow_redirects=False,
        )
        return client

    yield make
    for client in reversed(opened):
        await client.__aexit__(None, None, None)


@pytest.fixture
async def plugin_tenant(make_tenant, tessera_plugin):
    """A new clinic with the plugin under test (``tessera_plugin``) enabled."""
    return await make_tenant(plugins=(tessera_plugin,) if tessera_plugin else ())


@pytest.fixture
async def client_for_role(plugin_tenant, make_user, client_as, csrf_headers):
    """``async with await client_for_role("front_desk") as c`` — a client signed in on
    ``plugin_tenant`` (or ``tenant=``) as a new member with that role; its session is real
    (in Redis) and its requests carry the session's CSRF token."""

    async def make(role: str, *, tenant=None):
        tenant = tenant or plugin_tenant
        user = await make_user(tenant, roles=(role,))
        client = await client_as(tenant, user)
        client.headers.update(await csrf_headers(client))
        return client

    return make


@pytest.fixture
async def run_outbox(settings: Settings, registry: PluginRegistry, db: Database):
    """``await run_outbox()`` — dispatch every due outbox job and run it in a burst worker,
    until no job is left (jobs may enqueue more); returns how many jobs ran."""
    from arq import Worker
    from arq.connections import create_pool

    from core.jobs.outbox import dispatch_pending
    from core.jobs.worker import build_worker_settings, redis_settings

    redis = await create_pool(redis_settings(settings))

    async def run(*, rounds: int = 10) -> int:
        ran = 0
        for _ in range(rounds):
            if not await dispatch_pending(db, redis, queue_name=settings.queue_name):
                break
            worker = Worker(
                **build_worker_settings(settings, registry), burst=True, handle_signals=False, poll_delay=0.05
            )
            try:
                await worker.async_run()
                ran += worker.jobs_complete + worker.jobs_failed
            finally:
                await worker.close()
        return ran

    yield run
    await redis.aclose()


@pytest.fixture(autouse=True)
def fresh_sign_in_throttle(settings: Settings):
    """Each test starts with no sign-in attempts counted: the throttle's counters live in
    Redis, and every test client shares one client address ("testclient")."""
    from redis import Redis

    redis = Redis.from_url(settings.redis_url)
    try:
        keys = list(redis.scan_iter(match="tessera:signin:*", count=1000))
        if keys:
            redis.delete(*keys)
    finally:
        redis.close()


@pytest.fixture
async def clean_outbox(owner_engine):
    """For a test that runs a real worker: the outbox holds only what this test adds. The
    suite shares one database, and entries earlier tests left open (events published by
    their changes, messages never sent) would otherwise be worked through first, in order,
    before this test's own job."""
    from sqlalchemy import text

    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE core_outbox SET status = 'withdrawn', finished_at = now() "
                "WHERE status IN ('pending', 'enqueued')"
            )
        )
