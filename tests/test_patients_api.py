"""The patients JSON API: every endpoint, validation, duplicates, roles, audit."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.auth.tokens import create_token
from core.tenancy import tenant_scope


@pytest.fixture
def api(db, make_user, client_for):
    """``async with await api(tenant, roles=...) as c``: a client with a Bearer token. The
    default user is front desk and clinician (as in a small practice), so it may write every
    part of the record: demographics and coverage (front desk) and clinical rows (clinician)."""

    async def make(tenant, roles=("front_desk", "clinician")):
        user = await make_user(tenant, roles=roles)
        with tenant_scope(tenant.id):
            async with db.session() as session:
                token, _ = await create_token(session, user_id=user.id, name="tests")
                await session.commit()
        client = client_for(tenant.slug)
        client.headers["authorization"] = f"Bearer {token}"
        return client

    return make


async def events(db, tenant, **where):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            statement = select(AuditEvent).order_by(AuditEvent.occurred_at)
            for name, value in where.items():
                statement = statement.where(getattr(AuditEvent, name) == value)
            return list(await session.scalars(statement))


JANE = {"given_name": "Jane", "family_name": "Example", "birth_date": "1980-02-03"}


async def test_create_read_update_a_patient(db, make_tenant, api):
    tenant = await make_tenant()
    async with await api(tenant) as c:
        created = await c.post(
            "/api/patients",
            json={
                **JANE,
                "middle_name": "Q",
                "preferred_name": "Janie",
                "sex_at_birth": "F",
                "gender_identity": "woman",
                "pronouns": "she/her",
                "phone": "+1 555 0100",
                "email": "jane@example.test",
                "address_line1": "1 Main St",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701",
                "country": "us",
                "preferred_language": "en",
                "emergency_contacts": [
                    {"name": "John Example", "relationship": "spouse", "phone": "555 0101"},
                    {"name": "Ann Example", "relationship": "sister", "email": "ann@example.test"},
                ],
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        pid = body["id"]
        assert body["mrn"] == "100001" and body["status"] == "active" and body["country"] == "US"
        assert [c["name"] for c in body["emergency_contacts"]] == ["John Example", "Ann Example"]

        read = await c.get(f"/api/patients/{pid}")
        assert read.status_code == 200 and read.json()["preferred_name"] == "Janie"
        # the chart read (hand-written SQL) answers exactly what the create (ORM) answered
        assert read.json() == body

        changed = await c.patch(f"/api/patients/{pid}", json={"phone": "555 0199", "middle_name": None})
        assert changed.status_code == 200, changed.text
        assert changed.json()["phone"] == "555 0199" and changed.json()["middle_name"] is None
        assert changed.json()["given_name"] == "Jane"

    create = await events(db, tenant, action="create", resource_type="patient")
    assert [e.patient_id for e in create] == [uuid.UUID(pid)]
    reads = await events(db, tenant, action="read", resource_type="patient")
    assert [e.patient_id for e in reads] == [uuid.UUID(pid)] and reads[0].actor_type == "token"
    [update] = await events(db, tenant, action="update", resource_type="patient")
    assert update.detail == {"fields": ["middle_name", "phone"]}  # names of fields, never values


async def test_validation_errors_name_the_field(make_tenant, api):
    tenant = await make_tenant()
    async with await api(tenant) as c:
        missing = await c.post("/api/patients", json={"given_name": "Jane", "birth_date": "1980-02-03"})
        assert missing.status_code == 400 and "family_name" in missing.json()["detail"]
        bad_date = await c.post("/api/patients", json={**JANE, "birth_date": "1980-13-45"})
        assert bad_date.status_code == 400 and "birth_date" in bad_date.json()["detail"]
        future = await c.post("/api/patients", json={**JANE, "birth_date": "2999-01-01"})
        assert future.status_code == 422
        assert future.json()["detail"] == "birth_date: 2999-01-01 is in the future"
        blank = await c.post("/api/patients", json={**JANE, "given_name": "   "})
        assert blank.status_code == 422 and blank.json()["detail"] == "given_name: must not be blank"
        sex = await c.post("/api/patients", json={**JANE, "sex_at_birth": "female"})
        assert sex.status_code == 400 and "sex_at_birth" in sex.json()["detail"]
        unknown = await c.post("/api/patients", json={**JANE, "nickname": "JJ"})
        assert unknown.status_code == 400 and "nickname" in unknown.json()["detail"]
        email = await c.post("/api/patients", json={**JANE, "email": "not-an-email"})
        assert email.status_code == 400 and "email" in email.json()["detail"]
        not_json = await c.post(
            "/api/patients", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert 400 <= not_json.status_code < 500
        ok = await c.post("/api/patients", json=JANE)
        pid = ok.json()["id"]
        null_name = await c.patch(f"/api/patients/{pid}", json={"family_name": None})
        assert null_name.status_code == 400 and "family_name" in null_name.json()["detail"]
        bad_limit = await c.get("/api/patients", params={"limit": 1000})
        assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["detail"]
        bad_id = await c.get("/api/patients/not-a-uuid")
        assert 400 <= bad_id.status_code < 500


async def test_duplicate_warning_and_confirmation(db, make_tenant, api):
    tenant = await make_tenant()
    async with await api(tenant) as c:
        first = (await c.post("/api/patients", json=JANE)).json()
        again = await c.post("/api/patients", json={**JANE, "given_name": "JANE ", "family_name": "Exámple"})
        assert again.status_code == 409
        body = again.json()
        assert body["existing_id"] == first["id"] and body["existing_mrn"] == first["mrn"]
        assert "confirm_duplicate" in body["detail"]
        other_day = await c.post("/api/patients", json={**JANE, "birth_date": "1980-02-04"})
        assert other_day.status_code == 201
        confirmed = await c.post("/api/patients", json={**JANE, "confirm_duplicate": True})
        assert confirmed.status_code == 201 and confirmed.json()["id"] != first["id"]
    warned = await events(
        db, tenant, resource_type="patient", patient_id=uuid.UUID(first["id"]), action="read"
    )
    assert warned and warned[0].detail == {"duplicate_warning": True}


async def test_mrn_sequences_are_per_tenant(make_tenant, api):
    a, b = await make_tenant(), await make_tenant()
    # one client at a time: each runs the app in its own event loop
    async with await api(a) as ca:
        a1 = await ca.post("/api/patients", json=JANE)
        a2 = await ca.post("/api/patients", json={**JANE, "given_name": "Joan"})
    async with await api(b) as cb:
        b1 = await cb.post("/api/patients", json=JANE)
    assert [a1.json()["mrn"], a2.json()["mrn"], b1.json()["mrn"]] == ["100001", "100002", "100001"]


async def test_concurrent_creates_get_distinct_mrns(db, make_tenant):
    import asyncio

    from core.patients import schemas, services

    tenant = await make_tenant()

    async def create(i):
        with tenant_scope(tenant.id):
            async with db.session() as session:
                patient = await services.create_patient(
                    session,
                    schemas.PatientCreate(
                        given_name=f"P{i}", family_name="Concurrent", birth_date=dt.date(1990, 1, 1)
                    ),
                )
                await session.commit()
                return patient.mrn

    mrns = await asyncio.gather(*(create(i) for i in range(8)))
    assert sorted(mrns) == [str(100001 + i) for i in range(8)]


async def test_inactivate_and_reactivate(db, make_tenant, api):
    tenant = await make_tenant()
    async with await api(tenant) as c:
        pid = (await c.post("/api/patients", json=JANE)).json()["id"]
        gone = await c.post(f"/api/patients/{pid}/inactivate", json={"reason": "moved away"})
        assert gone.status_code == 200 and gone.json()["status"] == "inactive"
        assert gone.json()["inactive_reason"] == "moved away"
        # still readable, no longer in the default search
        assert (await c.get(f"/api/patients/{pid}")).json()["status"] == "inactive"
        assert (await c.get("/api/patients", params={"q": "example"})).json()["total"] == 0
        listed = await c.get("/api/patients", params={"q": "example", "status": "any"})
        assert listed.json()["total"] == 1
        back = await c.patch(f"/api/patients/{pid}", json={"status": "active"})
        assert back.json()["status"] == "active" and back.json()["inactive_reason"] is None
    updates = await events(db, tenant, action="update", patient_id=uuid.UUID(pid))
    assert len(updates) == 2


async def test_another_tenants_patient_is_404_and_audited(db, make_tenant, api):
    a, b = await make_tenant(), await make_tenant()
    async with await api(a) as ca:
        pid = (await ca.post("/api/patients", json=JANE)).json()["id"]
    async with await api(b) as cb:
        for request in (
            cb.get(f"/api/patients/{pid}"),
            cb.patch(f"/api/patients/{pid}", json={"phone": "1"}),
            cb.get(f"/api/patients/{pid}/allergies"),
            cb.post(f"/api/patients/{pid}/allergies", json={"substance": "Peanut"}),
            cb.post(f"/api/patients/{pid}/inactivate", json={}),
        ):
            response = await request
            assert response.status_code == 404, response.text
            assert "Jane" not in response.text
    failed = await events(db, b, patient_id=uuid.UUID(pid))
    assert len(failed) == 5
    assert {(e.action, e.outcome) for e in failed} == {("read", "failure")}
    assert {e.detail["attempted"] for e in failed} == {"read", "update"}
    # nothing was changed in tenant a
    assert await events(db, a, action="update") == []


async def test_roles_biller_reads_auditor_cannot(make_tenant, api):
    tenant = await make_tenant()
    async with await api(tenant) as desk:
        pid = (await desk.post("/api/patients", json=JANE)).json()["id"]
    async with await api(tenant, roles=("biller",)) as biller:
        assert (await biller.get(f"/api/patients/{pid}")).status_code == 200
        assert (await biller.get(f"/api/patients/{pid}/coverages")).status_code == 200
        assert (
            await biller.post("/api/patients", json={**JANE, "confirm_duplicate": True})
        ).status_code == 403
        assert (await biller.patch(f"/api/patients/{pid}", json={"phone": "1"})).status_code == 403
        denied = await biller.post(f"/api/patients/{pid}/allergies", json={"substance": "Peanut"})
        assert denied.status_code == 403
    async with await api(tenant, roles=("auditor",)) as auditor:
        assert (await auditor.get(f"/api/patients/{pid}")).status_code == 403
        assert (await auditor.get("/api/patients")).status_code == 403
    async with await api(tenant, roles=("clinician",)) as clinician:
        assert (await clinician.patch(f"/api/patients/{pid}", json={"phone": "2"})).status_code == 200


#: the permissions of the parts of the record (minimum necessary: docs/security.md)
RECORD_GUARDS = {
    f"{obj} {action}"
    for obj in (
        "core:patients",
        "core:coverage",
        "core:problems",
        "core:allergies",
        "core:medications",
        "core:observations",
    )
    for action in ("read", "write", "report")
}


async def test_routes_are_marked_phi_and_guarded(app):
    handlers = [
        handler
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "/api/patients" in route.path and handler.http_methods != {"OPTIONS"}
    ]
    assert len(handlers) >= 21
    for handler in handlers:
        assert handler.opt.get("phi") is True, handler
        guards = {getattr(g, "__tessera_guard__", "") for g in handler.guards}
        assert guards & RECORD_GUARDS, (handler, guards)


async def test_openapi_describes_the_api(app):
    paths = app.openapi_schema.to_schema()["paths"]
    assert "/api/patients" in paths and "/api/patients/{patient_id}/problems" in paths
