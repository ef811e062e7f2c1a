"""Demo data for ``make run``: appointment types that fit the clinic, rooms and equipment,
each provider's working week at each of their locations, and a realistic week of
appointments from this week's Monday.

Every appointment is made through ``booking.book`` (and check-in, no-show, cancel through
their services), so demo data obeys the same rules as the front desk: it never
double-books a provider, a patient or a treatment table, it stays in working hours, and
the tenant's plugins see every booking. Past days get what happened (completed visits,
a no-show or two, a cancellation), today some arrivals, the rest of the week booked or
confirmed.

Idempotent, as ``tessera_demo_data`` must be: types, resources and availability are added
only when missing, and the week is seeded only if the clinic has no appointment in it yet.
A week later the next ``make run`` finds the new week empty and fills it.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from litestar.exceptions import ClientException
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import (
    Patient,
    Provider,
    ProviderLocation,
    change_encounter_status,
    clinic_time_zone,
    location_time_zone,
    utcnow,
)
from plugins.scheduling import booking, series
from plugins.scheduling.availability import working_intervals
from plugins.scheduling.models import (
    Appointment,
    AppointmentType,
    AvailabilityTemplate,
    Resource,
    Series,
)
from plugins.scheduling.recurrence import weekly_rule


@dataclass(frozen=True)
class DemoType:
    name: str
    minutes: int
    colour: str
    encounter_type: str
    resource_kind: str | None = None
    telehealth: bool = False
    #: relative frequency in the demo week
    weight: int = 1


@dataclass(frozen=True)
class Profile:
    """What a kind of clinic books: its visit types, the resources at every location."""

    types: tuple[DemoType, ...]
    resources: tuple[tuple[str, str], ...] = ()  # (name, kind)


REHAB = Profile(
    types=(
        DemoType("PT evaluation", 60, "#7c3aed", "evaluation", "table", weight=2),
        DemoType("PT follow-up", 45, "#0d9488", "office-visit", "table", weight=6),
        DemoType("Gym session", 30, "#ea580c", "office-visit", "gym", weight=2),
        DemoType("PT re-evaluation", 45, "#be185d", "re-evaluation", "table", weight=1),
    ),
    resources=(("Table 1", "table"), ("Table 2", "table"), ("Table 3", "table"), ("Gym", "gym")),
)
BEHAVIORAL = Profile(
    types=(
        DemoType("Intake assessment", 60, "#7c3aed", "evaluation", weight=1),
        DemoType("Counselling session", 50, "#0d9488", "office-visit", weight=5),
        DemoType("Telehealth counselling", 50, "#2563eb", "telehealth", telehealth=True, weight=3),
        DemoType("Family session", 50, "#ca8a04", "office-visit", weight=1),
    ),
)
FAMILY = Profile(
    types=(
        DemoType("New patient visit", 40, "#7c3aed", "evaluation", "exam room", weight=2),
        DemoType("Follow-up visit", 20, "#16a34a", "office-visit", "exam room", weight=6),
        DemoType("Annual physical", 40, "#0891b2", "office-visit", "exam room", weight=2),
        DemoType("Telehealth visit", 20, "#2563eb", "telehealth", telehealth=True, weight=2),
    ),
    resources=(("Exam room 1", "exam room"), ("Exam room 2", "exam room"), ("Exam room 3", "exam room")),
)
#: the demo clinics of ``make run`` (core/demo.py); any other clinic gets FAMILY
PROFILES = {"riverside": REHAB, "northside": BEHAVIORAL, "harbor": FAMILY}

#: a provider's working day at a location: two blocks around lunch (wall-clock time)
WORKING_BLOCKS = ((dt.time(8), dt.time(12)), (dt.time(13), dt.time(17)))
#: how full the demo week is: the share of possible start times that get a booking
FILL = 0.7
#: recurring visits the demo books once per clinic, from tomorrow: (weekdays, local start,
#: weeks) -- a plan of care "twice a week for 6 weeks" and a weekly one for a month
DEMO_SERIES = ((("MO", "WE"), dt.time(8), 6), (("FR",), dt.time(15), 4))


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


# -- set-up ------------------------------------------------------------------------------


async def ensure_types(session: AsyncSession, profile: Profile) -> dict[str, AppointmentType]:
    """The profile's appointment types, added where a type of that name is missing."""
    existing = {t.name: t for t in await session.scalars(select(AppointmentType))}
    for spec in profile.types:
        if spec.name not in existing:
            row = AppointmentType(
                name=spec.name,
                duration_minutes=spec.minutes,
                colour=spec.colour,
                encounter_type=spec.encounter_type,
                resource_kind=spec.resource_kind,
                telehealth=spec.telehealth,
            )
            session.add(row)
            existing[spec.name] = row
    await session.flush()
    return {spec.name: existing[spec.name] for spec in profile.types}


async def ensure_resources(session: AsyncSession, profile: Profile, location_ids: list[uuid.UUID]) -> int:
    existing = {(r.location_id, r.name) for r in await session.scalars(select(Resource))}
    added = 0
    for location_id in location_ids:
        for name, kind in profile.resources:
            if (location_id, name) not in existing:
                session.add(Resource(location_id=location_id, name=name, kind=kind))
                added += 1
    await session.flush()
    return added


async def ensure_availability(
    session: AsyncSession, workplaces: dict[uuid.UUID, list[uuid.UUID]], since: dt.date
) -> int:
    """Weekday hours for each provider who has none: a provider with one location works
    there Monday to Friday; with two or more, the first location Monday, Wednesday and
    Friday, the others share Tuesday and Thursday (nobody is in two places at once)."""
    added = 0
    for provider_id, places in workplaces.items():
        has_any = await session.scalar(
            select(exists().where(AvailabilityTemplate.provider_id == provider_id))
        )
        if has_any or not places:
            continue
        days: dict[uuid.UUID, list[int]] = {place: [] for place in places}
        others = places[1:] or places[:1]
        for weekday in range(5):
            if len(places) == 1 or weekday in (0, 2, 4):
                days[places[0]].append(weekday)
            else:
                days[others[(weekday // 2) % len(others)]].append(weekday)
        for location_id, weekdays in days.items():
            for weekday in weekdays:
                for start, end in WORKING_BLOCKS:
                    session.add(
                        AvailabilityTemplate(
                            provider_id=provider_id,
                            location_id=location_id,
                            weekday=weekday,
                            start_time=start,
                            end_time=end,
                            valid_from=since,
                        )
                    )
                    added += 1
    await session.flush()
    return added


async def provider_workplaces(session: AsyncSession) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Active provider -> the locations they work at (stable order)."""
    rows = await session.execute(
        select(ProviderLocation.provider_id, ProviderLocation.location_id)
        .join(Provider, Provider.id == ProviderLocation.provider_id)
        .where(Provider.active)
        .order_by(ProviderLocation.provider_id, ProviderLocation.location_id)
    )
    places: dict[uuid.UUID, list[uuid.UUID]] = {}
    for provider_id, location_id in rows:
        places.setdefault(provider_id, []).append(location_id)
    return places


# -- the week ----------------------------------------------------------------------------


async def week_has_appointments(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether the week already has its single appointments (series occurrences, which
    run on into later weeks, do not count: the later week still gets its own)."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    Appointment.starts_at >= start,
                    Appointment.starts_at < end,
                    Appointment.series_id.is_(None),
                )
            )
        )
    )


async def ensure_series(
    session: AsyncSession,
    hooks: Any,
    *,
    types: dict[str, AppointmentType],
    profile: Profile,
    workplaces: dict[uuid.UUID, list[uuid.UUID]],
    now: dt.datetime,
) -> int:
    """The DEMO_SERIES for the first provider at their first location, once per clinic,
    through ``series.book_series`` (occurrences that would clash or fall outside hours are
    skipped, as the front desk would decide). Returns how many occurrences were booked."""
    if not workplaces or await session.scalar(select(exists().where(Series.id.is_not(None)))):
        return 0
    provider_id, places = next(iter(workplaces.items()))
    zone_name = await location_time_zone(session, places[0])
    zone = zoneinfo.ZoneInfo(zone_name)
    usual = max(profile.types, key=lambda spec: spec.weight)
    patients = list(
        await session.scalars(
            select(Patient.id).where(Patient.status == "active").order_by(Patient.mrn.desc()).limit(2)
        )
    )
    tomorrow = now.astimezone(zone).date() + dt.timedelta(days=1)
    booked = 0
    for patient_id, (weekdays, at, weeks) in zip(patients, DEMO_SERIES, strict=False):
        rule, first = weekly_rule(weekdays, dt.datetime.combine(tomorrow, at), zone, weeks=weeks)
        spec = series.SeriesSpec(
            patient_id=patient_id,
            provider_id=provider_id,
            location_id=places[0],
            type_id=types[usual.name].id,
            rule=rule,
            first_local=first,
            zone=zone_name,
            note="Plan of care (demo)",
        )
        report = await series.preview(session, spec)
        decisions = {
            occurrence.starts_at: series.Decision(skip=True)
            for occurrence, item in zip(spec.occurrences(), report, strict=True)
            if not item["bookable"]
        }
        try:
            async with session.begin_nested():
                outcome = await series.book_series(session, hooks, spec, decisions)
        except ClientException:  # nothing bookable (e.g. a clinic without hours): no series
            continue
        booked += len(outcome.created)
    return booked


def _pick_type(rng: random.Random, types: list[tuple[DemoType, AppointmentType]]) -> AppointmentType:
    return rng.choices([row for _, row in types], weights=[spec.weight for spec, _ in types])[0]


async def _start_times(
    session: AsyncSession, provider_id: uuid.UUID, location_id: uuid.UUID, day: dt.date
) -> list[dt.datetime]:
    """Every half hour of the provider's working time there that day (UTC instants)."""
    starts = []
    for begin, end in await working_intervals(
        session, provider_id=provider_id, location_id=location_id, start=day, end=day
    ):
        at = begin
        while at + dt.timedelta(minutes=30) <= end:
            starts.append(at)
            at += dt.timedelta(minutes=30)
    return starts


async def _book_one(session: AsyncSession, hooks: Any, proposal: booking.Proposal) -> Appointment | None:
    """Book in a savepoint; a refused proposal (taken, outside hours) is skipped."""
    try:
        async with session.begin_nested():
            return (await booking.book(session, hooks, proposal)).appointment
    except ClientException:
        return None


async def _what_happened(
    session: AsyncSession, hooks: Any, appointment: Appointment, rng: random.Random, now: dt.datetime
) -> None:
    """Move an appointment along as the day would have: past visits were mostly seen
    (checked in, then the visit finished), some missed, a few cancelled; today's earlier
    visits have arrived; later ones are booked or confirmed."""
    roll = rng.random()
    async with session.begin_nested():
        if appointment.ends_at <= now:
            if roll < 0.08:
                await booking.mark_no_show(session, hooks, appointment)
            elif roll < 0.14:
                await booking.cancel(session, hooks, appointment, "Patient called to cancel (demo)")
            else:
                encounter = await booking.check_in(session, hooks, appointment)
                await change_encounter_status(session, hooks, encounter, "in-progress")
                await change_encounter_status(session, hooks, encounter, "finished")
        elif appointment.starts_at <= now:
            await booking.check_in(session, hooks, appointment)
        elif roll < 0.6:
            await booking.confirm(session, hooks, appointment)


async def seed_week(
    session: AsyncSession,
    hooks: Any,
    *,
    types: dict[str, AppointmentType],
    profile: Profile,
    workplaces: dict[uuid.UUID, list[uuid.UUID]],
    monday: dt.date,
    seed: str,
    now: dt.datetime | None = None,
) -> int:
    """Book Monday to Friday of the week starting ``monday``; returns how many were booked."""
    now = now or utcnow()
    rng = random.Random(f"{seed}:{monday.isoformat()}")  # noqa: S311 - repeatable demo data, not a secret
    patients = list(
        await session.scalars(
            select(Patient.id).where(Patient.status == "active").order_by(Patient.mrn).limit(60)
        )
    )
    if not patients:
        return 0
    rng.shuffle(patients)
    bookable = [(spec, types[spec.name]) for spec in profile.types if spec.name in types]
    booked = 0
    turn = 0
    for provider_id, places in workplaces.items():
        for offset in range(5):
            day = monday + dt.timedelta(days=offset)
            for location_id in places:
                for start in await _start_times(session, provider_id, location_id, day):
                    if rng.random() > FILL:
                        continue
                    appointment_type = _pick_type(rng, bookable)
                    proposal = booking.Proposal(
                        patient_id=patients[turn % len(patients)],
                        provider_id=provider_id,
                        location_id=location_id,
                        type_id=appointment_type.id,
                        starts_at=start,
                    )
                    turn += 1
                    appointment = await _book_one(session, hooks, proposal)
                    if appointment is None:
                        continue
                    booked += 1
                    await _what_happened(session, hooks, appointment, rng, now)
    return booked


async def seed_demo(
    session: AsyncSession, hooks: Any, tenant: Any, *, now: dt.datetime | None = None
) -> dict[str, int]:
    """Everything above for one demo clinic, for the week of ``now`` (default: this
    moment); returns how many of each thing were added."""
    profile = PROFILES.get(tenant.slug, FAMILY)
    zone = zoneinfo.ZoneInfo(await clinic_time_zone(session))
    now = now or utcnow()
    today = now.astimezone(zone).date()
    monday = monday_of(today)
    workplaces = await provider_workplaces(session)
    types = await ensure_types(session, profile)
    added = {
        "resources": await ensure_resources(
            session, profile, sorted({p for ps in workplaces.values() for p in ps})
        ),
        "availability": await ensure_availability(session, workplaces, monday - dt.timedelta(days=365)),
        "appointments": 0,
        "series_appointments": await ensure_series(
            session, hooks, types=types, profile=profile, workplaces=workplaces, now=now
        ),
    }
    # the week's bounds in the clinic's zone (each location's zone places its hours)
    start = dt.datetime.combine(monday, dt.time(), zone)
    if not await week_has_appointments(session, start, start + dt.timedelta(days=7)):
        added["appointments"] = await seed_week(
            session,
            hooks,
            types=types,
            profile=profile,
            workplaces=workplaces,
            monday=monday,
            seed=tenant.slug,
            now=now,
        )
    return added


__all__ = ["PROFILES", "monday_of", "seed_demo", "seed_week"]
