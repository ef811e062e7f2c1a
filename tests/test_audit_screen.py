"""The audit screen and API: filters, sorting, paging, CSV export, "who accessed this
record", emergency accesses, permissions, and 400s for bad filters."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

from sqlalchemy import text

from core.audit import record
from core.auth.principal import Principal
from core.tenancy import tenant_scope
from tests.audit_helpers import assert_audited


def _principal(user, tenant) -> Principal:
    return Principal(user_id=user.id, email=user.email, display_name="x", tenant_id=tenant.id)


async def _event(db, tenant, user=None, *, when=None, owner_engine=None, **kw):
    kw.setdefault("action", "read")
    kw.setdefault("resource_type", "patient")
    with tenant_scope(tenant.id):
        async with db.session() as session:
            event = await record(
                session,
                principal=_principal(user, tenant) if user else None,
                actor_label=None if user else "system-test",
                **kw,
            )
            await session.commit()
    if when is not None:  # arrange the time as the superuser (the app cannot update)
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("UPDATE audit_events SET occurred_at = :w WHERE tenant_id = :t AND id = :id"),
                {"w": when, "t": tenant.id, "id": event.id},
            )
    return event


async def _setup(db, make_tenant, make_user):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",), email=f"owner-{uuid.uuid4().hex[:6]}@example.test")
    clinician = await make_user(
        tenant, roles=("clinician",), email=f"doc-{uuid.uuid4().hex[:6]}@example.test"
    )
    return tenant, owner, clinician


async def test_api_filters_sorts_and_pages(db, make_tenant, make_user, client_as, owner_engine):
    tenant, owner, clinician = await _setup(db, make_tenant, make_user)
    patient, other_patient = uuid.uuid4(), uuid.uuid4()
    await _event(db, tenant, clinician, patient_id=patient)
    await _event(db, tenant, clinician, action="update", patient_id=patient)
    await _event(db, tenant, owner, patient_id=other_patient)
    await _event(db, tenant, clinician, action="delete", patient_id=other_patient)
    async with await client_as(tenant, owner) as client:
        everything = (await client.get("/api/audit")).json()
        by_user = (await client.get("/api/audit", params={"user": clinician.email.upper()})).json()
        by_user_id = (await client.get("/api/audit", params={"user": str(clinician.id)})).json()
        by_patient = (await client.get("/api/audit", params={"patient": str(patient)})).json()
        by_action = (await client.get("/api/audit", params={"action": "update"})).json()
        by_action_asc = (await client.get("/api/audit", params={"sort": "action", "dir": "asc"})).json()
        paged = (
            await client.get("/api/audit", params={"per_page": 2, "page": 2, "sort": "time", "dir": "asc"})
        ).json()
    assert everything["total"] == 4 and len(everything["items"]) == 4
    times = [i["occurred_at"] for i in everything["items"]]
    assert times == sorted(times, reverse=True)  # newest first by default
    assert by_user["total"] == 3 and {i["actor"]["label"] for i in by_user["items"]} == {clinician.email}
    assert by_user_id["total"] == 3
    assert by_patient["total"] == 2 and {i["patient_id"] for i in by_patient["items"]} == {str(patient)}
    assert [i["action"] for i in by_action["items"]] == ["update"]
    assert [i["action"] for i in by_action_asc["items"]] == ["delete", "read", "read", "update"]
    assert paged["page"] == 2 and paged["pages"] == 2 and len(paged["items"]) == 2
    assert paged["items"][0]["occurred_at"] == sorted(times)[2]


async def test_date_range_is_in_the_clinic_time_zone(db, make_tenant, make_user, client_as, owner_engine):
    tenant, owner, clinician = await _setup(db, make_tenant, make_user)
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE tenants SET time_zone = 'America/Chicago' WHERE id = :t"), {"t": tenant.id}
        )
    # 2026-03-10 23:30 in Chicago is 2026-03-11 04:30 UTC (CDT, -5)
    late_evening = dt.datetime(2026, 3, 11, 4, 30, tzinfo=dt.UTC)
    next_morning = dt.datetime(2026, 3, 11, 15, 0, tzinfo=dt.UTC)
    first = await _event(db, tenant, clinician, when=late_evening, owner_engine=owner_engine)
    second = await _event(db, tenant, clinician, when=next_morning, owner_engine=owner_engine)
    async with await client_as(tenant, owner) as client:
        on_10th = (await client.get("/api/audit", params={"from": "2026-03-10", "to": "2026-03-10"})).json()
        on_11th = (await client.get("/api/audit", params={"from": "2026-03-11"})).json()
        until_11th = (await client.get("/api/audit", params={"to": "2026-03-11"})).json()
    assert [i["id"] for i in on_10th["items"]] == [str(first.id)]
    assert str(second.id) in [i["id"] for i in on_11th["items"]]
    assert str(first.id) not in [i["id"] for i in on_11th["items"]]
    assert until_11th["total"] == 2


async def test_bad_filters_are_400_with_a_message(db, make_tenant, make_user, client_as):
    tenant, owner, _ = await _setup(db, make_tenant, make_user)
    async with await client_as(tenant, owner) as client:
        for params, words in (
            ({"patient": "not-a-uuid"}, "patient must be an id"),
            ({"user": "bob"}, "user must be an id"),
            ({"action": "hack"}, "action must be one of"),
            ({"from": "2026-13-45"}, "from must be a date"),
            ({"from": "2026-03-02", "to": "2026-03-01"}, "after"),
            ({"sort": "patient"}, "sort must be one of"),
            ({"dir": "sideways"}, "dir must be"),
            ({"page": "x"}, "page must be a whole number"),
            ({"per_page": "100000"}, "per_page must be between"),
        ):
            for path in ("/api/audit", "/api/audit.csv", "/api/audit/emergency"):
                response = await client.get(path, params=params)
                assert response.status_code == 400, (path, params, response.text)
                assert words in response.json()["detail"], (path, response.json())
        bad = await client.get("/api/audit/patients/12345")
        assert bad.status_code == 400 and "patient id must be an id" in bad.json()["detail"]
        html = await client.get("/audit", params={"from": "yesterday"}, headers={"accept": "text/html"})
        assert html.status_code == 400 and "from must be a date" in html.text


async def test_only_owners_and_auditors_read_and_export(db, make_tenant, make_user, client_as):
    tenant, owner, clinician = await _setup(db, make_tenant, make_user)
    auditor = await make_user(tenant, roles=("auditor",))
    async with await client_as(tenant, clinician) as client:
        for path in (
            "/api/audit",
            "/api/audit.csv",
            f"/api/audit/patients/{uuid.uuid4()}",
            "/api/audit/emergency",
        ):
            assert (await client.get(path)).status_code == 403, path
    await assert_audited(db, tenant, action="denied", actor=clinician)
    for user in (owner, auditor):
        async with await client_as(tenant, user) as client:
            assert (await client.get("/api/audit")).status_code == 200
            assert (await client.get("/api/audit.csv")).status_code == 200
            assert (await client.get("/audit", headers={"accept": "text/html"})).status_code == 200


async def test_audit_page_renders_filters_and_htmx_table(db, make_tenant, make_user, client_as):
    tenant, owner, clinician = await _setup(db, make_tenant, make_user)
    patient = uuid.uuid4()
    await _event(db, tenant, clinician, patient_id=patient, emergency=True, reason="patient unconscious")
    await _event(db, tenant, owner, action="update")
    async with await client_as(tenant, owner) as client:
        full = await client.get("/audit", params={"user": clinician.email})
        fragment = await client.get(
            "/audit",
            params={"sort": "user", "dir": "asc"},
            headers={"HX-Request": "true", "HX-Target": "audit-table"},
        )
    assert full.status_code == 200
    body = full.text
    assert "<form" in body and 'method="get"' in body and 'hx-get="/audit"' in body  # works without JS
    assert 'id="audit-table"' in body and clinician.email in body and "(emergency)" in body
    assert f'value="{clinician.email}"' in body
    assert 'href="/audit.csv?user=' in body
    assert 'aria-sort="descending"' in body
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="audit-table"') and "<html" not in fragment.text
    assert 'aria-sort="ascending"' in fragment.text
    assert (
        fragment.text.index(clinician.email) < fragment.text.index(owner.email)
        or clinician.email < owner.email
    )


async def test_csv_export_streams_the_filtered_set_and_is_audited(db, make_tenant, make_user, client_as):
    tenant, owner, clinician = await _setup(db, make_tenant, make_user)
    auditor = await make_user(tenant, roles=("auditor",))
    patient = uuid.uuid4()
    for _ in range(3):
        await _event(db, tenant, clinician, patient_id=patient)
    await _event(db, tenant, clinician, patient_id=patient, resource_id='=HYPERLINK("http://evil")')
    await _event(db, tenant, owner)
    started = dt.datetime.now(dt.UTC)
    async with await client_as(tenant, auditor) as client:
        response = await client.get("/audit.csv", params={"patient": str(patient), "per_page": 1})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 4  # the whole filtered set, not one page
    assert {r["patient_id"] for r in rows} == {str(patient)}
    assert {r["actor"] for r in rows} == {clinician.email}
    assert '\'=HYPERLINK("http://evil")' in {r["resource_id"] for r in rows}  # no formula injection
    event = await assert_audited(
        db, tenant, action="export", resource_type="audit_log", actor=auditor, since=started
    )
    assert event.detail["rows"] == 4 and event.detail["filters"] == {"patient": str(patient)}


async def test_who_accessed_this_record(db, make_tenant, make_user, client_as, owner_engine):
    from tests.test_encounters_api import add_patient

    tenant, owner, clinician = await _setup(db, make_tenant, make_user)
    patient, other = await add_patient(owner_engine, tenant), uuid.uuid4()
    await _event(db, tenant, clinician, patient_id=patient, action="read")
    await _event(db, tenant, clinician, patient_id=patient, action="update")
    await _event(db, tenant, owner, patient_id=patient, action="read", emergency=True, reason="after hours")
    await _event(db, tenant, owner, patient_id=other)
    started = dt.datetime.now(dt.UTC)
    async with await client_as(tenant, owner) as client:
        api = await client.get(f"/api/audit/patients/{patient}")
        fragment = await client.get(f"/audit/patients/{patient}")
    assert api.status_code == 200
    data = api.json()
    assert data["patient_id"] == str(patient) and data["total"] == 3
    assert [i["action"] for i in data["items"]] == ["read", "update", "read"]
    assert data["items"][0]["emergency"] is True and data["items"][0]["reason"] == "after hours"
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Who accessed this record" in fragment.text and clinician.email in fragment.text
    assert "emergency access" in fragment.text and "after hours" in fragment.text
    # looking is itself recorded, against the patient
    await assert_audited(
        db,
        tenant,
        action="read",
        resource_type="audit_log",
        patient_id=patient,
        actor=owner,
        since=started,
        route="GET /api/audit/patients/{patient_id}",
    )
    await assert_audited(
        db,
        tenant,
        action="read",
        resource_type="audit_log",
        patient_id=patient,
        actor=owner,
        since=started,
        route="/audit/patients/{patient_id}",
    )


async def test_emergency_accesses_for_a_date_range(db, make_tenant, make_user, client_as, owner_engine):
    tenant, owner, clinician = await _setup(db, make_tenant, make_user)
    patient = uuid.uuid4()
    glass = await _event(
        db, tenant, clinician, action="break_glass", resource_type="core:patients", reason="code blue"
    )
    flagged = await _event(db, tenant, clinician, patient_id=patient, emergency=True, reason="code blue")
    await _event(db, tenant, clinician, patient_id=patient)
    old = await _event(
        db,
        tenant,
        clinician,
        action="break_glass",
        when=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        owner_engine=owner_engine,
    )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    async with await client_as(tenant, owner) as client:
        recent = (await client.get("/api/audit/emergency", params={"from": today})).json()
        everything = (await client.get("/api/audit/emergency")).json()
    assert {i["id"] for i in recent["items"]} == {str(glass.id), str(flagged.id)}
    assert {i["id"] for i in everything["items"]} == {str(glass.id), str(flagged.id), str(old.id)}


async def test_other_tenants_events_are_invisible(db, make_tenant, make_user, client_as):
    tenant, owner, _ = await _setup(db, make_tenant, make_user)
    other, _, other_clinician = await _setup(db, make_tenant, make_user)
    patient = uuid.uuid4()
    await _event(db, other, other_clinician, patient_id=patient)
    async with await client_as(tenant, owner) as client:
        exported = await client.get("/api/audit.csv")
        assert (await client.get("/api/audit", params={"patient": str(patient)})).json()["total"] == 0
        # "who accessed this record" is for this clinic's records: another clinic's is 404
        assert (await client.get(f"/api/audit/patients/{patient}")).status_code == 404
        assert (await client.get(f"/audit/patients/{patient}")).status_code == 404
    assert str(patient) not in exported.text and other_clinician.email not in exported.text


async def test_assert_audited_fails_readably(db, make_tenant):
    import pytest

    tenant = await make_tenant()
    await _event(db, tenant, action="read", patient_id=uuid.uuid4())
    with pytest.raises(
        AssertionError, match=r"no audit event with action=update.*newest events:\n.*read patient"
    ):
        await assert_audited(db, tenant, action="update", route="/api/x/{id}")
