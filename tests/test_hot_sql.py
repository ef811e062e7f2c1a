"""core.db.hot: hand-written SQL on the request's connection keeps every tenancy layer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

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


# -- each tenant table has its own condition ----------------------------------------------


@pytest.mark.parametrize(
    ("sql", "missing"),
    [
        # the join's table leans on the other table's condition: refused
        (
            "SELECT 1 FROM api_tokens t JOIN memberships m ON m.tenant_id = t.tenant_id WHERE t.tenant_id = $1",
            ["memberships"],
        ),
        # an unqualified condition after a join belongs to no one table
        (
            "SELECT 1 FROM patients p JOIN patient_contacts c ON c.patient_id = p.id WHERE tenant_id = $1",
            ["patients", "patient_contacts"],
        ),
        # a global table not declared as one
        ("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1", ["users"]),
    ],
)
def test_every_tenant_table_needs_its_own_condition(sql, missing):
    assert hot.tables_without_tenant_condition(sql) == missing
    with pytest.raises(ValueError, match="its own tenant_id = \\$1"):
        hot.TenantSQL("careless", sql)


def test_ctes_global_tables_and_tenant_first_inserts_need_no_more():
    sql = (
        "WITH p AS (SELECT id FROM patients WHERE tenant_id = $1 AND id = $2), "
        "ev AS (INSERT INTO audit_events (tenant_id, id) SELECT $1, $3 FROM p) "
        "SELECT p.id, u.email FROM p LEFT JOIN patient_contacts c ON c.tenant_id = $1 AND c.patient_id = p.id "
        "JOIN users u ON u.id = $4"
    )
    assert hot.tables_without_tenant_condition(sql, ("users",)) == []
    assert hot.tables_without_tenant_condition(sql) == ["users"]


# -- every hand-written statement filters by tenant without RLS ------------------------------


def _core_statements() -> dict[str, hot.TenantSQL]:
    import core.audit.record
    import core.auth.middleware
    import core.patients.services  # noqa: F401 - each declares its statements on import

    return {s.name: s for s in hot.STATEMENTS if s.module.startswith("core.")}


async def _as_owner_without_rls(owner_engine, statement: hot.TenantSQL):
    """An owner connection on which the statement's tenant tables are not policed: their
    row-level security is no longer forced (a table's owner is then exempt) until the
    transaction, rolled back by the caller, ends. A superuser owner is exempt anyway."""
    conn = await owner_engine.connect()
    await conn.begin()
    tenant_tables = (
        {m.group(2).lower() for m in hot._REFERENCE.finditer(statement.sql)}
        - set(statement.global_tables)
        - {n.lower() for n in hot._CTE.findall(statement.sql)}
    )
    for table in sorted(tenant_tables):
        has_tenant_id = await conn.scalar(
            text(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = :t AND column_name = 'tenant_id'"
            ),
            {"t": table},
        )
        assert has_tenant_id, f"{statement.name}: {table} has no tenant_id; declare it in global_tables"
        await conn.exec_driver_sql(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    for table in statement.global_tables:
        assert not await conn.scalar(
            text(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = :t AND column_name = 'tenant_id'"
            ),
            {"t": table},
        ), f"{statement.name}: {table} has a tenant_id, so it is not a global table"
    raw = (await conn.get_raw_connection()).driver_connection
    return conn, raw


async def test_every_hand_written_statement_filters_by_tenant_on_its_own(
    db, make_tenant, make_user, owner_engine
):
    import datetime as dt

    from core.audit.record import build_event, event_params
    from core.auth.tokens import create_token, token_digest
    from tests.test_encounters_api import add_patient

    statements = _core_statements()
    mine, theirs = await make_tenant(), await make_tenant()
    user = await make_user(theirs, roles=("front_desk",))  # a member of theirs only
    with tenant_scope(theirs.id):
        async with db.session() as session:
            token, row = await create_token(session, user_id=user.id, name="hot")
            await session.commit()
    patient_id = await add_patient(owner_engine, theirs)
    now = dt.datetime.now(dt.UTC)
    with tenant_scope(mine.id):
        event = build_event(
            action="read", resource_type="patient", resource_id=patient_id, patient_id=patient_id
        )

    # statement name -> (arguments after $1, what it gives for a tenant that does not own them)
    cases = {
        "API token, its user and membership": ((token_digest(token),), "fetch"),
        "API token used": ((row.id, now, now), "execute"),
        "signed-in user and membership": ((user.id,), "fetch"),
        "patient by id with its active contacts; its audit event when found": (
            (patient_id, *event_params(event)),
            "fetch",
        ),
        "audit event": ((*event_params(event),), "insert"),
    }
    assert set(cases) == set(statements), "a new hand-written statement needs its case here"

    for name, (args, kind) in cases.items():
        statement = statements[name]
        conn, raw = await _as_owner_without_rls(owner_engine, statement)
        try:
            if kind == "insert":
                await raw.execute(statement.sql, mine.id, *args)
                stamped = await raw.fetchval("SELECT tenant_id FROM audit_events WHERE id = $1", event.id)
                assert stamped == mine.id, name
                continue
            if kind == "execute":
                assert await raw.execute(statement.sql, mine.id, *args) == "UPDATE 0", name
                assert await raw.execute(statement.sql, theirs.id, *args) == "UPDATE 1", name
                continue
            # another tenant's ids with my tenant: nothing, though no policy is in the way ...
            assert await raw.fetch(statement.sql, mine.id, *args) == [], name
            # ... and the same ids with their tenant: found (so the arguments are right)
            assert await raw.fetch(statement.sql, theirs.id, *args) != [], name
        finally:
            await conn.rollback()
            await conn.close()


async def test_the_owner_harness_is_not_filtered_by_rls(db, make_tenant, owner_engine):
    # negative control: a statement that does not filter on its own shows the other
    # tenant's rows there, so an empty answer above is the statement's own doing
    a, b = await make_tenant(), await make_tenant()
    await _add_notes(db, b, "b-secret")
    conn, raw = await _as_owner_without_rls(owner_engine, _ALL_NOTES)
    try:
        assert "b-secret" in [r["body"] for r in await raw.fetch(_ALL_NOTES.sql, a.id)]
        assert await raw.fetch(_OWN_NOTES.sql, a.id) == []
    finally:
        await conn.rollback()
        await conn.close()
