"""availability.py: weekly blocks in the location's zone across the 2026 DST changes of
America/Chicago (second Sunday of March, first Sunday of November: 15 U.S.C. 260a), time
off and extra hours, existing appointments, resources, the slot step; and the JSON route."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest
from sqlalchemy import text

from plugins.scheduling import availability, booking
from plugins.scheduling.availability import local_to_utc, open_slots, working_intervals
from plugins.scheduling.models import AppointmentType, AvailabilityException, AvailabilityTemplate
from plugins.scheduling.tests.booking_clinic import (
    MONDAY,
    api_client,
    at,
    make_booking_clinic,
    tenant_hooks,
    tenant_session,
)

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
SPRING_FORWARD = dt.date(2026, 3, 8)  # Sunday: 02:00 CST -> 03:00 CDT
FALL_BACK = dt.date(2026, 11, 1)  # Sunday: 02:00 CDT -> 01:00 CST
Z = dt.UTC


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_booking_clinic(db, make_tenant, make_user, owner_engine)


async def add_block(db, clinic, weekday, start, end, **kw):
    async with tenant_session(db, clinic) as session:
        session.add(
            AvailabilityTemplate(
                provider_id=clinic.provider_id,
                location_id=clinic.location_id,
                weekday=weekday,
                start_time=dt.time.fromisoformat(start),
                end_time=dt.time.fromisoformat(end),
                valid_from=kw.get("valid_from", dt.date(2026, 1, 1)),
                valid_until=kw.get("valid_until"),
            )
        )
        await session.commit()


async def add_type(db, clinic, minutes, **kw) -> object:
    async with tenant_session(db, clinic) as session:
        kind = AppointmentType(
            name=f"{minutes} min {kw.get('resource_kind', '')}", duration_minutes=minutes, **kw
        )
        session.add(kind)
        await session.commit()
        return kind.id


async def intervals(db, clinic, start, end):
    async with tenant_session(db, clinic) as session:
        return await working_intervals(
            session, provider_id=clinic.provider_id, location_id=clinic.location_id, start=start, end=end
        )


async def slots(db, clinic, type_id, start, end=None, **kw):
    async with tenant_session(db, clinic) as session:
        return await open_slots(
            session,
            provider_id=clinic.provider_id,
            location_id=clinic.location_id,
            type_id=type_id,
            start=start,
            end=end or start,
            **kw,
        )


def local(instants):
    return [i.astimezone(CHICAGO).isoformat() for i in instants]


# -- wall clock to instants -------------------------------------------------------------


def test_local_to_utc_in_the_gap_and_the_repeat():
    # 02:30 does not exist on the spring-forward day: the first instant after the gap
    assert local_to_utc(SPRING_FORWARD, dt.time(2, 30), CHICAGO) == dt.datetime(2026, 3, 8, 8, 0, tzinfo=Z)
    assert local_to_utc(SPRING_FORWARD, dt.time(3, 0), CHICAGO) == dt.datetime(2026, 3, 8, 8, 0, tzinfo=Z)
    assert local_to_utc(SPRING_FORWARD, dt.time(1, 59), CHICAGO) == dt.datetime(2026, 3, 8, 7, 59, tzinfo=Z)
    # 01:30 happens twice on the fall-back day: the first (CDT, UTC-5)
    assert local_to_utc(FALL_BACK, dt.time(1, 30), CHICAGO) == dt.datetime(2026, 11, 1, 6, 30, tzinfo=Z)
    assert local_to_utc(FALL_BACK, dt.time(2, 0), CHICAGO) == dt.datetime(2026, 11, 1, 8, 0, tzinfo=Z)


# -- weekly blocks across DST -----------------------------------------------------------


async def test_a_monday_block_stays_at_local_time_across_both_dst_changes(db, clinic):
    # the clinic's hours are Mon-Fri 08:00-17:00
    before_spring = await intervals(db, clinic, dt.date(2026, 3, 2), dt.date(2026, 3, 2))
    after_spring = await intervals(db, clinic, dt.date(2026, 3, 9), dt.date(2026, 3, 9))
    assert before_spring == [(dt.datetime(2026, 3, 2, 14, tzinfo=Z), dt.datetime(2026, 3, 2, 23, tzinfo=Z))]
    assert after_spring == [(dt.datetime(2026, 3, 9, 13, tzinfo=Z), dt.datetime(2026, 3, 9, 22, tzinfo=Z))]
    assert local(after_spring[0]) == ["2026-03-09T08:00:00-05:00", "2026-03-09T17:00:00-05:00"]
    before_fall = await intervals(db, clinic, dt.date(2026, 10, 26), dt.date(2026, 10, 26))
    after_fall = await intervals(db, clinic, dt.date(2026, 11, 2), dt.date(2026, 11, 2))
    assert local(before_fall[0]) == ["2026-10-26T08:00:00-05:00", "2026-10-26T17:00:00-05:00"]
    assert local(after_fall[0]) == ["2026-11-02T08:00:00-06:00", "2026-11-02T17:00:00-06:00"]
    # and the first slot of each Monday is 08:00 local
    for monday in (dt.date(2026, 3, 2), dt.date(2026, 3, 9), dt.date(2026, 10, 26), dt.date(2026, 11, 2)):
        first = (await slots(db, clinic, clinic.type_id, monday))[0]
        assert first.starts_at.astimezone(CHICAGO).time() == dt.time(8, 0)


async def test_a_block_across_the_spring_forward_gap_offers_no_invented_times(db, clinic):
    await add_block(db, clinic, 6, "01:00", "04:00")  # Sundays
    worked = await intervals(db, clinic, SPRING_FORWARD, SPRING_FORWARD)
    # 01:00 CST to 04:00 CDT is two real hours
    assert worked == [(dt.datetime(2026, 3, 8, 7, tzinfo=Z), dt.datetime(2026, 3, 8, 9, tzinfo=Z))]
    half_hour = await add_type(db, clinic, 30)
    offered = await slots(db, clinic, half_hour, SPRING_FORWARD, step_minutes=15)
    assert local(s.starts_at for s in offered) == [
        "2026-03-08T01:00:00-06:00",
        "2026-03-08T01:15:00-06:00",
        "2026-03-08T01:30:00-06:00",
        "2026-03-08T01:45:00-06:00",  # ends at 03:15 CDT: 30 real minutes
        "2026-03-08T03:00:00-05:00",
        "2026-03-08T03:15:00-05:00",
        "2026-03-08T03:30:00-05:00",
    ]
    starts = [s.starts_at for s in offered]
    assert all(s.starts_at.astimezone(CHICAGO).hour != 2 for s in offered)
    # every start is 15 real minutes after the previous one, none lost, none doubled
    assert all(b - a == dt.timedelta(minutes=15) for a, b in itertools.pairwise(starts))
    assert len(starts) == 7  # (120 - 30) / 15 + 1
    assert all(s.ends_at <= dt.datetime(2026, 3, 8, 9, tzinfo=Z) for s in offered)


async def test_the_fall_back_repeat_offers_both_one_oclocks(db, clinic):
    await add_block(db, clinic, 6, "00:00", "03:00")
    worked = await intervals(db, clinic, FALL_BACK, FALL_BACK)
    assert worked == [(dt.datetime(2026, 11, 1, 5, tzinfo=Z), dt.datetime(2026, 11, 1, 9, tzinfo=Z))]  # 4 h
    hour = await add_type(db, clinic, 60)
    offered = await slots(db, clinic, hour, FALL_BACK, step_minutes=60)
    assert local(s.starts_at for s in offered) == [
        "2026-11-01T00:00:00-05:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:00:00-06:00",
        "2026-11-01T02:00:00-06:00",
    ]


async def test_booking_follows_dst_too(db, registry, clinic):
    """A slot offered after the change books and reads back at the same local time."""
    after = (await slots(db, clinic, clinic.type_id, dt.date(2026, 3, 9)))[0]
    async with tenant_session(db, clinic) as session:
        booked = await booking.book(
            session,
            tenant_hooks(registry),
            booking.Proposal(
                clinic.patients[0], clinic.provider_id, clinic.location_id, clinic.type_id, after.starts_at
            ),
        )
        await session.commit()
        data = booking.appointment_json(booked.appointment, "America/Chicago")
    assert data["start"] == "2026-03-09T13:00:00Z" and data["start_local"] == "2026-03-09T08:00:00-05:00"


# -- exceptions, appointments, resources, step ------------------------------------------


async def test_time_off_and_extra_hours(db, clinic):
    async with tenant_session(db, clinic) as session:
        session.add_all(
            [
                # a dentist appointment 10:00-12:30 (time off anywhere)
                AvailabilityException(
                    provider_id=clinic.provider_id,
                    kind="time-off",
                    starts_at=at(MONDAY, "10:00"),
                    ends_at=at(MONDAY, "12:30"),
                ),
                # Saturday morning extra hours at this location
                AvailabilityException(
                    provider_id=clinic.provider_id,
                    location_id=clinic.location_id,
                    kind="extra-hours",
                    starts_at=at(MONDAY + dt.timedelta(days=5), "09:00"),
                    ends_at=at(MONDAY + dt.timedelta(days=5), "12:00"),
                ),
                # extra hours elsewhere do not count here
                AvailabilityException(
                    provider_id=clinic.provider_id,
                    location_id=clinic.other_location_id,
                    kind="extra-hours",
                    starts_at=at(MONDAY + dt.timedelta(days=6), "09:00"),
                    ends_at=at(MONDAY + dt.timedelta(days=6), "12:00"),
                ),
            ]
        )
        await session.commit()
    week = await intervals(db, clinic, MONDAY, MONDAY + dt.timedelta(days=6))
    assert week[0] == (at(MONDAY, "08:00"), at(MONDAY, "10:00"))
    assert week[1] == (at(MONDAY, "12:30"), at(MONDAY, "17:00"))
    assert week[-1] == (
        at(MONDAY + dt.timedelta(days=5), "09:00"),
        at(MONDAY + dt.timedelta(days=5), "12:00"),
    )
    assert len(week) == 7  # Monday in two, Tuesday-Friday, Saturday


async def test_validity_of_a_template(db, clinic):
    await add_block(
        db, clinic, 5, "09:00", "11:00", valid_from=dt.date(2026, 3, 10), valid_until=dt.date(2026, 3, 20)
    )
    saturdays = [dt.date(2026, 3, 7), dt.date(2026, 3, 14), dt.date(2026, 3, 21)]
    found = [bool(await intervals(db, clinic, d, d)) for d in saturdays]
    assert found == [False, True, False]


async def test_slots_skip_appointments_and_past_times_and_use_the_clinic_step(
    db, registry, clinic, owner_engine
):
    async with tenant_session(db, clinic) as session:
        await booking.book(
            session,
            tenant_hooks(registry),
            booking.Proposal(
                clinic.patients[0],
                clinic.provider_id,
                clinic.location_id,
                clinic.type_id,
                at(MONDAY, "09:00"),
            ),
        )
        await session.commit()
    offered = [s.starts_at for s in await slots(db, clinic, clinic.type_id, MONDAY, step_minutes=15)]
    assert at(MONDAY, "08:15") in offered  # ends 09:00, touching the appointment
    assert at(MONDAY, "08:30") not in offered and at(MONDAY, "09:30") not in offered
    assert at(MONDAY, "09:45") in offered
    assert offered[-1] == at(MONDAY, "16:15")  # the last 45 minutes that fit before 17:00
    later = await slots(db, clinic, clinic.type_id, MONDAY, not_before=at(MONDAY, "14:00"))
    assert later[0].starts_at == at(MONDAY, "14:00")
    # the clinic's slot_minutes is the default step (15 when not configured)
    assert offered == [s.starts_at for s in await slots(db, clinic, clinic.type_id, MONDAY)]
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE tenant_plugins SET config = '{\"slot_minutes\": 30}' WHERE tenant_id = :t AND plugin = 'scheduling'"
            ),
            {"t": clinic.tenant.id},
        )
    half_hourly = [s.starts_at for s in await slots(db, clinic, clinic.type_id, MONDAY)]
    # start times step from the start of each free stretch, so the first after the
    # appointment is right where it ends
    assert half_hourly[:3] == [at(MONDAY, "08:00"), at(MONDAY, "09:45"), at(MONDAY, "10:15")]


async def test_slots_need_a_free_resource_of_the_kind(db, registry, clinic, make_user):
    # two other providers take both tables 13:00-13:30; ours is free then
    from core.practice.models import Provider, ProviderLocation

    others = []
    async with tenant_session(db, clinic) as session:
        for name in ("Lee Chen", "Kim Park"):
            user = await make_user(clinic.tenant, roles=("clinician",), name=name)
            provider = Provider(user_id=user.id)
            session.add(provider)
            await session.flush()
            session.add(ProviderLocation(provider_id=provider.id, location_id=clinic.location_id))
            others.append(provider.id)
        await session.commit()
    hooks = tenant_hooks(registry)
    async with tenant_session(db, clinic) as session:
        for n, provider_id in enumerate(others):
            await booking.book(
                session,
                hooks,
                booking.Proposal(
                    clinic.patients[n],
                    provider_id,
                    clinic.location_id,
                    clinic.table_type_id,
                    at(MONDAY, "13:00"),
                    allow_outside_hours=True,
                ),
            )
        await session.commit()
    offered = {s.starts_at: s.resource_id for s in await slots(db, clinic, clinic.table_type_id, MONDAY)}
    # 12:45 would end 13:15 while both tables are taken 13:00-13:30
    assert at(MONDAY, "12:30") in offered and at(MONDAY, "12:45") not in offered
    assert at(MONDAY, "13:00") not in offered and at(MONDAY, "13:30") in offered
    assert offered[at(MONDAY, "12:30")] == clinic.table_ids[0]
    # a visit without a table is not held up by them
    plain = [s.starts_at for s in await slots(db, clinic, clinic.type_id, MONDAY)]
    assert at(MONDAY, "13:00") in plain


# -- the JSON route ---------------------------------------------------------------------


async def test_slots_api(app, db, clinic):
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        answer = await client.get(
            "/api/scheduling/slots",
            params={
                "provider_id": str(clinic.provider_id),
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "from": "2027-03-15",
                "to": "2027-03-15",
            },
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["time_zone"] == "America/Chicago"
        first = body["slots"][0]
        assert (
            first["start"] == "2027-03-15T13:00:00Z" and first["start_local"] == "2027-03-15T08:00:00-05:00"
        )
        assert (
            first["provider_id"] == str(clinic.provider_id) and first["provider_name"] == "Sam Patel, PT, DPT"
        )
        # only future start times are offered
        past = await client.get(
            "/api/scheduling/slots",
            params={
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "from": "2026-03-09",
            },
        )
        assert past.status_code == 200 and past.json()["slots"] == []

        across = await client.get(
            "/api/scheduling/slots",
            params={
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "from": "2027-03-15",
            },
        )
        assert across.status_code == 200 and across.json()["slots"][0] == first

        bad = await client.get(
            "/api/scheduling/slots",
            params={
                "provider_id": "x",
                "type_id": str(clinic.type_id),
                "from": "2026-03-10",
                "to": "2026-03-09",
            },
        )
        assert bad.status_code == 422
        fields = {e["field"] for e in bad.json()["extra"]["errors"]}
        assert fields == {"provider_id", "location_id", "to"}
        too_long = await client.get(
            "/api/scheduling/slots",
            params={
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "from": "2026-01-01",
                "to": "2026-12-31",
            },
        )
        assert too_long.status_code == 422 and "at most" in too_long.text
    assert availability.MAX_RANGE_DAYS == 92


async def test_slots_api_needs_the_permission(app, db, clinic, make_user):
    # every default role may read appointments but the auditor
    nobody = await make_user(clinic.tenant, roles=("auditor",))
    async with await api_client(app, db, clinic.tenant, nobody) as client:
        refused = await client.get(
            "/api/scheduling/slots",
            params={
                "location_id": str(clinic.location_id),
                "type_id": str(clinic.type_id),
                "from": "2026-03-09",
            },
        )
    assert refused.status_code == 403
