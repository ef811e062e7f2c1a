"""Layer 3: row-level security, checked with raw SQL as the app's own database role."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from core.db.session import Database
from core.tenancy import tenant_scope, unscoped
from core.tenancy.models import TenantPlugin
from tests.sample_plugin.models import Note, Notebook


def _dsn(settings) -> str:
    url = make_url(settings.app_url())
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def app_conn(settings):
    conn = await asyncpg.connect(_dsn(settings))
    yield conn
    await conn.close()


async def _seed(db, tenant, body):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            book = Notebook(title="rls")
            session.add(book)
            await session.flush()
            session.add(Note(notebook_id=book.id, body=body))
            await session.commit()
            return book.id


async def _set_tenant(conn, tenant_id):
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))


async def test_the_app_role_is_not_privileged(app_conn, settings):
    row = await app_conn.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolinherit FROM pg_roles WHERE rolname = current_user"
    )
    assert row["rolsuper"] is False and row["rolbypassrls"] is False and row["rolinherit"] is False
    owned = await app_conn.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = current_user"
    )
    assert owned == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute("CREATE TABLE sneaky (id int)")


async def test_no_tenant_set_sees_nothing_and_cannot_insert(app_conn, db, make_tenant):
    a = await make_tenant()
    book = await _seed(db, a, "secret")
    async with app_conn.transaction():
        assert await app_conn.fetchval("SELECT count(*) FROM sample_notes") == 0
        assert await app_conn.fetchval("SELECT count(*) FROM tenant_plugins") == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with app_conn.transaction():
            await app_conn.execute(
                "INSERT INTO sample_notes (tenant_id, id, notebook_id, body) VALUES ($1, $2, $3, 'x')",
                a.id,
                uuid.uuid4(),
                book,
            )


async def test_tenant_a_sees_only_a_and_cannot_write_for_b(app_conn, db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    await _seed(db, a, "from-a")
    book_b = await _seed(db, b, "from-b")
    async with app_conn.transaction():
        await _set_tenant(app_conn, a.id)
        rows = await app_conn.fetch("SELECT tenant_id, body FROM sample_notes")
        assert [(r["tenant_id"], r["body"]) for r in rows] == [(a.id, "from-a")]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await _set_tenant(app_conn, a.id)
            await app_conn.execute(
                "INSERT INTO sample_notes (tenant_id, id, notebook_id, body) VALUES ($1, $2, $3, 'x')",
                b.id,
                uuid.uuid4(),
                book_b,
            )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await _set_tenant(app_conn, a.id)
            await app_conn.execute("UPDATE sample_notes SET tenant_id = $1", b.id)
    async with app_conn.transaction():
        await _set_tenant(app_conn, a.id)
        # B's rows are invisible, so they cannot be changed or deleted either.
        assert await app_conn.execute("DELETE FROM sample_notes WHERE tenant_id = $1", b.id) == "DELETE 0"


async def test_tenant_setting_never_outlives_its_transaction(settings, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    db = Database(settings, pool_size=1, max_overflow=0)
    try:
        backend_pids = set()
        for round_ in range(6):
            tenant = (a, b)[round_ % 2]
            with tenant_scope(tenant.id):
                async with db.session() as session:
                    seen = await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))
                    assert seen == str(tenant.id)
                    backend_pids.add(await session.scalar(text("SELECT pg_backend_pid()")))
                    await session.commit()
            # Same pooled connection, no scope: the setting is gone.
            async with db.session() as session:
                leftover = await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))
                assert leftover in (None, "")
                assert await session.scalar(text("SELECT count(*) FROM tenant_plugins")) == 0
        assert len(backend_pids) == 1, "the test must reuse one connection"
    finally:
        await db.dispose()


async def test_unscoped_uses_the_platform_role_only_where_granted(db, make_tenant):
    a, b = await make_tenant(plugins=("sample",)), await make_tenant(plugins=("sample",))
    await _seed(db, a, "a-note")
    with unscoped("test: list enabled plugins across tenants"):
        async with db.session() as session:
            tenants = set(await session.scalars(select(TenantPlugin.tenant_id)))
            assert {a.id, b.id} <= tenants
            assert await session.scalar(text("SELECT current_user")) == db.settings.platform_db_role
            # No cross-tenant policy on plugin tables: the platform role sees nothing there.
            with pytest.raises(Exception, match="permission denied"):
                await session.execute(select(Note))
