"""Every patient route records its audit event in the same transaction as the access:
one request per route, then the event it must have written (who, what, which patient)."""

from __future__ import annotations

import datetime as dt

from core.auth.tokens import create_token
from core.tenancy import tenant_scope
from tests.audit_helpers import assert_audited, audit_rows

SUB_RESOURCES = {
    "contacts": (
        "patient_contact",
        {"name": "Sam Example", "relationship": "spouse", "phone": "+1 555 0101"},
        {"phone": "+1 555 0102"},
    ),
    "coverages": (
        "patient_coverage",
        {"payer_name": "Acme Health", "member_id": "A123", "priority": "primary", "relationship": "self"},
        {"group_number": "G9"},
    ),
    "allergies": (
        "patient_allergy",
        {"substance": "Penicillin", "reaction": "hives", "severity": "moderate"},
        {"status": "resolved"},
    ),
    "problems": ("patient_problem", {"code": "M54.50"}, {"status": "resolved"}),
    "medications": (
        "patient_medication",
        {"name": "Ibuprofen", "dose": "400 mg", "route": "oral", "frequency": "q8h"},
        {"status": "completed"},
    ),
}


async def _add_change_list(c, pid, kind):
    """Add one record of ``kind``, change it, list them; returns the audit resource type."""
    resource_type, body, change = SUB_RESOURCES[kind]
    added = await c.post(f"/api/patients/{pid}/{kind}", json=body)
    assert added.status_code == 201, (kind, added.text)
    record_id = added.json()["id"]
    changed = await c.patch(f"/api/patients/{pid}/{kind}/{record_id}", json=change)
    assert changed.status_code == 200, (kind, changed.text)
    assert (await c.get(f"/api/patients/{pid}/{kind}")).status_code == 200
    return resource_type


async def test_every_patient_route_is_audited(db, make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant, roles=("clinician", "front_desk"))
    with tenant_scope(tenant.id):
        async with db.session() as session:
            token, _ = await create_token(session, user_id=user.id, name="audit coverage")
            await session.commit()
    since = dt.datetime.now(dt.UTC)
    async with client_for(tenant.slug) as c:
        c.headers["authorization"] = f"Bearer {token}"

        created = await c.post(
            "/api/patients", json={"given_name": "Ada", "family_name": "Audit", "birth_date": "1970-05-06"}
        )
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type="patient",
            patient_id=pid,
            actor=user,
            since=since,
            route="POST /api/patients",
        )

        assert (await c.get("/api/patients", params={"q": "audit"})).status_code == 200
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type="patient_search",
            actor=user,
            since=since,
            route="GET /api/patients",
        )

        assert (await c.get(f"/api/patients/{pid}")).status_code == 200
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type="patient",
            patient_id=pid,
            actor=user,
            since=since,
            route="GET /api/patients/{patient_id}",
        )

        assert (await c.patch(f"/api/patients/{pid}", json={"preferred_name": "Addie"})).status_code == 200
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type="patient",
            patient_id=pid,
            actor=user,
            since=since,
            route="PATCH /api/patients/{patient_id}",
        )

        rtype = await _add_change_list(c, pid, "contacts")
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="POST /api/patients/{patient_id}/contacts",
        )
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="GET /api/patients/{patient_id}/contacts",
        )
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="PATCH /api/patients/{patient_id}/contacts/{record_id}",
        )
        rtype = await _add_change_list(c, pid, "coverages")
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="POST /api/patients/{patient_id}/coverages",
        )
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="GET /api/patients/{patient_id}/coverages",
        )
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="PATCH /api/patients/{patient_id}/coverages/{record_id}",
        )
        rtype = await _add_change_list(c, pid, "allergies")
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="POST /api/patients/{patient_id}/allergies",
        )
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="GET /api/patients/{patient_id}/allergies",
        )
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="PATCH /api/patients/{patient_id}/allergies/{record_id}",
        )
        rtype = await _add_change_list(c, pid, "problems")
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="POST /api/patients/{patient_id}/problems",
        )
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="GET /api/patients/{patient_id}/problems",
        )
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="PATCH /api/patients/{patient_id}/problems/{record_id}",
        )
        rtype = await _add_change_list(c, pid, "medications")
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="POST /api/patients/{patient_id}/medications",
        )
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="GET /api/patients/{patient_id}/medications",
        )
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type=rtype,
            patient_id=pid,
            since=since,
            route="PATCH /api/patients/{patient_id}/medications/{record_id}",
        )

        duplicate = await c.post(
            "/api/patients",
            json={
                "given_name": "Ada",
                "family_name": "Audit",
                "birth_date": "1970-05-06",
                "confirm_duplicate": True,
            },
        )
        dup_id = duplicate.json()["id"]
        merged = await c.post(f"/api/patients/{dup_id}/merge", json={"into": pid})
        assert merged.status_code == 200, merged.text
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type="patient",
            patient_id=dup_id,
            since=since,
            route="POST /api/patients/{patient_id}/merge",
        )
        await assert_audited(
            db, tenant, action="update", resource_type="patient", patient_id=pid, since=since
        )

        assert (await c.post(f"/api/patients/{pid}/inactivate", json={})).status_code == 200
        await assert_audited(
            db,
            tenant,
            action="update",
            resource_type="patient",
            patient_id=pid,
            since=since,
            route="POST /api/patients/{patient_id}/inactivate",
        )


async def test_the_chart_read_writes_one_event_and_a_miss_writes_a_failure(
    db, make_tenant, make_user, client_for, owner_engine
):
    """The chart read inserts its audit row in the same statement as the read: exactly one
    success event when the patient is there; for an id that is not (or is another clinic's),
    one failure event and no success event, in the tenant asking only."""
    tenant, other = await make_tenant(), await make_tenant()
    user = await make_user(tenant, roles=("clinician",))
    other_user = await make_user(other, roles=("clinician",))
    tokens = {}
    for who, where in ((user, tenant), (other_user, other)):
        with tenant_scope(where.id):
            async with db.session() as session:
                tokens[where.id], _ = await create_token(session, user_id=who.id, name="chart read")
                await session.commit()

    async def events(t):
        return await audit_rows(
            owner_engine,
            t,
            "action, outcome, patient_id, actor_user_id, actor_token_id, client_ip",
            where="resource_type = 'patient'",
        )

    async with client_for(other.slug) as c:
        c.headers["authorization"] = f"Bearer {tokens[other.id]}"
        created = await c.post(
            "/api/patients", json={"given_name": "Oda", "family_name": "Other", "birth_date": "1960-01-02"}
        )
        foreign = created.json()["id"]
    async with client_for(tenant.slug) as c:
        c.headers["authorization"] = f"Bearer {tokens[tenant.id]}"
        created = await c.post(
            "/api/patients", json={"given_name": "Ada", "family_name": "Once", "birth_date": "1970-05-06"}
        )
        pid = created.json()["id"]
        before = await events(tenant)
        assert (await c.get(f"/api/patients/{pid}")).json()["family_name"] == "Once"
        found = (await events(tenant))[len(before) :]
        assert len(found) == 1
        action, outcome, patient_id, actor, token_id, client_ip = found[0]
        assert (action, outcome, str(patient_id), actor) == ("read", "success", pid, user.id)
        assert token_id is not None and client_ip
        other_before = await events(other)
        for missing in (foreign, "01a22406-0000-7000-8000-000000000000"):
            assert (await c.get(f"/api/patients/{missing}")).status_code == 404
        misses = (await events(tenant))[len(before) + 1 :]
        assert [(a, o, str(p)) for a, o, p, *_ in misses] == [
            ("read", "failure", foreign),
            ("read", "failure", "01a22406-0000-7000-8000-000000000000"),
        ]
        assert await events(other) == other_before
