"""core.db.hot: hand-written SQL on the request's connection keeps every tenancy layer."""

from __future__ import annotations

import asyncio

import pytest

from core.db import hot
from core.tenancy import TenantScopeError, tenant_scope
from tests.test_tenancy_orm_guard import _add_notes

#: deliberately tries to read every tenant's notes: only RLS stands in the way
_ALL_NOTES = hot.TenantSQL(
    "every note (RLS test)",
    "SELECT body FROM sample_notes WHERE tenant_id = $1 OR tenant_id <> $1 ORDER BY body",
)
_OWN_NOTES = hot.TenantSQL("own notes", "SELECT body FROM sample_notes WHERE tenant_id = $1 ORDER BY body")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT body FROM sample_notes",
        "SELECT body FROM sample_notes WHERE id = $1",
        "SELECT body FROM sample_notes WHERE tenant_id = $2",
        "INSERT INTO notes (id, tenant_id) VALUES ($1, $2)",
    ],
)
def test_a_statement_without_the_tenant_condition_is_refused(sql):
    with pytest.raises(ValueError, match="tenant_id"):
        hot.TenantSQL("careless", sql)


def test_the_tenant_condition_and_tenant_first_inserts_are_accepted():
    hot.TenantSQL("read", "SELECT 1 FROM sample_notes n WHERE n.tenant_id = $1 AND n.id = $2")
    hot.TenantSQL("write", "INSERT INTO notes (tenant_id, id, body) VALUES ($1, $2, $3)")


async def test_hot_sql_needs_a_tenant_scope(db, make_tenant):
    await make_tenant()
    async with db.session() as session:
        with pytest.raises(TenantScopeError, match="tenant scope"):
            await hot.fetch(session, _OWN_NOTES)


async def test_hot_sql_binds_the_current_tenant_and_rls_backs_it(db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    await _add_notes(db, a, "a1", "a2")
    await _add_notes(db, b, "b1")
    with tenant_scope(a.id):
        async with db.session() as session:
            assert [r["body"] for r in await hot.fetch(session, _OWN_NOTES)] == ["a1", "a2"]
            # the statement asks for every tenant's rows; the policy returns a's only
            assert [r["body"] for r in await hot.fetch(session, _ALL_NOTES)] == ["a1", "a2"]
    with tenant_scope(b.id):
        async with db.session() as session:
            assert [r["body"] for r in await hot.fetch(session, _ALL_NOTES)] == ["b1"]


async def test_a_transaction_stays_in_the_tenant_it_began_in(db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    await _add_notes(db, a, "a1")
    async with db.session() as session:
        with tenant_scope(a.id):
            assert len(await hot.fetch(session, _OWN_NOTES)) == 1
        with tenant_scope(b.id), pytest.raises(TenantScopeError, match="began in scope"):
            await hot.fetch(session, _OWN_NOTES)


async def test_a_transaction_begun_without_scope_is_narrowed_to_the_tenant(db, make_tenant):
    a = await make_tenant()
    await _add_notes(db, a, "a1")
    async with db.session() as session:
        await session.connection()  # begun outside any tenant: no set_config yet
        with tenant_scope(a.id):
            assert [r["body"] for r in await hot.fetch(session, _ALL_NOTES)] == ["a1"]


async def test_begin_and_the_tenant_setting_are_one_round_trip(db, make_tenant):
    """BEGIN travels with the scope's set_config; a commit and a rollback both end it."""
    a, b = await make_tenant(), await make_tenant()
    await _add_notes(db, a, "a1")
    with tenant_scope(a.id):
        async with db.session() as session:
            raw, _ = await hot.driver(session)
            sent: list[str] = []

            def log(logged) -> None:
                sent.append(logged.query)

            raw.add_query_logger(log)
            try:
                await session.commit()  # ends the transaction driver() opened
                await asyncio.sleep(0.05)  # asyncpg calls query loggers with call_soon
                assert sent == ["COMMIT"]
                sent.clear()
                assert [r["body"] for r in await hot.fetch(session, _ALL_NOTES)] == ["a1"]
                await session.rollback()
                await asyncio.sleep(0.05)
                assert sent == [
                    f"BEGIN; SELECT set_config('app.tenant_id', '{a.id}', true)",
                    _ALL_NOTES.sql,
                    "ROLLBACK",
                ]
                assert not raw.is_in_transaction()
            finally:
                raw.remove_query_logger(log)
    with tenant_scope(b.id):  # the pooled connection carries nothing into the next tenant
        async with db.session() as session:
            assert await hot.fetch(session, _ALL_NOTES) == []
