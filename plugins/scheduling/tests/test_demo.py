"""Demo data: a believable week made through booking.book — no provider, patient or
resource double-booked, every visit inside working hours, past visits resolved (seen,
missed or cancelled), future ones booked or confirmed; idempotent, and it rolls on to
the next week."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from core.encounters.models import Encounter
from core.tenancy import tenant_scope
from plugins.scheduling.availability import within_working_hours
from plugins.scheduling.demo import PROFILES, monday_of, seed_demo
from plugins.scheduling.models import (
    HOLDING,
    Appointment,
    AppointmentType,
    AvailabilityTemplate,
    Resource,
    Series,
)
from plugins.scheduling.tests.sample_clinic import make_sample_clinic

#: a Wednesday afternoon in Chicago (CST): Monday and Tuesday are past, Wednesday half
NOW = dt.datetime(2026, 3, 4, 20, 0, tzinfo=dt.UTC)

OVERLAPS = """
SELECT count(*) FROM scheduling_appointments a JOIN scheduling_appointments b
  ON a.tenant_id = b.tenant_id AND a.id < b.id
 AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
 AND (a.provider_id = b.provider_id OR a.patient_id = b.patient_id OR a.resource_id = b.resource_id)
WHERE a.tenant_id = :t AND a.status IN ('booked', 'confirmed', 'arrived', 'completed')
  AND b.status IN ('booked', 'confirmed', 'arrived', 'completed')
"""


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    clinic = await make_sample_clinic(db, make_tenant, make_user, owner_engine, name="Demo PT")
    # the demo books 60 patients at most; give it a realistic crowd to choose from
    from tests.test_encounters_api import add_patient

    for n in range(25):
        clinic.patients.append(await add_patient(owner_engine, clinic.tenant, given=f"Pat{n}", family="Demo"))
    return clinic


async def seed(db, registry, clinic, now=NOW, slug="riverside"):
    hooks = registry.for_tenant({"scheduling"})
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            added = await seed_demo(session, hooks, SimpleNamespace(slug=slug, name="Demo PT"), now=now)
            await session.commit()
    return added


async def test_a_demo_week_is_realistic_and_conflict_free(db, registry, owner_engine, clinic):
    added = await seed(db, registry, clinic)
    assert added["availability"] > 0 and added["resources"] == 2 * len(PROFILES["riverside"].resources)
    assert added["appointments"] >= 20

    monday = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)  # 00:00 in Chicago
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            rows = list(await session.scalars(select(Appointment).order_by(Appointment.starts_at)))
            types = {t.id: t for t in await session.scalars(select(AppointmentType))}
            tables = {r.id: r for r in await session.scalars(select(Resource))}
            for appointment in rows:
                assert monday <= appointment.starts_at < monday + dt.timedelta(days=5)
                assert await within_working_hours(
                    session,
                    provider_id=appointment.provider_id,
                    location_id=appointment.location_id,
                    starts_at=appointment.starts_at,
                    ends_at=appointment.ends_at,
                )
                kind = types[appointment.type_id].resource_kind
                if kind:  # every PT visit has a table (or the gym) of its own
                    assert tables[appointment.resource_id].kind == kind
                if appointment.ends_at <= NOW:
                    assert appointment.status in ("completed", "no-show", "cancelled")
                elif appointment.starts_at <= NOW:
                    assert appointment.status == "arrived"
                else:
                    assert appointment.status in ("booked", "confirmed")
                if appointment.status in ("completed", "arrived"):
                    encounter = await session.scalar(
                        select(Encounter).where(Encounter.id == appointment.encounter_id)
                    )
                    assert encounter.status == (
                        "finished" if appointment.status == "completed" else "arrived"
                    )
            # both providers work, each at both locations, on weekdays only
            worked = set(await session.execute(select(Appointment.provider_id, Appointment.location_id)))
            assert len(worked) == 4
            assert set(await session.scalars(select(AvailabilityTemplate.weekday))) == {0, 1, 2, 3, 4}
    statuses = {a.status for a in rows}
    assert {"completed", "booked", "confirmed"} <= statuses
    assert statuses <= {"completed", "no-show", "cancelled", "arrived", "booked", "confirmed"}
    assert {"PT evaluation", "PT follow-up"} <= {types[a.type_id].name for a in rows}
    async with owner_engine.connect() as conn:
        assert (await conn.execute(text(OVERLAPS), {"t": clinic.tenant.id})).scalar() == 0


async def test_seeding_again_adds_nothing_and_a_week_later_fills_the_new_week(db, registry, clinic):
    await seed(db, registry, clinic)

    async def counts():
        with tenant_scope(clinic.tenant.id):
            async with db.session() as session:
                return [
                    await session.scalar(select(func.count()).select_from(model))
                    for model in (Appointment, AppointmentType, Resource, AvailabilityTemplate)
                ]

    before = await counts()
    again = await seed(db, registry, clinic, now=NOW + dt.timedelta(hours=3))
    assert again == {"resources": 0, "availability": 0, "appointments": 0, "series_appointments": 0}
    assert await counts() == before

    later = await seed(db, registry, clinic, now=NOW + dt.timedelta(days=7))
    assert later["appointments"] >= 20 and later["resources"] == later["availability"] == 0
    assert later["series_appointments"] == 0
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            next_monday = dt.datetime(2026, 3, 9, 5, 0, tzinfo=dt.UTC)  # CDT from 8 March
            assert (
                await session.scalar(
                    select(func.count()).select_from(Appointment).where(Appointment.starts_at >= next_monday)
                )
                == later["appointments"]
            )


async def test_each_demo_clinic_gets_types_that_fit_it(db, registry, clinic):
    await seed(db, registry, clinic, slug="northside")
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            names = set(await session.scalars(select(AppointmentType.name)))
            telehealth = await session.scalar(
                select(func.count()).select_from(Appointment).where(Appointment.telehealth)
            )
            holding = await session.scalar(
                select(func.count()).select_from(Appointment).where(Appointment.status.in_(HOLDING))
            )
    assert {"Counselling session", "Telehealth counselling", "Intake assessment"} <= names
    assert telehealth > 0 and holding > 0


async def test_recurring_series_are_booked_once_from_tomorrow(db, registry, owner_engine, clinic):
    now = dt.datetime.now(dt.UTC)
    first = await seed(db, registry, clinic, now=now)
    # "Mondays and Wednesdays for 6 weeks" and "Fridays for 4 weeks": up to 16 visits,
    # less any that clash with nothing else yet (none) or fall on a day off (none)
    assert 8 <= first["series_appointments"] <= 16
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            rules = sorted(await session.scalars(select(Series.rrule)))
            occurrences = list(
                await session.scalars(select(Appointment).where(Appointment.series_id.is_not(None)))
            )
    assert len(rules) == 2 and all(r.startswith("FREQ=WEEKLY") for r in rules)
    assert len(occurrences) == first["series_appointments"]
    assert all(a.starts_at > now and a.occurrence_start is not None for a in occurrences)
    assert (await seed(db, registry, clinic, now=now))["series_appointments"] == 0
    async with owner_engine.connect() as conn:
        assert (await conn.execute(text(OVERLAPS), {"t": clinic.tenant.id})).scalar() == 0


def test_monday_of():
    assert monday_of(dt.date(2026, 3, 4)) == dt.date(2026, 3, 2)
    assert monday_of(dt.date(2026, 3, 2)) == dt.date(2026, 3, 2)
    assert monday_of(dt.date(2026, 3, 8)) == dt.date(2026, 3, 2)
