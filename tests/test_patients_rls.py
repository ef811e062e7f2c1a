"""Row-level security on every patients table, checked with raw SQL as the app's role."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.test_patients_api import JANE, api  # noqa: F401 - the fixture and a helper
from tests.test_tenancy_rls import _set_tenant, app_conn  # noqa: F401 - the fixture and a helper

TABLES = (
    "patients",
    "patient_mrn_counters",
    "patient_contacts",
    "patient_coverages",
    "patient_allergies",
    "patient_problems",
    "patient_medications",
)


async def _seed(c):
    pid = (await c.post("/api/patients", json=JANE)).json()["id"]
    base = f"/api/patients/{pid}"
    for path, body in (
        ("contacts", {"name": "Sam"}),
        ("coverages", {"payer_name": "Acme", "member_id": "1"}),
        ("allergies", {"substance": "Latex"}),
        ("problems", {"code": "E11.9"}),
        ("medications", {"name": "Metformin"}),
    ):
        response = await c.post(f"{base}/{path}", json=body)
        assert response.status_code == 201, response.text
    return pid


async def test_each_patients_table_is_isolated_by_tenant(app_conn, make_tenant, api):  # noqa: F811
    a, b = await make_tenant(), await make_tenant()
    async with await api(a) as c:
        pid_a = await _seed(c)
    async with await api(b) as c:
        await _seed(c)
    for table in TABLES:
        async with app_conn.transaction():
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # no tenant set
        async with app_conn.transaction():
            await _set_tenant(app_conn, a.id)
            tenants = {r["tenant_id"] for r in await app_conn.fetch(f"SELECT tenant_id FROM {table}")}
            assert tenants == {a.id}, table
    # tenant b cannot read, change or attach rows to tenant a's patient
    async with app_conn.transaction():
        await _set_tenant(app_conn, b.id)
        assert await app_conn.fetchval("SELECT count(*) FROM patients WHERE id = $1", uuid.UUID(pid_a)) == 0
        assert (
            await app_conn.execute("UPDATE patients SET phone = 'x' WHERE id = $1", uuid.UUID(pid_a))
            == "UPDATE 0"
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with app_conn.transaction():
            await _set_tenant(app_conn, b.id)
            await app_conn.execute(
                "INSERT INTO patient_allergies (tenant_id, id, patient_id, substance) VALUES ($1, $2, $3, 'x')",
                a.id,
                uuid.uuid4(),
                uuid.UUID(pid_a),
            )
    # a row claiming tenant b cannot point at tenant a's patient (the key includes tenant_id)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with app_conn.transaction():
            await _set_tenant(app_conn, b.id)
            await app_conn.execute(
                "INSERT INTO patient_allergies (tenant_id, id, patient_id, substance) VALUES ($1, $2, $3, 'x')",
                b.id,
                uuid.uuid4(),
                uuid.UUID(pid_a),
            )


async def test_clinical_rows_cannot_be_deleted_by_the_app(app_conn, make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        await _seed(c)
    for table in TABLES:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with app_conn.transaction():
                await _set_tenant(app_conn, tenant.id)
                await app_conn.execute(f"DELETE FROM {table}")
