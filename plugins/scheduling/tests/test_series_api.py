"""The series API against the real database: preview with conflicts, hours and
alternatives; atomic creation honouring skip / move decisions, and rolling back entirely
when the calendar changed since the preview; DST (a Tue/Thu 09:00 New York series across
each 2027 change); edit this / following / all; cancel this / following / all with past
and arrived visits untouched; audit of every route; roles; another clinic's ids."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import pytest
from sqlalchemy import func, select, text

from core.tenancy import tenant_scope
from plugins.scheduling import booking
from plugins.scheduling.models import Appointment, Series
from plugins.scheduling.tests.booking_clinic import api_client, make_booking_clinic, tenant_hooks
from tests.audit_helpers import assert_audited

NY = zoneinfo.ZoneInfo("America/New_York")
#: a Tuesday; the clinic's provider works Monday-Friday 08:00-17:00 local
TUESDAY = dt.date(2027, 1, 5)


def local(day: dt.date, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=NY)


def z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE locations SET time_zone = 'America/New_York' WHERE tenant_id = :t"),
            {"t": clinic.tenant.id},
        )
    return clinic


def spec(clinic, *, patient=0, **over) -> dict:
    body = {
        "patient_id": str(clinic.patients[patient]),
        "provider_id": str(clinic.provider_id),
        "location_id": str(clinic.location_id),
        "type_id": str(clinic.type_id),
        "start": f"{TUESDAY}T09:00",
        "repeat": {"weekdays": ["TU", "TH"], "weeks": 3},
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}  # None drops a field


async def book_one(db, registry, clinic, starts_at, *, patient=1):
    """Someone else's appointment with the same provider, through the booking service."""
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            booked = await booking.book(
                session,
                tenant_hooks(registry),
                booking.Proposal(
                    patient_id=clinic.patients[patient],
                    provider_id=clinic.provider_id,
                    location_id=clinic.location_id,
                    type_id=clinic.type_id,
                    starts_at=starts_at,
                ),
            )
            await session.commit()
            return booked.appointment.id


async def appointments(db, clinic, **where):
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            query = select(Appointment).order_by(Appointment.starts_at)
            for name, value in where.items():
                query = query.where(getattr(Appointment, name) == value)
            return list(await session.scalars(query))


async def series_rows(db, clinic):
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(Series).order_by(Series.created_at)))


async def create(app, db, clinic, user=None, **over):
    async with await api_client(app, db, clinic.tenant, user or clinic.front_desk) as client:
        return await client.post("/api/scheduling/series", json=spec(clinic, **over))


# -- preview -----------------------------------------------------------------------------


async def test_preview_lists_every_occurrence_with_its_conflicts_hours_and_alternatives(
    app, db, registry, clinic
):
    taken = await book_one(db, registry, clinic, local(dt.date(2027, 1, 7), "09:00"))  # the first Thursday
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        response = await client.post(
            "/api/scheduling/series/preview",
            json=spec(clinic, repeat={"weekdays": ["TU", "TH", "SA"], "weeks": 2}),
        )
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["rrule"] == "FREQ=WEEKLY;UNTIL=20270119T045959Z;BYDAY=TU,TH,SA"
    assert [o["local_start"] for o in out["occurrences"]] == [
        "2027-01-05T09:00", "2027-01-07T09:00", "2027-01-09T09:00",
        "2027-01-12T09:00", "2027-01-14T09:00", "2027-01-16T09:00",
    ]  # fmt: skip
    by_day = {o["local_start"][:10]: o for o in out["occurrences"]}
    thursday = by_day["2027-01-07"]
    assert not thursday["bookable"]
    assert [c["id"] for c in thursday["conflicts"]] == [str(taken)]
    assert thursday["alternatives"], "a taken occurrence gets alternatives"
    nearest = dt.datetime.fromisoformat(thursday["alternatives"][0]["starts_at"])
    assert nearest.astimezone(NY).date() == dt.date(2027, 1, 7)  # the same day first
    assert nearest.astimezone(NY).time() in (dt.time(8, 15), dt.time(9, 45))  # either side of 09:00-09:45
    saturday = by_day["2027-01-09"]
    assert saturday["outside_hours"] and not saturday["conflicts"] and not saturday["bookable"]
    assert by_day["2027-01-05"]["bookable"] and by_day["2027-01-05"]["conflicts"] == []
    assert out["needs_decision"] == [
        by_day[d]["occurrence_start"] for d in ("2027-01-07", "2027-01-09", "2027-01-16")
    ]
    assert await series_rows(db, clinic) == []  # a preview writes nothing
    await assert_audited(
        db,
        clinic.tenant,
        action="read",
        resource_type="series",
        patient_id=clinic.patients[0],
        actor=clinic.front_desk,
        route="POST /api/scheduling/series/preview",
    )


@pytest.mark.parametrize(
    ("over", "field", "says"),
    [
        ({"rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "repeat": None}, "rrule", "no end"),
        ({"rrule": "FREQ=HOURLY;COUNT=4", "repeat": None}, "rrule", "at most daily"),
        ({"rrule": "FREQ=WEEKLY;COUNT=300", "repeat": None}, "rrule", "1 to 200"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=WE;COUNT=3", "repeat": None}, "start", "not one of the rule's days"),
        ({"repeat": {"weekdays": ["Funday"], "weeks": 2}}, "repeat.weekdays", "not a weekday"),
        ({"repeat": {"weekdays": ["TU"]}}, "repeat", "either weeks"),
        ({"start": "next tuesday"}, "start", "date-time"),
        ({"patient_id": "nope"}, "patient_id", "UUID"),
    ],
)
async def test_a_rule_or_input_that_cannot_be_booked_gets_a_422_naming_the_field(
    app, db, clinic, over, field, says
):
    body = spec(clinic, **over)
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        response = await client.post("/api/scheduling/series/preview", json=body)
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["reason"] for e in response.json()["extra"]["errors"]}
    assert says in errors[field]


# -- creating ----------------------------------------------------------------------------


async def test_a_clean_series_is_booked_whole_and_audited(app, db, clinic):
    response = await create(app, db, clinic)
    assert response.status_code == 201, response.text
    out = response.json()
    assert len(out["created"]) == 6 and out["skipped"] == [] and out["moved"] == []
    series_id = uuid.UUID(out["series"]["id"])
    booked = await appointments(db, clinic, series_id=series_id)
    assert [a.starts_at.astimezone(NY).strftime("%a %d %H:%M") for a in booked] == [
        "Tue 05 09:00", "Thu 07 09:00", "Tue 12 09:00", "Thu 14 09:00", "Tue 19 09:00", "Thu 21 09:00",
    ]  # fmt: skip
    assert all(a.occurrence_start == a.starts_at and a.status == "booked" for a in booked)
    await assert_audited(
        db,
        clinic.tenant,
        action="create",
        resource_type="series",
        patient_id=clinic.patients[0],
        actor=clinic.front_desk,
        route="POST /api/scheduling/series",
    )
    await assert_audited(
        db, clinic.tenant, action="create", resource_type="appointment", actor=clinic.front_desk
    )


async def test_decisions_skip_and_move_occurrences_and_the_report_says_so(app, db, registry, clinic):
    await book_one(db, registry, clinic, local(dt.date(2027, 1, 7), "09:00"))
    await book_one(db, registry, clinic, local(dt.date(2027, 1, 14), "09:00"))
    thursday, next_thursday = z(local(dt.date(2027, 1, 7), "09:00")), z(local(dt.date(2027, 1, 14), "09:00"))
    moved_to = z(local(dt.date(2027, 1, 14), "11:00"))
    response = await create(
        app, db, clinic, decisions={thursday: "skip", next_thursday: {"move_to": moved_to}}
    )
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["skipped"] == [thursday]
    assert [(m["occurrence_start"], m["starts_at"]) for m in out["moved"]] == [(next_thursday, moved_to)]
    booked = await appointments(db, clinic, series_id=uuid.UUID(out["series"]["id"]))
    assert len(booked) == 5
    moved = next(a for a in booked if z(a.occurrence_start) == next_thursday)
    assert z(moved.starts_at) == moved_to  # booked at the new time, RECURRENCE-ID kept


async def test_an_undecided_conflict_books_nothing_and_answers_409_with_the_report(app, db, registry, clinic):
    taken = await book_one(db, registry, clinic, local(dt.date(2027, 1, 12), "09:30"))
    response = await create(app, db, clinic)
    assert response.status_code == 409, response.text
    report = response.json()["extra"]["occurrences"]
    refused = [o for o in report if not o["bookable"]]
    assert [o["local_start"] for o in refused] == ["2027-01-12T09:00"]
    assert refused[0]["conflicts"][0]["id"] == str(taken)
    assert await appointments(db, clinic, patient_id=clinic.patients[0]) == []
    assert await series_rows(db, clinic) == []
    await assert_audited(db, clinic.tenant, action="create", resource_type="series", outcome="failure")


async def test_a_slot_taken_between_preview_and_create_rolls_back_every_occurrence(app, db, registry, clinic):
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        preview = await client.post("/api/scheduling/series/preview", json=spec(clinic))
    assert all(o["bookable"] for o in preview.json()["occurrences"])
    # someone books the last Thursday meanwhile: the first five would fit, the sixth not
    await book_one(db, registry, clinic, local(dt.date(2027, 1, 21), "09:00"), patient=2)
    response = await create(app, db, clinic)
    assert response.status_code == 409
    assert "nothing was booked" in response.json()["detail"]
    assert await appointments(db, clinic, patient_id=clinic.patients[0]) == []
    assert await series_rows(db, clinic) == []
    # deciding about it books the rest
    last = z(local(dt.date(2027, 1, 21), "09:00"))
    response = await create(app, db, clinic, decisions={last: "skip"})
    assert response.status_code == 201 and len(response.json()["created"]) == 5


async def test_a_decision_for_a_start_the_series_does_not_have_is_refused(app, db, clinic):
    response = await create(app, db, clinic, decisions={"2027-01-06T14:00:00Z": "skip"})
    assert response.status_code == 422
    assert "not an occurrence" in response.text


# -- DST ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "utc_hours"),
    [
        (dt.date(2027, 3, 2), [14, 14, 14, 14, 13, 13]),  # EST -> EDT on Sunday 2027-03-14
        (dt.date(2027, 10, 26), [13, 13, 13, 13, 14, 14]),  # EDT -> EST on Sunday 2027-11-07
    ],
)
async def test_a_tuesday_thursday_series_stays_at_nine_local_across_dst(app, db, clinic, first, utc_hours):
    response = await create(
        app, db, clinic, start=f"{first}T09:00", repeat=None, rrule="FREQ=WEEKLY;BYDAY=TU,TH;COUNT=6"
    )
    assert response.status_code == 201, response.text
    booked = await appointments(db, clinic, series_id=uuid.UUID(response.json()["series"]["id"]))
    assert [a.starts_at.astimezone(NY).time() for a in booked] == [dt.time(9)] * 6
    assert [a.starts_at.astimezone(dt.UTC).hour for a in booked] == utc_hours
    assert [a.ends_at - a.starts_at for a in booked] == [dt.timedelta(minutes=45)] * 6


# -- reading -----------------------------------------------------------------------------


async def test_the_series_and_its_occurrences_are_shown_and_the_read_audited(app, db, clinic):
    created = (await create(app, db, clinic)).json()
    async with await api_client(app, db, clinic.tenant, clinic.clinician) as client:
        response = await client.get(f"/api/scheduling/series/{created['series']['id']}")
    assert response.status_code == 200
    out = response.json()
    assert out["rrule"] == created["series"]["rrule"] and out["time_zone"] == "America/New_York"
    assert out["first_start_local"] == "2027-01-05T09:00"
    assert len(out["occurrences"]) == 6
    await assert_audited(
        db,
        clinic.tenant,
        action="read",
        resource_type="series",
        actor=clinic.clinician,
        route="GET /api/scheduling/series/{series_id}",
    )


# -- editing -----------------------------------------------------------------------------


async def _created(app, db, clinic, **over):
    response = await create(app, db, clinic, **over)
    assert response.status_code == 201, response.text
    series_id = uuid.UUID(response.json()["series"]["id"])
    return series_id, await appointments(db, clinic, series_id=series_id)


async def edit(app, db, clinic, series_id, body):
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        return await client.post(f"/api/scheduling/series/{series_id}/edit", json=body)


async def test_moving_this_occurrence_keeps_its_recurrence_id(app, db, clinic):
    series_id, booked = await _created(app, db, clinic)
    second = booked[1]
    response = await edit(
        app,
        db,
        clinic,
        series_id,
        {"scope": "this", "appointment_id": str(second.id), "start": "2027-01-08T10:00"},
    )
    assert response.status_code == 200, response.text
    after = {a.id: a for a in await appointments(db, clinic, series_id=series_id)}
    assert after[second.id].starts_at == local(dt.date(2027, 1, 8), "10:00")
    assert after[second.id].occurrence_start == second.occurrence_start
    assert after[second.id].version == 2
    assert all(after[a.id].starts_at == a.starts_at for a in booked if a.id != second.id)
    await assert_audited(
        db,
        clinic.tenant,
        action="update",
        resource_type="series",
        actor=clinic.front_desk,
        route="POST /api/scheduling/series/{series_id}/edit",
    )


async def test_this_and_following_splits_the_series_at_the_occurrence(app, db, clinic):
    series_id, booked = await _created(app, db, clinic)
    third = booked[2]  # Tuesday 2027-01-12
    response = await edit(
        app,
        db,
        clinic,
        series_id,
        {"scope": "following", "appointment_id": str(third.id), "start": "2027-01-12T14:00"},
    )
    assert response.status_code == 200, response.text
    out = response.json()
    # the old rule now ends just before the third occurrence (RFC 5545 UNTIL, in UTC)
    assert out["replaced"]["rrule"] == "FREQ=WEEKLY;UNTIL=20270112T135959Z;BYDAY=TU,TH"
    assert sorted(out["cancelled"]) == sorted(str(a.id) for a in booked[2:])
    old = await appointments(db, clinic, series_id=series_id)
    assert [a.status for a in old] == ["booked", "booked", "cancelled", "cancelled", "cancelled", "cancelled"]
    new = await appointments(db, clinic, series_id=uuid.UUID(out["series"]["id"]))
    assert [a.starts_at.astimezone(NY).strftime("%a %d %H:%M") for a in new] == [
        "Tue 12 14:00", "Thu 14 14:00", "Tue 19 14:00", "Thu 21 14:00",
    ]  # fmt: skip
    assert out["series"]["rrule"] == "FREQ=WEEKLY;UNTIL=20270126T045959Z;BYDAY=TU,TH"


async def test_changing_all_moves_the_weekdays_of_every_visit_still_to_come(app, db, clinic):
    series_id, _ = await _created(app, db, clinic, repeat={"weekdays": ["TU", "TH"], "count": 4})
    response = await edit(app, db, clinic, series_id, {"scope": "all", "weekdays": ["MO", "WE"]})
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["replaced"]["status"] == "replaced"
    new = await appointments(db, clinic, series_id=uuid.UUID(out["series"]["id"]))
    # the remaining four visits, from the first Wednesday on or after the old first Tuesday
    assert [a.starts_at.astimezone(NY).strftime("%a %d %H:%M") for a in new] == [
        "Wed 06 09:00", "Mon 11 09:00", "Wed 13 09:00", "Mon 18 09:00",
    ]  # fmt: skip
    assert out["series"]["rrule"] == "FREQ=WEEKLY;COUNT=4;BYDAY=MO,WE"


async def test_a_change_that_collides_answers_409_and_changes_nothing(app, db, registry, clinic):
    series_id, booked = await _created(app, db, clinic)
    taken = await book_one(db, registry, clinic, local(dt.date(2027, 1, 14), "14:00"))
    response = await edit(
        app,
        db,
        clinic,
        series_id,
        {"scope": "following", "appointment_id": str(booked[2].id), "start": "2027-01-12T14:00"},
    )
    assert response.status_code == 409, response.text
    refused = [o for o in response.json()["extra"]["occurrences"] if not o["bookable"]]
    assert [o["conflicts"][0]["id"] for o in refused] == [str(taken)]
    after = await appointments(db, clinic, series_id=series_id)
    assert [a.status for a in after] == ["booked"] * 6  # nothing cancelled
    assert len(await series_rows(db, clinic)) == 1


# -- cancelling --------------------------------------------------------------------------


async def cancel(app, db, clinic, series_id, body):
    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        return await client.post(f"/api/scheduling/series/{series_id}/cancel", json=body)


async def test_cancelling_this_one_occurrence(app, db, clinic):
    series_id, booked = await _created(app, db, clinic)
    response = await cancel(
        app,
        db,
        clinic,
        series_id,
        {"scope": "this", "appointment_id": str(booked[0].id), "reason": "Snow day"},
    )
    assert response.status_code == 200, response.text
    after = await appointments(db, clinic, series_id=series_id)
    assert [a.status for a in after] == ["cancelled"] + ["booked"] * 5
    assert after[0].cancel_reason == "Snow day"
    await assert_audited(
        db,
        clinic.tenant,
        action="update",
        resource_type="series",
        actor=clinic.front_desk,
        route="POST /api/scheduling/series/{series_id}/cancel",
    )


async def test_cancelling_following_ends_the_rule(app, db, clinic):
    series_id, booked = await _created(app, db, clinic)
    response = await cancel(
        app,
        db,
        clinic,
        series_id,
        {"scope": "following", "appointment_id": str(booked[3].id), "reason": "Discharged"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["series"]["rrule"] == "FREQ=WEEKLY;UNTIL=20270114T135959Z;BYDAY=TU,TH"
    after = await appointments(db, clinic, series_id=series_id)
    assert [a.status for a in after] == ["booked"] * 3 + ["cancelled"] * 3


async def test_cancelling_all_leaves_arrived_visits_alone(app, db, registry, clinic):
    series_id, booked = await _created(app, db, clinic)
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            first = await booking.get_appointment(session, booked[0].id, for_update=True)
            await booking.check_in(session, tenant_hooks(registry), first)
            await session.commit()
    response = await cancel(app, db, clinic, series_id, {"scope": "all", "reason": "Patient moved away"})
    assert response.status_code == 200, response.text
    assert response.json()["series"]["status"] == "cancelled"
    assert response.json()["untouched"] == [str(booked[0].id)]
    after = await appointments(db, clinic, series_id=series_id)
    assert [a.status for a in after] == ["arrived"] + ["cancelled"] * 5
    # and the arrived one cannot be cancelled as "this" either
    response = await cancel(
        app, db, clinic, series_id, {"scope": "this", "appointment_id": str(booked[0].id), "reason": "x"}
    )
    assert response.status_code == 409


async def test_cancelling_needs_a_reason(app, db, clinic):
    series_id, _ = await _created(app, db, clinic)
    response = await cancel(app, db, clinic, series_id, {"scope": "all"})
    assert response.status_code == 422
    assert "reason" in response.text


# -- roles and isolation -----------------------------------------------------------------


async def test_a_biller_may_read_a_series_but_not_book_one(app, db, make_user, clinic):
    biller = await make_user(clinic.tenant, roles=("biller",))
    response = await create(app, db, clinic, user=biller)
    assert response.status_code == 403
    assert await series_rows(db, clinic) == []


async def test_another_clinics_series_is_not_found(app, db, make_tenant, make_user, owner_engine, clinic):
    series_id, booked = await _created(app, db, clinic)
    other = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    async with await api_client(app, db, other.tenant, other.owner) as client:
        assert (await client.get(f"/api/scheduling/series/{series_id}")).status_code == 404
        edit_response = await client.post(
            f"/api/scheduling/series/{series_id}/edit",
            json={"scope": "this", "appointment_id": str(booked[0].id), "start": "2027-01-05T10:00"},
        )
        assert edit_response.status_code == 404
        cancel_response = await client.post(
            f"/api/scheduling/series/{series_id}/cancel", json={"scope": "all", "reason": "x"}
        )
        assert cancel_response.status_code == 404
        # the other clinic's patient id does not book here either
        assert (await client.post("/api/scheduling/series/preview", json=spec(clinic))).status_code == 422
    async with owner_engine.connect() as conn:
        statuses = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM scheduling_appointments WHERE series_id = :s AND status = 'booked'"
                ),
                {"s": series_id},
            )
        ).scalar()
    assert statuses == 6


async def test_a_clinic_without_scheduling_gets_404(app, db, make_tenant, make_user):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    async with await api_client(app, db, tenant, owner) as client:
        assert (await client.get(f"/api/scheduling/series/{uuid.uuid4()}")).status_code == 404
        assert (await client.post("/api/scheduling/series/preview", json={})).status_code == 404


async def test_an_occurrence_of_another_series_is_not_found(app, db, clinic):
    first_id, _ = await _created(app, db, clinic)
    _, others = await _created(app, db, clinic, patient=1, start=f"{TUESDAY}T11:00")
    response = await edit(
        app,
        db,
        clinic,
        first_id,
        {"scope": "this", "appointment_id": str(others[0].id), "start": "2027-01-05T13:00"},
    )
    assert response.status_code == 404
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(Series)) == 2


async def test_this_and_following_across_dst_keeps_the_new_local_time(app, db, clinic):
    series_id, booked = await _created(
        app, db, clinic, start="2027-03-02T09:00", repeat=None, rrule="FREQ=WEEKLY;BYDAY=TU,TH;COUNT=6"
    )
    response = await edit(
        app,
        db,
        clinic,
        series_id,
        {"scope": "following", "appointment_id": str(booked[2].id), "start": "2027-03-09T10:30"},
    )
    assert response.status_code == 200, response.text
    new = await appointments(db, clinic, series_id=uuid.UUID(response.json()["series"]["id"]))
    # 10:30 local on both sides of Sunday 2027-03-14: EST (UTC-5), then EDT (UTC-4)
    assert [a.starts_at.astimezone(NY).strftime("%m-%d %H:%M") for a in new] == [
        "03-09 10:30", "03-11 10:30", "03-16 10:30", "03-18 10:30",
    ]  # fmt: skip
    assert [a.starts_at.astimezone(dt.UTC).strftime("%H:%M") for a in new] == [
        "15:30",
        "15:30",
        "14:30",
        "14:30",
    ]
