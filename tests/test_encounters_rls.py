"""Row-level security of the encounter tables, checked with raw SQL as the app's own
database role (no ORM guard in the way), like tests/test_tenancy_rls.py."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from core.encounters import services
from core.tenancy import tenant_scope
from tests.test_encounters_api import make_clinic


@pytest.fixture
async def app_conn(settings):
    url = make_url(settings.app_url()).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    yield conn
    await conn.close()


async def _seed_encounter(db, clinic) -> uuid.UUID:
    import datetime as dt

    start = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            encounter = await services.create_encounter(
                session,
                {
                    "patient_id": clinic.patient_id,
                    "provider_id": clinic.provider_id,
                    "location_id": clinic.location_id,
                    "starts_at": start,
                    "ends_at": start + dt.timedelta(hours=1),
                    "type": "office-visit",
                    "place_of_service": None,
                },
            )
            await session.commit()
            return encounter.id


async def _as(conn, tenant_id):
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))


TABLES = ("encounters", "encounter_status_history", "locations", "providers", "provider_locations")


async def test_encounter_tables_are_isolated_per_tenant(app_conn, db, make_tenant, make_user, owner_engine):
    a = await make_clinic(db, make_tenant, make_user, owner_engine)
    b = await make_clinic(db, make_tenant, make_user, owner_engine)
    enc_a, enc_b = await _seed_encounter(db, a), await _seed_encounter(db, b)

    async with app_conn.transaction():
        # no tenant set: nothing is visible
        for table in TABLES:
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    async with app_conn.transaction():
        await _as(app_conn, a.tenant.id)
        assert [r["id"] for r in await app_conn.fetch("SELECT id FROM encounters")] == [enc_a]
        history = await app_conn.fetch("SELECT encounter_id FROM encounter_status_history")
        assert [r["encounter_id"] for r in history] == [enc_a]
        for table in TABLES:
            tenants = {r["tenant_id"] for r in await app_conn.fetch(f"SELECT tenant_id FROM {table}")}
            assert tenants == {a.tenant.id}, table
        # B's encounter cannot be changed: it is invisible
        assert await app_conn.execute("UPDATE encounters SET status = 'cancelled' WHERE id = $1", enc_b) == (
            "UPDATE 0"
        )


async def test_the_app_role_cannot_write_across_tenants_or_delete(
    app_conn, db, make_tenant, make_user, owner_engine
):
    a = await make_clinic(db, make_tenant, make_user, owner_engine)
    b = await make_clinic(db, make_tenant, make_user, owner_engine)
    enc_a = await _seed_encounter(db, a)
    insert = (
        "INSERT INTO encounters (tenant_id, id, patient_id, provider_id, location_id, starts_at, ends_at, "
        "type, place_of_service) VALUES ($1, $2, $3, $4, $5, now(), now() + interval '1 hour', 'group', '11')"
    )
    # writing a row for tenant B while acting as A
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with app_conn.transaction():
            await _as(app_conn, a.tenant.id)
            await app_conn.execute(
                insert, b.tenant.id, uuid.uuid4(), b.patient_id, b.provider_id, b.location_id
            )
    # A's encounter pointing at B's patient: the composite key refuses it
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with app_conn.transaction():
            await _as(app_conn, a.tenant.id)
            await app_conn.execute(
                insert, a.tenant.id, uuid.uuid4(), b.patient_id, a.provider_id, a.location_id
            )
    # moving a row to another tenant
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await _as(app_conn, a.tenant.id)
            await app_conn.execute("UPDATE encounters SET tenant_id = $1 WHERE id = $2", b.tenant.id, enc_a)
    # encounters are never deleted by the app, and their history is append-only
    for statement in (
        "DELETE FROM encounters",
        "DELETE FROM encounter_status_history",
        "UPDATE encounter_status_history SET reason = 'rewritten'",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with app_conn.transaction():
                await _as(app_conn, a.tenant.id)
                await app_conn.execute(statement)
    # the end must follow the start
    with pytest.raises(asyncpg.CheckViolationError):
        async with app_conn.transaction():
            await _as(app_conn, a.tenant.id)
            await app_conn.execute("UPDATE encounters SET ends_at = starts_at WHERE id = $1", enc_a)
