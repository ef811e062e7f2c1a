"""The front desk's calendar in a real browser (Playwright driving Debian's Chromium against
a real ``tessera serve``): sign in, open a provider's week, book an empty slot for a patient
found by typing, reschedule it to another time, check the patient in, and see the visit's
encounter and the new status — every step swapped in by htmx, without a page load."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from core.encounters.models import Encounter
from plugins.scheduling.models import Appointment
from plugins.scheduling.tests.booking_clinic import at, make_booking_clinic, tenant_session
from plugins.scheduling.tests.test_screens import next_monday

PASSWORD = "correct horse battery"  # noqa: S105 - the test users' password


async def test_front_desk_books_reschedules_and_checks_in_from_the_calendar(
    db, make_tenant, make_user, owner_engine, live_server, browser_page
):
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    monday = next_monday()
    page = browser_page
    base = f"http://{clinic.tenant.slug}.localhost:{live_server}"
    week = f"/scheduling/calendar?view=week&date={monday.isoformat()}&provider={clinic.provider_id}"

    # 1. Sign in (the sign-in page returns to the calendar), then open the provider's week.
    await page.goto(base + week)
    assert "/login" in page.url
    await page.get_by_label("E-mail address").fill(clinic.front_desk.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/scheduling/calendar$"))
    await page.goto(base + week)
    calendar = page.locator("#calendar")
    await calendar.locator(f'[data-day="{monday.isoformat()}"]').wait_for()
    await page.evaluate("window.__sameDocument = true")

    # 2. Book Monday 09:00: the form opens beside the grid, the patient is found by typing.
    nine = at(monday, "09:00").astimezone(dt.UTC).isoformat()
    await calendar.locator(f'a.sched-cell.open[data-start="{nine}"]').click()
    form = page.locator("#book-form")
    await form.wait_for()
    await form.get_by_label("Patient").press_sequentially("pat1", delay=30)
    await form.get_by_role("radio", name=re.compile("Example, Pat1")).check()
    await form.get_by_label("Appointment type").select_option(label="PT follow-up (45 min)")
    await form.get_by_role("button", name="Book appointment").click()
    await page.get_by_text("Booked Example, Pat1").wait_for()
    block = calendar.locator("a.sched-appt", has_text="Example, Pat1")
    await block.wait_for()
    assert "09:00" in await block.inner_text()
    async with tenant_session(db, clinic) as session:
        booked = await session.scalar(select(Appointment).where(Appointment.patient_id == clinic.patients[1]))
    assert booked.starts_at == at(monday, "09:00") and booked.status == "booked"

    # 3. Open it and move it to Tuesday 13:30.
    await block.click()
    dialog = page.locator("#calendar-dialog")
    await dialog.get_by_role("heading", name="Example, Pat1").wait_for()
    tuesday = monday + dt.timedelta(days=1)
    await dialog.get_by_label("New date").fill(tuesday.isoformat())
    await dialog.get_by_label("New time").fill("13:30")
    await dialog.get_by_role("button", name="Reschedule").click()
    await page.get_by_text(re.compile(r"Moved Example, Pat1.s appointment")).wait_for()
    moved = calendar.locator(f'[data-day="{tuesday.isoformat()}"] a.sched-appt', has_text="Example, Pat1")
    await moved.wait_for()
    assert "13:30" in await moved.inner_text()
    async with tenant_session(db, clinic) as session:
        row = await session.get(Appointment, (clinic.tenant.id, booked.id))
    assert row.starts_at == at(tuesday, "13:30") and row.version == 2

    # 4. Check the patient in from the same dialog: the status changes and the encounter opens.
    await moved.click()
    await dialog.get_by_role("button", name="Check in").click()
    await page.get_by_text("Checked in Example, Pat1.").wait_for()
    arrived = calendar.locator("a.sched-appt", has_text="Example, Pat1")
    await arrived.locator(".sched-status", has_text="Arrived").wait_for()
    await arrived.click()
    await dialog.locator("#appointment-status", has_text="Arrived").wait_for()
    assert "Visit open" in await dialog.inner_text()
    assert await page.evaluate("window.__sameDocument") is True  # never a full page load

    async with tenant_session(db, clinic) as session:
        row = await session.get(Appointment, (clinic.tenant.id, booked.id))
        encounter = await session.get(Encounter, (clinic.tenant.id, row.encounter_id))
    assert row.status == "arrived"
    assert encounter.status == "arrived" and encounter.patient_id == clinic.patients[1]
    assert encounter.starts_at == at(tuesday, "13:30")
