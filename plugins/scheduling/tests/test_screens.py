"""The scheduling screens: the calendar (day/week, per provider and per location), booking
from an empty slot, an appointment's dialog and its actions, the today list, the chart's
Appointments panel. Every PHI screen's audit event is proven; the role matrix (front desk
books, a biller only reads), another clinic's ids and a clinic without the plugin too."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo

import pytest
from sqlalchemy import select

from core.encounters.models import Encounter
from plugins.scheduling import booking
from plugins.scheduling.booking import Proposal
from plugins.scheduling.calendar_grid import build_columns, days_of_view, hour_range
from plugins.scheduling.models import Appointment
from plugins.scheduling.tests.booking_clinic import (
    ZONE,
    at,
    make_booking_clinic,
    tenant_hooks,
    tenant_session,
)
from tests.audit_helpers import assert_audited

HTMX = {"HX-Request": "true"}


def next_monday() -> dt.date:
    """A Monday at least a week ahead, so every slot of it is still bookable."""
    today = dt.datetime.now(zoneinfo.ZoneInfo(ZONE)).date()
    return today + dt.timedelta(days=7 - today.weekday() + 7)


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_booking_clinic(db, make_tenant, make_user, owner_engine)


async def book(db, registry, clinic, start, *, patient=0, **over):
    async with tenant_session(db, clinic) as session:
        booked = await booking.book(
            session,
            tenant_hooks(registry),
            Proposal(
                patient_id=clinic.patients[patient],
                provider_id=clinic.provider_id,
                location_id=clinic.location_id,
                type_id=clinic.type_id,
                starts_at=start,
                **over,
            ),
        )
        await session.commit()
        return booked.appointment.id


async def appointment(db, clinic, appointment_id) -> Appointment:
    async with tenant_session(db, clinic) as session:
        return await session.get(Appointment, (clinic.tenant.id, appointment_id))


def calendar_url(clinic, day, **over) -> str:
    params = {"view": "week", "date": day.isoformat(), "provider": str(clinic.provider_id), **over}
    return "/scheduling/calendar?" + "&".join(f"{k}={v}" for k, v in params.items())


# -- the grid's layout (pure) -----------------------------------------------------------------


def test_week_is_monday_to_sunday_and_rows_follow_the_slot_length():
    days = days_of_view("week", dt.date(2026, 3, 4))  # a Wednesday
    assert days[0] == dt.date(2026, 3, 2) and days[-1] == dt.date(2026, 3, 8) and len(days) == 7
    assert days_of_view("day", dt.date(2026, 3, 4)) == [dt.date(2026, 3, 4)]
    zone = zoneinfo.ZoneInfo(ZONE)
    working = [(at(days[0], "07:00"), at(days[0], "12:00"))]
    assert hour_range(days, zone, working) == (7, 18)  # widened to the earliest work
    columns = build_columns(
        days[:1], zone, slot_minutes=20, first_hour=7, last_hour=18, working=working, appointments=[]
    )
    cells = columns[0].cells
    assert len(cells) == 11 * 3
    assert cells[0]["working"] and cells[0]["bookable"]
    assert not cells[15]["working"]  # 12:00, after the block


def test_dst_spring_forward_day_leaves_the_missing_hour_unbookable():
    """2026-03-08 in America/Chicago: 02:00-03:00 does not exist (clocks go forward)."""
    zone = zoneinfo.ZoneInfo(ZONE)
    day = dt.date(2026, 3, 8)
    working = [(at(day, "00:00"), at(day, "05:00"))]
    columns = build_columns(
        [day], zone, slot_minutes=60, first_hour=0, last_hour=6, working=working, appointments=[]
    )
    by_hour = {c["local"].hour: c for c in columns[0].cells}
    assert by_hour[1]["bookable"] and by_hour[3]["bookable"]
    assert not by_hour[2]["working"] and not by_hour[2]["bookable"]


# -- the calendar -------------------------------------------------------------------------------


async def test_calendar_week_per_provider_shows_bookings_and_is_audited(db, registry, clinic, client_as):
    monday = next_monday()
    booked_id = await book(db, registry, clinic, at(monday, "10:00"))
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        page = await c.get(calendar_url(clinic, monday))
        assert page.status_code == 200, page.text
        html = page.text
        assert "<html" in html and "/static/scheduling/scheduling.css" in html
        assert "Example, Pat0" in html and "PT follow-up" in html
        assert f'data-appointment="{booked_id}"' in html
        assert f'data-day="{monday.isoformat()}"' in html
        assert f'data-day="{(monday + dt.timedelta(days=6)).isoformat()}"' in html
        assert "Times in America/Chicago" in html
        # empty working slots are booking links; 10:00-10:45 is taken, 11:00 is open
        assert (
            f"start={at(monday, '11:00').astimezone(dt.UTC).isoformat().replace('+', '%2B').replace(':', '%3A')}"
            in html
        )
        assert (
            f"start={at(monday, '10:15').astimezone(dt.UTC).isoformat().replace('+', '%2B').replace(':', '%3A')}"
            not in html
        )
        event = await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="appointment",
            actor=clinic.front_desk,
            since=since,
            route="GET /scheduling/calendar",
        )
        assert event.detail["via"] == "calendar" and event.detail["appointment_ids"] == [str(booked_id)]
        assert "Example" not in str(event.detail)  # ids and counts, never names

        # htmx navigation answers the calendar fragment only; day view per location
        fragment = await c.get(
            f"/scheduling/calendar?view=day&date={monday.isoformat()}&location={clinic.location_id}",
            headers=HTMX,
        )
        assert fragment.status_code == 200
        assert "<html" not in fragment.text and 'id="calendar"' in fragment.text
        assert fragment.text.count("data-day=") == 1
        assert (
            "Example, Pat0" in fragment.text and "Sam Patel" in fragment.text
        )  # provider named per location
        # the next week is one click away, with the state in the URL
        nxt = (monday + dt.timedelta(days=7)).isoformat()
        assert f"date={nxt}" in html


async def test_front_desk_books_from_an_empty_slot_and_meets_a_conflict(
    db, registry, clinic, client_as, csrf_headers
):
    monday = next_monday()
    start = at(monday, "09:00").astimezone(dt.UTC)
    back = calendar_url(clinic, monday)
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = {**await csrf_headers(c), **HTMX}
        form = await c.get(
            "/scheduling/calendar/book",
            params={
                "start": start.isoformat(),
                "provider": str(clinic.provider_id),
                "location": str(clinic.location_id),
                "back": back,
            },
            headers=HTMX,
        )
        assert form.status_code == 200
        assert "Book Mon" in form.text and "09:00" in form.text and "Book appointment" in form.text

        found = await c.get("/scheduling/patients/search", params={"patient_q": "pat1"}, headers=HTMX)
        assert found.status_code == 200
        assert f'value="{clinic.patients[1]}"' in found.text and "Example, Pat1" in found.text
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="patient_search",
            actor=clinic.front_desk,
            since=since,
            route="GET /scheduling/patients/search",
        )

        data = {
            "start": start.isoformat(),
            "provider": str(clinic.provider_id),
            "location": str(clinic.location_id),
            "type_id": str(clinic.type_id),
            "patient_id": str(clinic.patients[1]),
            "back": back,
        }
        booked = await c.post("/scheduling/calendar/book", data=data, headers=headers)
        assert booked.status_code == 200, booked.text
        assert 'id="calendar"' in booked.text and "Booked Example, Pat1" in booked.text
        async with tenant_session(db, clinic) as session:
            row = await session.scalar(
                select(Appointment).where(Appointment.patient_id == clinic.patients[1])
            )
        assert row.starts_at == start and row.status == "booked"
        assert f'data-appointment="{row.id}"' in booked.text
        await assert_audited(
            db,
            clinic.tenant,
            action="create",
            resource_type="appointment",
            patient_id=clinic.patients[1],
            actor=clinic.front_desk,
            since=since,
            route="POST /scheduling/calendar/book",
        )

        # the same slot for another patient: 409, the form with the conflict, in the dialog
        taken = await c.post(
            "/scheduling/calendar/book", data={**data, "patient_id": str(clinic.patients[2])}, headers=headers
        )
        assert taken.status_code == 409
        assert taken.headers["HX-Retarget"] == "#calendar-dialog"
        assert 'id="book-form"' in taken.text and 'role="alert"' in taken.text
        # without a patient chosen: 422, typed search offered as choices
        missing = await c.post(
            "/scheduling/calendar/book",
            data={**data, "patient_id": "", "patient_q": "pat2", "start": at(monday, "13:00").isoformat()},
            headers=headers,
        )
        assert missing.status_code == 422
        assert "Choose the patient from the list." in missing.text and "Example, Pat2" in missing.text

        # without htmx the same form is a plain post and a redirect back to the calendar
        plain = await c.post(
            "/scheduling/calendar/book",
            data={
                **data,
                "patient_id": str(clinic.patients[2]),
                "start": at(monday, "14:00").isoformat(),
                "_csrf": headers["X-CSRF-Token"],
            },
            follow_redirects=False,
        )
        assert plain.status_code == 303 and plain.headers["location"] == back


async def test_appointment_dialog_and_every_action(db, registry, clinic, client_as, csrf_headers):
    monday = next_monday()
    first = await book(db, registry, clinic, at(monday, "10:00"))
    second = await book(db, registry, clinic, at(monday, "12:00"), patient=1)
    past = await book(db, registry, clinic, at(monday - dt.timedelta(days=28), "10:00"), patient=2)
    back = calendar_url(clinic, monday)
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = {**await csrf_headers(c), **HTMX}
        dialog = await c.get(f"/scheduling/appointments/{first}", params={"back": back}, headers=HTMX)
        assert dialog.status_code == 200
        for label in ("Check in", "Confirm", "Reschedule", "Cancel appointment"):
            assert label in dialog.text
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="appointment",
            patient_id=clinic.patients[0],
            actor=clinic.front_desk,
            since=since,
            route="GET /scheduling/appointments/{appointment_id}",
        )

        confirmed = await c.post(
            f"/scheduling/appointments/{first}/confirm", data={"back": back}, headers=headers
        )
        assert confirmed.status_code == 200 and "Confirmed Example, Pat0" in confirmed.text
        assert (await appointment(db, clinic, first)).status == "confirmed"
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="appointment",
            patient_id=clinic.patients[0],
            since=since,
            route="POST /scheduling/appointments/{appointment_id}/confirm",
        )

        moved = await c.post(
            f"/scheduling/appointments/{first}/reschedule",
            data={"back": back, "date": (monday + dt.timedelta(days=1)).isoformat(), "time": "15:30"},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
        assert "Moved Example, Pat0" in moved.text and "15:30" in moved.text
        row = await appointment(db, clinic, first)
        assert row.starts_at == at(monday + dt.timedelta(days=1), "15:30") and row.version == 2
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="appointment",
            patient_id=clinic.patients[0],
            since=since,
            route="POST /scheduling/appointments/{appointment_id}/reschedule",
        )
        # onto another booking: 409 in the dialog, nothing moved
        clash = await c.post(
            f"/scheduling/appointments/{first}/reschedule",
            data={"back": back, "date": monday.isoformat(), "time": "12:00"},
            headers=headers,
        )
        assert clash.status_code == 409 and clash.headers["HX-Retarget"] == "#calendar-dialog"
        assert 'id="appointment-error"' in clash.text
        assert (await appointment(db, clinic, first)).version == 2

        checked_in = await c.post(
            f"/scheduling/appointments/{first}/check-in", data={"back": back}, headers=headers
        )
        assert checked_in.status_code == 200 and "Checked in Example, Pat0" in checked_in.text
        row = await appointment(db, clinic, first)
        assert row.status == "arrived" and row.encounter_id is not None
        async with tenant_session(db, clinic) as session:
            encounter = await session.get(Encounter, (clinic.tenant.id, row.encounter_id))
        assert encounter.status == "arrived" and encounter.patient_id == clinic.patients[0]
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="appointment",
            patient_id=clinic.patients[0],
            since=since,
            route="POST /scheduling/appointments/{appointment_id}/check-in",
        )

        no_reason = await c.post(
            f"/scheduling/appointments/{second}/cancel", data={"back": back}, headers=headers
        )
        assert no_reason.status_code == 422 and "Reason" in no_reason.text
        cancelled = await c.post(
            f"/scheduling/appointments/{second}/cancel",
            data={"back": back, "reason": "patient has the flu", "_csrf": headers["X-CSRF-Token"]},
            follow_redirects=False,
        )
        assert cancelled.status_code == 303 and cancelled.headers["location"] == back  # works without htmx
        row = await appointment(db, clinic, second)
        assert row.status == "cancelled" and row.cancel_reason == "patient has the flu"
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="appointment",
            patient_id=clinic.patients[1],
            since=since,
            route="POST /scheduling/appointments/{appointment_id}/cancel",
        )

        too_early = await c.post(
            f"/scheduling/appointments/{second}/no-show", data={"back": back}, headers=headers
        )
        assert too_early.status_code == 409
        no_show = await c.post(
            f"/scheduling/appointments/{past}/no-show", data={"back": back}, headers=headers
        )
        assert no_show.status_code == 200 and "Marked Example, Pat2 as no-show" in no_show.text
        assert (await appointment(db, clinic, past)).status == "no-show"
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            resource_type="appointment",
            patient_id=clinic.patients[2],
            since=since,
            route="POST /scheduling/appointments/{appointment_id}/no-show",
        )


async def test_biller_reads_without_booking_controls_and_is_refused_changes(
    db, registry, clinic, make_user, client_as, csrf_headers
):
    monday = next_monday()
    booked_id = await book(db, registry, clinic, at(monday, "10:00"))
    biller = await make_user(clinic.tenant, roles=("biller",))
    async with await client_as(clinic.tenant, biller) as c:
        headers = {**await csrf_headers(c), **HTMX}
        page = await c.get(calendar_url(clinic, monday))
        assert page.status_code == 200 and "Example, Pat0" in page.text
        assert "sched-cell open" not in page.text and "/scheduling/calendar/book" not in page.text
        dialog = await c.get(f"/scheduling/appointments/{booked_id}", headers=HTMX)
        assert dialog.status_code == 200 and "Check in" not in dialog.text and "<form" not in dialog.text
        today = await c.get(f"/scheduling/today?location={clinic.location_id}&date={monday.isoformat()}")
        assert today.status_code == 200 and "Check in" not in today.text
        assert (await c.get("/scheduling/calendar/book", params={"start": "x"})).status_code == 403
        refused = await c.post(
            "/scheduling/calendar/book",
            data={
                "start": at(monday, "11:00").isoformat(),
                "provider": str(clinic.provider_id),
                "location": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "patient_id": str(clinic.patients[1]),
            },
            headers=headers,
        )
        assert refused.status_code == 403
        for action in ("confirm", "cancel", "check-in", "no-show", "reschedule"):
            response = await c.post(
                f"/scheduling/appointments/{booked_id}/{action}", data={"reason": "x"}, headers=headers
            )
            assert response.status_code == 403, action
    assert (await appointment(db, clinic, booked_id)).status == "booked"


async def test_other_clinics_and_clinics_without_the_plugin_get_404(
    db, registry, clinic, make_tenant, make_user, owner_engine, client_as, csrf_headers
):
    monday = next_monday()
    theirs = await book(db, registry, clinic, at(monday, "10:00"))
    other = await make_booking_clinic(db, make_tenant, make_user, owner_engine, patients=1)
    async with await client_as(other.tenant, other.front_desk) as c:
        headers = {**await csrf_headers(c), **HTMX}
        assert (await c.get(f"/scheduling/appointments/{theirs}")).status_code == 404
        for action in ("confirm", "check-in", "reschedule"):
            response = await c.post(
                f"/scheduling/appointments/{theirs}/{action}",
                data={"date": monday.isoformat(), "time": "11:00"},
                headers=headers,
            )
            assert response.status_code == 404, action
        assert (await c.get(f"/scheduling/patients/{clinic.patients[0]}/appointments")).status_code == 404
        # their calendar does not show the other clinic's appointment, even by its provider id
        page = await c.get(calendar_url(clinic, monday))
        assert page.status_code == 200 and str(theirs) not in page.text
    assert (await appointment(db, clinic, theirs)).status == "booked"

    plain = await make_tenant()
    owner = await make_user(plain, roles=("owner",))
    async with await client_as(plain, owner) as c:
        for path in (
            "/scheduling/calendar",
            "/scheduling/today",
            "/scheduling/waitlist",
            f"/scheduling/appointments/{theirs}",
            f"/scheduling/patients/{uuid.uuid4()}/appointments",
        ):
            assert (await c.get(path)).status_code == 404, path
        home = await c.get("/")
        assert "/scheduling/calendar" not in home.text


# -- today ----------------------------------------------------------------------------------


async def test_today_list_with_arrival_status_and_one_click_check_in(
    db, registry, clinic, client_as, csrf_headers
):
    monday = next_monday()
    first = await book(db, registry, clinic, at(monday, "09:00"))
    second = await book(db, registry, clinic, at(monday, "11:00"), patient=1)
    url = f"/scheduling/today?location={clinic.location_id}&date={monday.isoformat()}"
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        headers = {**await csrf_headers(c), **HTMX}
        page = await c.get(url)
        assert page.status_code == 200
        assert 'hx-trigger="every 30s"' in page.text
        rows = re.findall(r'<tr class="status-(\w[\w-]*)" data-appointment="([0-9a-f-]+)"', page.text)
        assert rows == [("booked", str(first)), ("booked", str(second))]  # by time
        assert page.text.count(">Check in<") == 2
        event = await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="appointment",
            actor=clinic.front_desk,
            since=since,
            route="GET /scheduling/today",
        )
        assert event.detail["via"] == "today" and event.detail["results"] == 2

        arrived = await c.post(
            f"/scheduling/appointments/{first}/check-in", data={"back": url}, headers=headers
        )
        assert arrived.status_code == 200
        assert 'id="today"' in arrived.text and "Checked in Example, Pat0" in arrived.text
        assert re.search(rf'data-appointment="{first}">.*?status-arrived">Arrived<', arrived.text, re.S)
        assert arrived.text.count(">Check in<") == 1

        # the encounter moving on shows as "In room" on the next refresh
        row = await appointment(db, clinic, first)
        async with tenant_session(db, clinic) as session:
            encounter = await session.get(Encounter, (clinic.tenant.id, row.encounter_id))
            encounter.status = "in-progress"
            await session.commit()
        refreshed = await c.get(url, headers=HTMX)
        assert "<html" not in refreshed.text and ">In room<" in refreshed.text


# -- the chart's panel ----------------------------------------------------------------------


async def test_chart_panel_lists_upcoming_past_and_no_shows(db, registry, clinic, client_as):
    monday = next_monday()
    patient = clinic.patients[0]
    upcoming = await book(db, registry, clinic, at(monday, "10:00"))
    earlier = monday - dt.timedelta(days=35)
    missed = await book(db, registry, clinic, at(earlier, "10:00"))
    attended = await book(db, registry, clinic, at(earlier + dt.timedelta(days=1), "10:00"))
    async with tenant_session(db, clinic) as session:
        hooks = tenant_hooks(registry)
        await booking.mark_no_show(session, hooks, await booking.get_appointment(session, missed))
        await booking.check_in(session, hooks, await booking.get_appointment(session, attended))
        await session.commit()
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, clinic.front_desk) as c:
        chart = await c.get(f"/patients/{patient}")
        assert chart.status_code == 200
        assert "Appointments" in chart.text
        assert f'hx-get="/scheduling/patients/{patient}/appointments"' in chart.text

        panel = await c.get(f"/scheduling/patients/{patient}/appointments", headers=HTMX)
        assert panel.status_code == 200
        assert 'data-no-shows="1"' in panel.text
        upcoming_part, past_part = panel.text.split("<h3>Past</h3>")
        assert monday.isoformat() in upcoming_part and "Booked" in upcoming_part
        assert earlier.isoformat() in past_part and "No-show" in past_part and "Arrived" in past_part
        assert "Sam Patel, PT, DPT" in panel.text and "PT follow-up" in panel.text
        event = await assert_audited(
            db,
            clinic.tenant,
            action="read",
            resource_type="appointment",
            patient_id=patient,
            actor=clinic.front_desk,
            since=since,
            route="GET /scheduling/patients/{patient_id}/appointments",
        )
        assert set(event.detail["appointment_ids"]) == {str(upcoming), str(missed), str(attended)}
        # without htmx: a page of its own
        whole = await c.get(f"/scheduling/patients/{patient}/appointments")
        assert "<html" in whole.text and "Back to the chart" in whole.text
