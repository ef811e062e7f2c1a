"""Tenancy of the setup, slot and appointment routes: another clinic's ids answer 404 (or
422 where they are references in a body, "no such ... in this clinic") and never change
anything; a clinic without the scheduling plugin gets 404 on every one of these routes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from plugins.scheduling.tests.booking_clinic import api_client, make_booking_clinic


@pytest.fixture
async def two_clinics(db, make_tenant, make_user, owner_engine):
    mine = await make_booking_clinic(db, make_tenant, make_user, owner_engine, patients=1)
    theirs = await make_booking_clinic(db, make_tenant, make_user, owner_engine, patients=1)
    return mine, theirs


async def _their_appointment(app, db, theirs) -> dict:
    async with await api_client(app, db, theirs.tenant, theirs.front_desk) as client:
        made = await client.post(
            "/api/scheduling/appointments",
            json={
                "patient_id": str(theirs.patients[0]),
                "provider_id": str(theirs.provider_id),
                "location_id": str(theirs.location_id),
                "type_id": str(theirs.type_id),
                "start": "2027-03-15T09:00:00-05:00",
            },
        )
        assert made.status_code == 201, made.text
        block = (await client.get("/api/scheduling/availability")).json()[0]
        off = await client.post(
            "/api/scheduling/exceptions",
            json={
                "provider_id": str(theirs.provider_id),
                "kind": "time-off",
                "start": "2027-04-01T08:00:00-05:00",
                "end": "2027-04-01T12:00:00-05:00",
            },
        )
        return {"appointment": made.json(), "block": block, "exception": off.json()}


async def test_another_clinics_ids_are_unknown(app, db, two_clinics, owner_engine):
    mine, theirs = two_clinics
    foreign = await _their_appointment(app, db, theirs)
    appointment_id = foreign["appointment"]["id"]
    async with await api_client(app, db, mine.tenant, mine.owner) as client:
        for method, path, body in (
            ("GET", f"/api/scheduling/appointments/{appointment_id}", None),
            ("POST", f"/api/scheduling/appointments/{appointment_id}/confirm", None),
            ("POST", f"/api/scheduling/appointments/{appointment_id}/cancel", {"reason": "x"}),
            ("POST", f"/api/scheduling/appointments/{appointment_id}/check-in", None),
            ("POST", f"/api/scheduling/appointments/{appointment_id}/no-show", None),
            (
                "POST",
                f"/api/scheduling/appointments/{appointment_id}/reschedule",
                {"start": "2027-03-15T10:00:00-05:00"},
            ),
            ("PATCH", f"/api/scheduling/types/{theirs.type_id}", {"active": False}),
            ("PATCH", f"/api/scheduling/resources/{theirs.table_ids[0]}", {"active": False}),
            ("PATCH", f"/api/scheduling/availability/{foreign['block']['id']}", {"end_time": "18:00"}),
            ("DELETE", f"/api/scheduling/availability/{foreign['block']['id']}", None),
            ("DELETE", f"/api/scheduling/exceptions/{foreign['exception']['id']}", None),
        ):
            answer = await client.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
        # their rows are not listed here
        assert (await client.get("/api/scheduling/appointments")).json()["items"] == []
        assert theirs.type_id not in {t["id"] for t in (await client.get("/api/scheduling/types")).json()}
        assert (await client.get("/api/scheduling/exceptions")).json() == []
        # their patient, provider, location or type as references in a booking
        for field, value in (
            ("patient_id", theirs.patients[0]),
            ("provider_id", theirs.provider_id),
            ("location_id", theirs.location_id),
            ("type_id", theirs.type_id),
        ):
            body = {
                "patient_id": str(mine.patients[0]),
                "provider_id": str(mine.provider_id),
                "location_id": str(mine.location_id),
                "type_id": str(mine.type_id),
                "start": "2027-03-15T11:00:00-05:00",
                field: str(value),
            }
            refused = await client.post("/api/scheduling/appointments", json=body)
            assert refused.status_code == 422 and "no such" in refused.text, (field, refused.text)
        slots = await client.get(
            "/api/scheduling/slots",
            params={
                "location_id": str(theirs.location_id),
                "type_id": str(theirs.type_id),
                "from": "2027-03-15",
            },
        )
        assert slots.status_code == 404
        block = await client.post(
            "/api/scheduling/availability",
            json={
                "provider_id": str(theirs.provider_id),
                "location_id": str(theirs.location_id),
                "weekday": 6,
                "start_time": "09:00",
                "end_time": "10:00",
            },
        )
        assert block.status_code == 422
    # nothing of theirs changed
    async with owner_engine.connect() as conn:
        status, version = (
            await conn.execute(
                text("SELECT status, version FROM scheduling_appointments WHERE id = :id"),
                {"id": appointment_id},
            )
        ).one()
        blocks = await conn.scalar(
            text("SELECT count(*) FROM scheduling_availability WHERE tenant_id = :t"), {"t": theirs.tenant.id}
        )
    assert (status, version) == ("booked", 1) and blocks == 5


async def test_a_clinic_without_scheduling_gets_404(app, db, make_tenant, make_user):
    tenant = await make_tenant()  # scheduling not enabled
    owner = await make_user(tenant, roles=("owner",))
    some_id = uuid.uuid4()
    async with await api_client(app, db, tenant, owner) as client:
        for method, path in (
            ("GET", "/api/scheduling/slots"),
            ("GET", "/api/scheduling/appointments"),
            ("POST", "/api/scheduling/appointments"),
            ("GET", f"/api/scheduling/appointments/{some_id}"),
            ("POST", f"/api/scheduling/appointments/{some_id}/check-in"),
            ("GET", "/api/scheduling/types"),
            ("POST", "/api/scheduling/types"),
            ("GET", "/api/scheduling/resources"),
            ("GET", "/api/scheduling/availability"),
            ("POST", "/api/scheduling/availability"),
            ("GET", "/api/scheduling/exceptions"),
            ("DELETE", f"/api/scheduling/exceptions/{some_id}"),
        ):
            answer = await client.request(method, path, json={} if method == "POST" else None)
            assert answer.status_code == 404, (method, path, answer.status_code)
