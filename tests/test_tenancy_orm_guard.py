"""Layers 1 and 2: the tenant scope and the ORM guard."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import delete, select, text, update

from core.db.session import Database
from core.tenancy import TenantScopeError, current_tenant_id, tenant_scope, unscoped
from core.tenancy.models import Tenant, TenantPlugin
from tests.sample_plugin.models import Note, Notebook


async def _add_notes(db, tenant, *bodies):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            book = Notebook(title=f"book of {tenant.slug}")
            session.add(book)
            await session.flush()
            for body in bodies:
                session.add(Note(notebook_id=book.id, body=body))
            await session.commit()
            return book.id


def test_scope_is_a_context_and_none_is_refused():
    tid = uuid.uuid4()
    assert current_tenant_id() is None
    with tenant_scope(tid):
        assert current_tenant_id() == tid
    assert current_tenant_id() is None
    with pytest.raises(TenantScopeError):
        with tenant_scope(None):
            pass


def test_unscoped_needs_a_reason_and_is_logged(caplog):
    with pytest.raises(TenantScopeError):
        with unscoped(""):
            pass
    with caplog.at_level(logging.INFO, logger="tessera.tenancy"):
        with unscoped("nightly export"):
            assert current_tenant_id() is None
    assert "nightly export" in caplog.text


async def test_query_without_scope_raises_a_clear_error(db, make_tenant):
    await make_tenant()
    async with db.session() as session:
        with pytest.raises(TenantScopeError, match="without a tenant scope"):
            await session.scalars(select(TenantPlugin))
        with pytest.raises(TenantScopeError, match="Note"):
            await session.execute(select(Note.body).where(Note.body == "x"))
        with pytest.raises(TenantScopeError):
            await session.execute(update(Note).values(body="y"))
        # Global tables need no scope.
        assert await session.scalar(select(Tenant.id).limit(1)) is not None


@pytest.fixture
async def owner_db(settings):
    """Sessions with the ORM guard but connected as the owner (superuser in CI), which
    bypasses RLS: whatever these tests see filtered, the ORM guard filtered on its own."""
    database = Database(settings.with_(app_database_url=settings.database_url), pool_size=2)
    yield database
    await database.dispose()


async def test_owner_connection_really_bypasses_rls(owner_db, db, make_tenant):
    a = await make_tenant()
    await _add_notes(db, a, "visible-to-owner")
    async with owner_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM sample_notes")) > 0


async def test_inside_a_scope_only_that_tenants_rows_are_visible(owner_db, db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    await _add_notes(db, a, "a1", "a2")
    await _add_notes(db, b, "b1")
    for tenant, expected in ((a, ["a1", "a2"]), (b, ["b1"])):
        with tenant_scope(tenant.id):
            async with owner_db.session() as session:
                bodies = sorted(await session.scalars(select(Note.body)))
                assert bodies == expected
                # joins and relationship loads are filtered too
                books = list(await session.scalars(select(Notebook).join(Notebook.notes).distinct()))
                assert sorted(n.body for book in books for n in book.notes) == expected


async def test_orm_update_and_delete_touch_only_the_current_tenant(owner_db, db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    await _add_notes(db, a, "keep-a")
    await _add_notes(db, b, "keep-b")
    with tenant_scope(a.id):
        async with owner_db.session() as session:
            await session.execute(update(Note).values(body="changed"))
            await session.execute(delete(Note).where(Note.body == "nothing"))
            await session.commit()
    with tenant_scope(b.id):
        async with db.session() as session:
            assert list(await session.scalars(select(Note.body))) == ["keep-b"]


async def test_new_rows_are_stamped_and_mismatches_refused(db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    with tenant_scope(a.id):
        async with db.session() as session:
            book = Notebook(title="stamped")
            session.add(book)
            await session.flush()
            assert book.tenant_id == a.id
            session.add(Notebook(title="foreign", tenant_id=b.id))
            with pytest.raises(TenantScopeError, match="belongs to tenant"):
                await session.flush()
    async with db.session() as session:
        session.add(Notebook(title="orphan"))
        with pytest.raises(TenantScopeError, match="without a tenant scope"):
            await session.flush()


async def test_a_transaction_cannot_switch_tenants(db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    async with db.session() as session:
        with tenant_scope(a.id):
            await session.scalars(select(Note))
        with tenant_scope(b.id):
            with pytest.raises(TenantScopeError, match="began in scope"):
                await session.scalars(select(Note))


async def test_a_global_transaction_may_narrow_to_one_tenant(db, make_tenant):
    """Creating a tenant and enabling its plugins happens in one transaction."""
    a = await make_tenant()
    await _add_notes(db, a, "narrowed")
    async with db.session() as session:
        await session.scalar(select(Tenant).where(Tenant.id == a.id))
        with tenant_scope(a.id):
            assert list(await session.scalars(select(Note.body))) == ["narrowed"]
