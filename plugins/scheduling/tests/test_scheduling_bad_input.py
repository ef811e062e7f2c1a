"""Scheduling's bad input: dates outside the accepted years in the calendar, the day list,
list filters, exceptions and series; a series naming an unknown or another clinic's id;
appointments holding extreme times written around the API. Each answers a 4xx or a
sane page, never a 500 (docs/security.md, "Bad input")."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from plugins.scheduling import booking
from plugins.scheduling.tests.booking_clinic import api_client, make_booking_clinic, tenant_hooks
from plugins.scheduling.tests.test_series_api import spec
from tests.test_encounters_api import add_patient

EXTREME_DAYS = ["0001-01-01", "9999-12-31"]


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_booking_clinic(db, make_tenant, make_user, owner_engine)


def _errors(response) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json()["extra"]["errors"]}


async def test_calendar_and_day_list_with_extreme_dates_answer_a_page(app, db, clinic):
    """Before: 0001-01-01 and 9999-12-31 overflowed computing the previous/next day (500)."""
    async with await api_client(app, db, clinic.tenant, clinic.owner) as client:
        for day in EXTREME_DAYS:
            for path in ("/scheduling/calendar", "/scheduling/today"):
                for view in ("day", "week"):
                    page = await client.get(
                        path, params={"date": day, "view": view}, headers={"accept": "text/html"}
                    )
                    assert page.status_code == 200, (path, day, page.text[:300])


@pytest.mark.parametrize("day", EXTREME_DAYS)
async def test_list_filters_and_slots_outside_the_accepted_years_are_refused(app, db, clinic, day):
    async with await api_client(app, db, clinic.tenant, clinic.owner) as client:
        for name in ("from", "to"):
            listed = await client.get("/api/scheduling/appointments", params={name: day})
            assert listed.status_code == 422, listed.text
            assert name in _errors(listed)
        slots = await client.get(
            "/api/scheduling/slots",
            params={
                "provider_id": str(clinic.provider_id),
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "from": day,
                "to": day,
            },
        )
        assert slots.status_code == 422, slots.text


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00Z", "9999-12-31T08:00:00-05:00"])
async def test_exceptions_and_bookings_outside_the_accepted_years_are_refused(app, db, clinic, start):
    async with await api_client(app, db, clinic.tenant, clinic.owner) as client:
        response = await client.post(
            "/api/scheduling/exceptions",
            json={"provider_id": str(clinic.provider_id), "kind": "time-off", "start": start, "end": start},
        )
        assert response.status_code == 422, response.text
        assert "1900-01-01" in _errors(response)["start"]
        booked = await client.post(
            "/api/scheduling/appointments",
            json={
                "patient_id": str(clinic.patients[0]),
                "provider_id": str(clinic.provider_id),
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "start": start,
            },
        )
        assert booked.status_code == 422, booked.text
        series = await client.post(
            "/api/scheduling/series/preview", json=spec(clinic, start=start.replace("Z", "+00:00"))
        )
        assert series.status_code == 422, series.text


async def test_a_series_with_unknown_or_foreign_ids_is_refused_not_a_500(
    app, db, make_tenant, make_user, owner_engine, clinic
):
    """Before: the series row was flushed first and the foreign key failed (500)."""
    other = await make_tenant(plugins=("scheduling",))
    foreign_patient = await add_patient(owner_engine, other)
    cases = {
        "patient_id": [str(uuid.uuid4()), str(foreign_patient)],
        "provider_id": [str(uuid.uuid4())],
        "location_id": [str(uuid.uuid4())],
        "type_id": [str(uuid.uuid4())],
    }
    async with await api_client(app, db, clinic.tenant, clinic.owner) as client:
        for field, values in cases.items():
            for value in values:
                for path in ("/api/scheduling/series/preview", "/api/scheduling/series"):
                    response = await client.post(path, json=spec(clinic, **{field: value}))
                    assert response.status_code in (404, 422), (path, field, response.text)
    async with owner_engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM scheduling_series WHERE tenant_id = :t"), {"t": clinic.tenant.id}
        )
    assert count == 0


async def test_appointments_holding_extreme_times_still_list_and_draw(
    app, db, registry, clinic, owner_engine
):
    """Times written as the schema owner, around the API: lists and screens answer 200."""
    ids = []
    from core.tenancy import tenant_scope

    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            for hour in (9, 10, 11, 12):
                booked = await booking.book(
                    session,
                    tenant_hooks(registry),
                    booking.Proposal(
                        patient_id=clinic.patients[0],
                        provider_id=clinic.provider_id,
                        location_id=clinic.location_id,
                        type_id=clinic.type_id,
                        starts_at=dt.datetime(2030, 3, 4, hour + 6, tzinfo=dt.UTC),
                    ),
                )
                ids.append(booked.appointment.id)
            await session.commit()
    spans = [
        ("-infinity", "infinity"),
        ("0001-01-01 00:00:00+00", "0001-01-01 01:00:00+00"),
        ("9999-12-31 22:00:00+00", "9999-12-31 23:00:00+00"),
        ("2030-03-04 15:00:00+00", "infinity"),
    ]
    async with owner_engine.begin() as conn:
        for appointment_id, (start, end) in zip(ids, spans, strict=True):
            await conn.execute(
                text(
                    "UPDATE scheduling_appointments SET starts_at = CAST(CAST(:s AS text) AS timestamptz), "
                    "ends_at = CAST(CAST(:e AS text) AS timestamptz) WHERE tenant_id = :t AND id = :id"
                ),
                {"s": start, "e": end, "t": clinic.tenant.id, "id": appointment_id},
            )
    async with await api_client(app, db, clinic.tenant, clinic.owner) as client:
        listed = await client.get("/api/scheduling/appointments", params={"limit": "200"})
        assert listed.status_code == 200, listed.text
        assert {a["id"] for a in listed.json()["items"]} >= {str(i) for i in ids}
        for appointment_id in ids:
            shown = await client.get(f"/api/scheduling/appointments/{appointment_id}")
            assert shown.status_code == 200, shown.text
        for params in ({"date": "2030-03-04", "view": "week"}, {"date": "2030-03-04", "view": "day"}, {}):
            page = await client.get("/scheduling/calendar", params=params, headers={"accept": "text/html"})
            assert page.status_code == 200, page.text[:300]
        today = await client.get(
            "/scheduling/today", params={"date": "2030-03-04"}, headers={"accept": "text/html"}
        )
        assert today.status_code == 200, today.text[:300]
