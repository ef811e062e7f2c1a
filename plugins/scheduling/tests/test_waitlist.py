"""The waitlist: entries through the JSON API and the screen (each audited), a cancelled
appointment's slot offered to the entries that fit it (and not to those that do not),
"N on the waitlist fit this slot" on the calendar and the today list, one-click booking of
the freed slot (the entry becomes booked, the other offers go back to waiting), an offer
withdrawn when someone else takes the slot, and isolation between clinics."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from plugins.scheduling import booking
from plugins.scheduling.models import Appointment, WaitlistEntry
from plugins.scheduling.tests.booking_clinic import at, make_booking_clinic, tenant_hooks, tenant_session
from plugins.scheduling.tests.test_screens import HTMX, appointment, book, calendar_url, next_monday
from tests.audit_helpers import assert_audited


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_booking_clinic(db, make_tenant, make_user, owner_engine, patients=4)


def entry_body(clinic, patient, monday, **over) -> dict:
    return {
        "patient_id": str(clinic.patients[patient]),
        "type_id": str(clinic.type_id),
        "earliest_date": (monday - dt.timedelta(days=3)).isoformat(),
        "latest_date": (monday + dt.timedelta(days=10)).isoformat(),
        **over,
    }


async def entries(db, clinic) -> dict[uuid.UUID, WaitlistEntry]:
    async with tenant_session(db, clinic) as session:
        return {e.patient_id: e for e in await session.scalars(select(WaitlistEntry))}


async def test_waitlist_api_crud_is_audited_and_checked(db, clinic, client_as, csrf_headers):
    monday = next_monday()
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = await csrf_headers(c)
        bad = await c.post(
            "/api/scheduling/waitlist",
            json={"patient_id": "nope", "earliest_date": "2026-13-01", "weekdays": [9]},
            headers=headers,
        )
        assert bad.status_code == 422
        fields = {e["field"] for e in bad.json()["extra"]["errors"]}
        assert {"patient_id", "type_id", "earliest_date", "weekdays"} <= fields

        created = await c.post(
            "/api/scheduling/waitlist",
            json=entry_body(clinic, 0, monday, weekdays=[0, 2], provider_id=str(clinic.provider_id)),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["status"] == "waiting" and body["weekdays"] == [0, 2] and body["location_id"] is None
        entry_id = body["id"]
        await assert_audited(
            db,
            clinic.tenant,
            action="create",
            resource_type="scheduling:waitlist",
            patient_id=clinic.patients[0],
            actor=clinic.front_desk,
            since=since,
            route="POST /api/scheduling/waitlist",
        )

        listed = await c.get("/api/scheduling/waitlist")
        assert [e["id"] for e in listed.json()] == [entry_id]
        event = await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="scheduling:waitlist",
            actor=clinic.front_desk,
            since=since,
            route="GET /api/scheduling/waitlist",
        )
        assert event.detail["entry_ids"] == [entry_id]
        assert (await c.get("/api/scheduling/waitlist?status=bogus")).status_code == 422

        one = await c.get(f"/api/scheduling/waitlist/{entry_id}")
        assert one.status_code == 200 and one.json()["patient_id"] == str(clinic.patients[0])
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="scheduling:waitlist",
            patient_id=clinic.patients[0],
            since=since,
            route="GET /api/scheduling/waitlist/{entry_id}",
        )

        no_offer = await c.post(f"/api/scheduling/waitlist/{entry_id}/book", headers=headers)
        assert no_offer.status_code == 409 and "no slot on offer" in no_offer.json()["detail"]

        removed = await c.delete(f"/api/scheduling/waitlist/{entry_id}", headers=headers)
        assert removed.status_code == 200 and removed.json()["status"] == "removed"
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="scheduling:waitlist",
            patient_id=clinic.patients[0],
            since=since,
            route="DELETE /api/scheduling/waitlist/{entry_id}",
        )
        assert (await c.delete(f"/api/scheduling/waitlist/{entry_id}", headers=headers)).status_code == 409
        assert (await c.get("/api/scheduling/waitlist")).json() == []


async def test_cancelled_slot_is_offered_and_booked_from_the_calendar(
    db, registry, clinic, client_as, csrf_headers
):
    monday = next_monday()
    cancelled_id = await book(db, registry, clinic, at(monday, "10:00"))  # 45 minutes
    back = calendar_url(clinic, monday)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = await csrf_headers(c)
        # patient 1 and 2 fit; 3 wants Tuesdays only
        for patient, extra in (
            (1, {}),
            (2, {"location_id": str(clinic.location_id)}),
            (3, {"weekdays": [1]}),
        ):
            response = await c.post(
                "/api/scheduling/waitlist", json=entry_body(clinic, patient, monday, **extra), headers=headers
            )
            assert response.status_code == 201
        since = dt.datetime.now(dt.UTC)
        cancel = await c.post(
            f"/scheduling/appointments/{cancelled_id}/cancel",
            data={"back": back, "reason": "moved away"},
            headers={**headers, **HTMX},
        )
        assert cancel.status_code == 200
        assert "2 on the waitlist fit this slot" in cancel.text  # the re-rendered calendar says so
        offered = await entries(db, clinic)
        assert offered[clinic.patients[1]].status == offered[clinic.patients[2]].status == "offered"
        assert offered[clinic.patients[1]].offered_starts_at == at(monday, "10:00")
        assert offered[clinic.patients[3]].status == "waiting"

        offers_url = (
            f"/scheduling/waitlist/offers?provider={clinic.provider_id}&location={clinic.location_id}"
            f"&start={at(monday, '10:00').astimezone(dt.UTC).isoformat().replace('+', '%2B')}&back={back.replace('&', '%26')}"
        )
        offers = await c.get(offers_url, headers=HTMX)
        assert offers.status_code == 200, offers.text
        assert "Book for Example, Pat1" in offers.text and "Book for Example, Pat2" in offers.text
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="scheduling:waitlist",
            actor=clinic.front_desk,
            since=since,
            route="GET /scheduling/waitlist/offers",
        )

        first = offered[clinic.patients[1]]
        booked = await c.post(
            f"/scheduling/waitlist/{first.id}/book", data={"back": back}, headers={**headers, **HTMX}
        )
        assert booked.status_code == 200, booked.text
        assert "Booked Example, Pat1 from the waitlist" in booked.text
        assert "on the waitlist fit this slot" not in booked.text
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="scheduling:waitlist",
            patient_id=clinic.patients[1],
            since=since,
            route="POST /scheduling/waitlist/{entry_id}/book",
        )
    after = await entries(db, clinic)
    assert after[clinic.patients[1]].status == "booked"
    assert (
        after[clinic.patients[2]].status == "waiting" and after[clinic.patients[2]].offered_starts_at is None
    )
    new = await appointment(db, clinic, after[clinic.patients[1]].appointment_id)
    assert (
        new.starts_at == at(monday, "10:00")
        and new.patient_id == clinic.patients[1]
        and new.status == "booked"
    )


async def test_offer_withdrawn_when_the_slot_is_taken_and_booking_by_api_refuses(
    db, registry, clinic, client_as, csrf_headers
):
    monday = next_monday()
    cancelled_id = await book(db, registry, clinic, at(monday, "14:00"))
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = await csrf_headers(c)
        created = await c.post(
            "/api/scheduling/waitlist", json=entry_body(clinic, 1, monday), headers=headers
        )
        entry_id = created.json()["id"]
    async with tenant_session(db, clinic) as session:
        hooks = tenant_hooks(registry)
        await booking.cancel(session, hooks, await booking.get_appointment(session, cancelled_id), "sick")
        await session.commit()
    assert (await entries(db, clinic))[clinic.patients[1]].status == "offered"
    # today list shows the offer for that location and day
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        today = await c.get(f"/scheduling/today?location={clinic.location_id}&date={monday.isoformat()}")
        assert "1 on the waitlist fit this slot" in today.text
    # someone books the freed time by phone: the offer goes back to waiting
    await book(db, registry, clinic, at(monday, "14:00"), patient=2)
    assert (await entries(db, clinic))[clinic.patients[1]].status == "waiting"

    # a fresh offer, then the slot taken: booking the offer by API answers 409
    async with tenant_session(db, clinic) as session:
        from plugins.scheduling import waitlist

        await waitlist.offer_slot(
            session,
            waitlist.Slot(clinic.provider_id, clinic.location_id, at(monday, "15:00"), at(monday, "16:00")),
        )
        await session.commit()
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = await csrf_headers(c)
        since = dt.datetime.now(dt.UTC)
        ok = await c.post(f"/api/scheduling/waitlist/{entry_id}/book", headers=headers)
        assert ok.status_code == 201, ok.text
        assert ok.json()["entry"]["status"] == "booked" and ok.json()["appointment"]["status"] == "booked"
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="scheduling:waitlist",
            patient_id=clinic.patients[1],
            since=since,
            route="POST /api/scheduling/waitlist/{entry_id}/book",
        )


async def test_waitlist_screen_add_remove_and_isolation(
    db, registry, clinic, make_tenant, make_user, owner_engine, client_as, csrf_headers
):
    monday = next_monday()
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = {**await csrf_headers(c), **HTMX}
        page = await c.get("/scheduling/waitlist")
        assert page.status_code == 200 and "Nobody is on the waitlist." in page.text
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="scheduling:waitlist",
            actor=clinic.front_desk,
            since=since,
            route="GET /scheduling/waitlist",
        )
        missing = await c.post("/scheduling/waitlist", data={"type_id": str(clinic.type_id)}, headers=headers)
        assert missing.status_code == 422 and "Please correct" in missing.text
        added = await c.post(
            "/scheduling/waitlist",
            data={**entry_body(clinic, 0, monday), "weekdays": ["0", "4"], "note": "mornings"},
            headers=headers,
        )
        assert added.status_code == 200, added.text
        assert "Example, Pat0 is on the waitlist." in added.text and "Mon, Fri" in added.text
        await assert_audited(
            db,
            clinic.tenant,
            action="create",
            resource_type="scheduling:waitlist",
            patient_id=clinic.patients[0],
            since=since,
            route="POST /scheduling/waitlist",
        )
        entry = (await entries(db, clinic))[clinic.patients[0]]
        removed = await c.post(
            f"/scheduling/waitlist/{entry.id}/remove", data={"back": "/scheduling/waitlist"}, headers=headers
        )
        assert removed.status_code == 200 and "is off the waitlist" in removed.text
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="scheduling:waitlist",
            patient_id=clinic.patients[0],
            since=since,
            route="POST /scheduling/waitlist/{entry_id}/remove",
        )

    biller = await make_user(clinic.tenant, roles=("biller",))
    async with await client_as(clinic.tenant, biller) as c:
        headers = {**await csrf_headers(c), **HTMX}
        page = await c.get("/scheduling/waitlist")
        assert page.status_code == 200 and "Add to the waitlist" not in page.text
        assert (
            await c.post("/scheduling/waitlist", data=entry_body(clinic, 1, monday), headers=headers)
        ).status_code == 403

    other = await make_booking_clinic(db, make_tenant, make_user, owner_engine, patients=1)
    async with await client_as(other.tenant, other.front_desk) as c:
        headers = await csrf_headers(c)
        assert (await c.get(f"/api/scheduling/waitlist/{entry.id}")).status_code == 404
        assert (await c.delete(f"/api/scheduling/waitlist/{entry.id}", headers=headers)).status_code == 404
        assert (await c.post(f"/scheduling/waitlist/{entry.id}/book", headers=headers)).status_code == 404
        # their patient cannot be put on this clinic's list
        foreign = await c.post(
            "/api/scheduling/waitlist",
            json=entry_body(clinic, 1, monday) | {"type_id": str(other.type_id)},
            headers=headers,
        )
        assert foreign.status_code == 422
    plain = await make_tenant()
    owner = await make_user(plain, roles=("owner",))
    async with await client_as(plain, owner) as c:
        assert (await c.get("/api/scheduling/waitlist")).status_code == 404
    assert (await appointment(db, clinic, uuid.uuid4())) is None
    async with tenant_session(db, clinic) as session:
        assert await session.scalar(select(Appointment.id)) is None


async def test_a_moved_appointment_offers_the_time_it_left(db, registry, clinic, client_as, csrf_headers):
    monday = next_monday()
    moved_id = await book(db, registry, clinic, at(monday, "14:00"))
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = await csrf_headers(c)
        created = await c.post(
            "/api/scheduling/waitlist", json=entry_body(clinic, 1, monday), headers=headers
        )
        assert created.status_code == 201, created.text

    # moved by 15 minutes: the visit still covers most of its old hour, nothing is offered
    async with tenant_session(db, clinic) as session:
        appointment = await booking.get_appointment(session, moved_id)
        await booking.reschedule(session, tenant_hooks(registry), appointment, starts_at=at(monday, "14:15"))
        await session.commit()
    assert (await entries(db, clinic))[clinic.patients[1]].status == "waiting"

    # moved to the next day: its old time is offered to the patient who waits
    async with tenant_session(db, clinic) as session:
        appointment = await booking.get_appointment(session, moved_id)
        tuesday = monday + dt.timedelta(days=1)
        await booking.reschedule(session, tenant_hooks(registry), appointment, starts_at=at(tuesday, "09:00"))
        await session.commit()
    entry = (await entries(db, clinic))[clinic.patients[1]]
    assert entry.status == "offered"
    assert entry.offered_starts_at == at(monday, "14:15")
