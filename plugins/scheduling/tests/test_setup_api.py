"""The setup API: appointment types, resources, weekly availability (overlaps refused with
409), time off and extra hours; validation (422 naming each field), roles, and the audit
of every change."""

from __future__ import annotations

import uuid

import pytest

from plugins.scheduling.tests.booking_clinic import api_client, make_booking_clinic
from tests.audit_helpers import audit_rows


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_booking_clinic(db, make_tenant, make_user, owner_engine, patients=0)


def errors_of(response) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json()["extra"]["errors"]}


async def setup_events(owner_engine, tenant) -> list[tuple[str, str]]:
    return await audit_rows(
        owner_engine, tenant, "action, resource_type", where="resource_type LIKE 'scheduling:%'"
    )


async def test_appointment_types(app, db, clinic, owner_engine):
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        made = await client.post(
            "/api/scheduling/types",
            json={
                "name": "Initial evaluation",
                "duration_minutes": 60,
                "colour": "#AA3300",
                "telehealth": True,
                "encounter_type": "evaluation",
                "resource_kind": "gym",
            },
        )
        assert made.status_code == 201, made.text
        kind = made.json()
        assert kind["colour"] == "#aa3300" and kind["telehealth"] is True and kind["resource_kind"] == "gym"
        names = [t["name"] for t in (await client.get("/api/scheduling/types")).json()]
        assert "Initial evaluation" in names and "PT follow-up" in names
        again = await client.post(
            "/api/scheduling/types", json={"name": "Initial evaluation", "duration_minutes": 30}
        )
        assert again.status_code == 409 and "already exists" in again.json()["detail"]
        bad = await client.post(
            "/api/scheduling/types",
            json={"duration_minutes": 2, "colour": "blue", "encounter_type": "massage", "price": 3},
        )
        assert bad.status_code == 422
        errors = errors_of(bad)
        assert errors["name"] == "required" and "5 to 480" in errors["duration_minutes"]
        assert "hex colour" in errors["colour"] and "office-visit" in errors["encounter_type"]
        assert "unknown field" in errors["price"]
        retired = await client.patch(f"/api/scheduling/types/{kind['id']}", json={"active": False})
        assert retired.status_code == 200 and retired.json()["active"] is False
        assert (
            await client.patch(f"/api/scheduling/types/{uuid.uuid4()}", json={"active": False})
        ).status_code == 404
    assert await setup_events(owner_engine, clinic.tenant) == [
        ("create", "scheduling:type"),
        ("update", "scheduling:type"),
    ]


async def test_resources(app, db, clinic, owner_engine):
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        made = await client.post(
            "/api/scheduling/resources",
            json={"location_id": str(clinic.location_id), "name": "Gym", "kind": "gym"},
        )
        assert made.status_code == 201, made.text
        listed = (
            await client.get("/api/scheduling/resources", params={"location_id": str(clinic.location_id)})
        ).json()
        assert sorted(r["name"] for r in listed) == ["Gym", "Table 1", "Table 2"]
        twice = await client.post(
            "/api/scheduling/resources",
            json={"location_id": str(clinic.location_id), "name": "Gym", "kind": "gym"},
        )
        assert twice.status_code == 409
        nowhere = await client.post(
            "/api/scheduling/resources", json={"location_id": str(uuid.uuid4()), "name": "Gym", "kind": "gym"}
        )
        assert nowhere.status_code == 422 and "no such location" in errors_of(nowhere)["location_id"]
        off = await client.patch(f"/api/scheduling/resources/{made.json()['id']}", json={"active": False})
        assert off.status_code == 200 and off.json()["active"] is False
        moved = await client.patch(
            f"/api/scheduling/resources/{made.json()['id']}",
            json={"location_id": str(clinic.other_location_id)},
        )
        assert moved.status_code == 422 and "unknown field" in errors_of(moved)["location_id"]
    assert ("create", "scheduling:resource") in await setup_events(owner_engine, clinic.tenant)


async def test_weekly_availability_rejects_overlaps(app, db, clinic, owner_engine):
    block = {
        "provider_id": str(clinic.provider_id),
        "location_id": str(clinic.location_id),
        "weekday": 5,
        "start_time": "09:00",
        "end_time": "12:00",
        "valid_from": "2026-01-01",
    }
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        made = await client.post("/api/scheduling/availability", json=block)
        assert made.status_code == 201, made.text
        saturday = made.json()
        assert saturday["weekday_name"] == "Saturday" and saturday["start_time"] == "09:00"
        overlap = await client.post(
            "/api/scheduling/availability", json={**block, "start_time": "11:00", "end_time": "13:00"}
        )
        assert overlap.status_code == 409
        assert "already works Saturdays 09:00-12:00" in overlap.json()["detail"]
        assert overlap.json()["extra"]["conflicts"][0]["id"] == saturday["id"]
        # touching is fine, and so is the same hours in a period that does not overlap
        assert (
            await client.post(
                "/api/scheduling/availability", json={**block, "start_time": "12:00", "end_time": "14:00"}
            )
        ).status_code == 201
        # a Monday block overlapping the clinic's Mon-Fri 08-17 is refused
        monday = await client.post("/api/scheduling/availability", json={**block, "weekday": 0})
        assert monday.status_code == 409
        # ending the old Mondays lets a new Monday pattern start afterwards
        mondays = (
            await client.get("/api/scheduling/availability", params={"provider_id": str(clinic.provider_id)})
        ).json()
        old_monday = next(b for b in mondays if b["weekday"] == 0)
        ended = await client.patch(
            f"/api/scheduling/availability/{old_monday['id']}", json={"valid_until": "2026-12-31"}
        )
        assert ended.status_code == 200, ended.text
        later = await client.post(
            "/api/scheduling/availability", json={**block, "weekday": 0, "valid_from": "2027-01-01"}
        )
        assert later.status_code == 201, later.text
        # an update that would overlap is refused too
        clash = await client.patch(
            f"/api/scheduling/availability/{saturday['id']}", json={"end_time": "13:00"}
        )
        assert clash.status_code == 409

        bad = await client.post(
            "/api/scheduling/availability",
            json={**block, "weekday": 7, "start_time": "9am", "valid_until": "2025-01-01"},
        )
        assert bad.status_code == 422
        assert set(errors_of(bad)) >= {"weekday", "start_time"}
        backwards = await client.post(
            "/api/scheduling/availability",
            json={**block, "start_time": "13:00", "end_time": "12:00", "weekday": 6},
        )
        assert backwards.status_code == 422 and "after the start" in errors_of(backwards)["end_time"]
        elsewhere = await client.post(
            "/api/scheduling/availability",
            json={**block, "location_id": str(clinic.other_location_id), "weekday": 6},
        )
        assert (
            elsewhere.status_code == 422
            and "does not work at this location" in errors_of(elsewhere)["location_id"]
        )

        deleted = await client.delete(f"/api/scheduling/availability/{saturday['id']}")
        assert deleted.status_code == 204
        assert (await client.delete(f"/api/scheduling/availability/{saturday['id']}")).status_code == 404
    events = await setup_events(owner_engine, clinic.tenant)
    assert ("delete", "scheduling:availability") in events and ("update", "scheduling:availability") in events


async def test_time_off_and_extra_hours(app, db, clinic, owner_engine):
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        off = await client.post(
            "/api/scheduling/exceptions",
            json={
                "provider_id": str(clinic.provider_id),
                "kind": "time-off",
                "start": "2027-03-15T08:00:00-05:00",
                "end": "2027-03-19T17:00:00-05:00",
                "reason": "conference",
            },
        )
        assert off.status_code == 201, off.text
        assert off.json()["location_id"] is None and off.json()["start"] == "2027-03-15T13:00:00Z"
        # the days off offer no slots
        slots = await client.get(
            "/api/scheduling/slots",
            params={
                "provider_id": str(clinic.provider_id),
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "from": "2027-03-15",
                "to": "2027-03-19",
            },
        )
        assert slots.status_code == 200 and slots.json()["slots"] == []
        extra = await client.post(
            "/api/scheduling/exceptions",
            json={
                "provider_id": str(clinic.provider_id),
                "kind": "extra-hours",
                "start": "2027-03-20T09:00:00-05:00",
                "end": "2027-03-20T10:00:00-05:00",
            },
        )
        assert extra.status_code == 422 and "required for extra hours" in errors_of(extra)["location_id"]
        bad = await client.post(
            "/api/scheduling/exceptions",
            json={
                "provider_id": str(clinic.provider_id),
                "kind": "holiday",
                "start": "2027-03-20",
                "end": "2027-03-20T08:00:00Z",
            },
        )
        assert bad.status_code == 422 and set(errors_of(bad)) == {"kind", "start"}
        listed = await client.get(
            "/api/scheduling/exceptions", params={"provider_id": str(clinic.provider_id)}
        )
        assert [x["id"] for x in listed.json()] == [off.json()["id"]]
        assert (await client.delete(f"/api/scheduling/exceptions/{off.json()['id']}")).status_code == 204
    assert ("delete", "scheduling:exception") in await setup_events(owner_engine, clinic.tenant)


async def test_setup_needs_the_setup_permission(app, db, clinic, make_user):
    # clinicians may read the setup but not change it; billers may not see it
    async with await api_client(app, db, clinic.tenant, clinic.clinician) as client:
        assert (await client.get("/api/scheduling/types")).status_code == 200
        refused = await client.post("/api/scheduling/types", json={"name": "X", "duration_minutes": 30})
        assert refused.status_code == 403
    biller = await make_user(clinic.tenant, roles=("biller",))
    async with await api_client(app, db, clinic.tenant, biller) as client:
        assert (await client.get("/api/scheduling/availability")).status_code == 403


async def test_an_appointment_type_may_start_a_plugins_encounter_type(app, db, clinic):
    """The encounter types are an open vocabulary (tessera_encounter_types): the test
    plugin's ``sample-check`` is offered beside core's kinds, on the form and in the API."""
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        made = await client.post(
            "/api/scheduling/types",
            json={"name": "Sample check", "duration_minutes": 15, "encounter_type": "sample-check"},
        )
        assert made.status_code == 201, made.text
        assert made.json()["encounter_type"] == "sample-check"
        unknown = await client.patch(
            f"/api/scheduling/types/{made.json()['id']}", json={"encounter_type": "sample-nothing"}
        )
        assert unknown.status_code == 422
        assert "sample-check" in errors_of(unknown)["encounter_type"]
        form = await client.get("/scheduling/setup/types")
        assert form.status_code == 200 and 'value="sample-check"' in form.text
