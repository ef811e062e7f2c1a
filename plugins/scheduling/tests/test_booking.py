"""booking.py, the one write path: book, reschedule, confirm, cancel, check in, no-show;
double booking refused on the provider's, patient's and resource's calendars; hours; the
status table; the booking-check hook (veto and warning) and the changed hook; the visit's
encounter driving its appointment."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from litestar.exceptions import NotFoundException, ValidationException
from sqlalchemy import select, text

from core.app import build_registry
from core.encounters.models import Encounter
from core.lifecycle.plugins import enable_plugin
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginRegistry
from plugins.scheduling import booking
from plugins.scheduling.booking import BookingConflict, Proposal
from plugins.scheduling.hookspecs import Concern
from plugins.scheduling.models import Appointment
from plugins.scheduling.tests.booking_clinic import (
    MONDAY,
    at,
    make_booking_clinic,
    tenant_hooks,
    tenant_session,
)


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_booking_clinic(db, make_tenant, make_user, owner_engine)


def proposal(clinic, start, *, patient=0, **over) -> Proposal:
    values = dict(
        patient_id=clinic.patients[patient],
        provider_id=clinic.provider_id,
        location_id=clinic.location_id,
        type_id=clinic.type_id,
        starts_at=start,
    )
    values.update(over)
    return Proposal(**values)


async def book(db, registry, clinic, start, **kw):
    async with tenant_session(db, clinic) as session:
        booked = await booking.book(session, tenant_hooks(registry), proposal(clinic, start, **kw))
        await session.commit()
        return booked


async def audit_rows(owner_engine, tenant, resource_id):
    async with owner_engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT action, resource_type, patient_id, detail FROM audit_events "
                    "WHERE tenant_id = :t AND resource_id = :r ORDER BY occurred_at"
                ),
                {"t": tenant.id, "r": str(resource_id)},
            )
        ).all()


# -- book -------------------------------------------------------------------------------


async def test_book_writes_the_appointment_with_type_duration_and_audit(db, registry, clinic, owner_engine):
    booked = await book(db, registry, clinic, at(MONDAY, "09:00"), note="left knee")
    a = booked.appointment
    assert booked.warnings == []
    assert a.status == "booked" and a.version == 1 and a.note == "left knee"
    assert a.starts_at == dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    assert a.ends_at - a.starts_at == dt.timedelta(minutes=45)
    rows = await audit_rows(owner_engine, clinic.tenant, a.id)
    assert [(r.action, r.resource_type, r.patient_id) for r in rows] == [
        ("create", "appointment", clinic.patients[0])
    ]
    assert rows[0].detail["change"] == "booked"


async def test_double_booking_the_provider_is_refused_naming_the_appointment(db, registry, clinic):
    first = (await book(db, registry, clinic, at(MONDAY, "09:00"))).appointment
    with pytest.raises(BookingConflict) as refused:
        await book(db, registry, clinic, at(MONDAY, "09:30"), patient=1)
    assert refused.value.status_code == 409
    assert refused.value.detail == (
        f"Sam Patel, PT, DPT already has an appointment 2026-03-02 09:00-09:45 (id {first.id})."
    )
    conflicts = refused.value.extra["conflicts"]
    assert [(c["id"], c["calendar"]) for c in conflicts] == [(str(first.id), "provider")]
    assert conflicts[0]["start"] == "2026-03-02T15:00:00Z" and conflicts[0]["end"] == "2026-03-02T15:45:00Z"
    # back to back is fine: [09:45, 10:30) touches [09:00, 09:45) without overlapping
    assert (await book(db, registry, clinic, at(MONDAY, "09:45"), patient=1)).appointment.id


async def test_double_booking_the_patient_is_refused(db, registry, make_user, clinic):
    # a second provider at the same location, same hours
    from core.practice.models import Provider, ProviderLocation
    from plugins.scheduling.models import AvailabilityTemplate

    other = await make_user(clinic.tenant, roles=("clinician",), name="Lee Chen")
    async with tenant_session(db, clinic) as session:
        provider = Provider(user_id=other.id)
        session.add(provider)
        await session.flush()
        session.add(ProviderLocation(provider_id=provider.id, location_id=clinic.location_id))
        session.add(
            AvailabilityTemplate(
                provider_id=provider.id,
                location_id=clinic.location_id,
                weekday=0,
                start_time=dt.time(8),
                end_time=dt.time(17),
                valid_from=dt.date(2026, 1, 1),
            )
        )
        await session.commit()
    first = (await book(db, registry, clinic, at(MONDAY, "09:00"))).appointment
    with pytest.raises(BookingConflict) as refused:
        await book(db, registry, clinic, at(MONDAY, "09:15"), provider_id=provider.id)
    assert [(c["id"], c["calendar"]) for c in refused.value.extra["conflicts"]] == [
        (str(first.id), "patient")
    ]
    assert (
        "The patient already has an appointment 2026-03-02 09:00-09:45 with Sam Patel" in refused.value.detail
    )


async def test_resources_are_assigned_and_never_double_booked(db, registry, clinic):
    first = (await book(db, registry, clinic, at(MONDAY, "10:00"), type_id=clinic.table_type_id)).appointment
    assert first.resource_id == clinic.table_ids[0]  # Table 1 first
    # asking for the table that is taken (while the provider is busy too) names both
    with pytest.raises(BookingConflict) as refused:
        await book(
            db,
            registry,
            clinic,
            at(MONDAY, "10:15"),
            patient=1,
            type_id=clinic.table_type_id,
            resource_id=clinic.table_ids[0],
        )
    calendars_hit = {c["calendar"] for c in refused.value.extra["conflicts"]}
    assert "resource" in calendars_hit and "provider" in calendars_hit
    assert any(
        "Table 1 is taken 2026-03-02 10:00-10:30" in c["message"] for c in refused.value.extra["conflicts"]
    )


async def test_a_type_needing_a_resource_the_location_lacks_is_refused(db, registry, clinic):
    from core.practice.models import ProviderLocation

    async with tenant_session(db, clinic) as session:
        session.add(ProviderLocation(provider_id=clinic.provider_id, location_id=clinic.other_location_id))
        await session.commit()
    with pytest.raises(ValidationException) as refused:
        await book(
            db,
            registry,
            clinic,
            at(MONDAY, "10:00"),
            type_id=clinic.table_type_id,
            location_id=clinic.other_location_id,
            allow_outside_hours=True,
        )
    assert refused.value.status_code == 422
    assert "needs a table and Annex has none" in refused.value.extra[0]["reason"]


async def test_bad_references_are_422_naming_the_field(db, registry, clinic, make_tenant, owner_engine):
    from tests.test_encounters_api import add_patient

    cases = [
        ({"patient_id": uuid.uuid4()}, "patient_id", "no such patient"),
        ({"provider_id": uuid.uuid4()}, "provider_id", "no such provider"),
        ({"location_id": uuid.uuid4()}, "location_id", "no such location"),
        ({"location_id": clinic.other_location_id}, "location_id", "does not work at this location"),
        ({"type_id": uuid.uuid4()}, "type_id", "no such appointment type"),
        ({"starts_at": dt.datetime(2026, 3, 2, 9)}, "starts_at", "UTC offset"),
        ({"ends_at": at(MONDAY, "08:00")}, "ends_at", "after the start"),
    ]
    elsewhere = await make_tenant(plugins=("scheduling",))
    cases.append(
        ({"patient_id": await add_patient(owner_engine, elsewhere)}, "patient_id", "no such patient")
    )
    for over, field, reason in cases:
        start = over.pop("starts_at", at(MONDAY, "09:00"))
        with pytest.raises(ValidationException) as refused:
            await book(db, registry, clinic, start, **over)
        assert refused.value.status_code == 422
        assert refused.value.extra[0]["field"] == field and reason in refused.value.extra[0]["reason"], over


async def test_outside_hours_is_refused_unless_allowed(db, registry, clinic):
    with pytest.raises(BookingConflict) as refused:
        await book(db, registry, clinic, at(MONDAY, "16:30"))  # ends 17:15, after 17:00
    assert "does not work at this location 2026-03-02 16:30-17:15" in refused.value.detail
    assert refused.value.extra["outside_hours"] is True
    saturday = MONDAY + dt.timedelta(days=5)
    with pytest.raises(BookingConflict):
        await book(db, registry, clinic, at(saturday, "10:00"))
    booked = await book(db, registry, clinic, at(saturday, "10:00"), allow_outside_hours=True)
    assert booked.appointment.status == "booked"


# -- reschedule, confirm, cancel, no-show ----------------------------------------------


async def test_reschedule_bumps_version_resets_confirmation_and_keeps_length(
    db, registry, clinic, owner_engine
):
    a_id = (await book(db, registry, clinic, at(MONDAY, "09:00"))).appointment.id
    blocker = (await book(db, registry, clinic, at(MONDAY, "11:00"), patient=1)).appointment
    hooks = tenant_hooks(registry)
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a_id, for_update=True)
        await booking.confirm(session, hooks, a)
        await session.commit()
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a_id, for_update=True)
        with pytest.raises(BookingConflict) as refused:
            await booking.reschedule(session, hooks, a, starts_at=at(MONDAY, "11:30"))
        assert refused.value.extra["conflicts"][0]["id"] == str(blocker.id)
        await session.rollback()
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a_id, for_update=True)
        # moving onto its own old time (overlapping itself) is fine
        moved = await booking.reschedule(session, hooks, a, starts_at=at(MONDAY, "09:30"))
        await session.commit()
        a = await booking.get_appointment(session, moved.appointment.id)
        assert a.version == 2 and a.status == "booked"
        assert a.starts_at == at(MONDAY, "09:30") and a.ends_at == at(MONDAY, "10:15")
    rows = await audit_rows(owner_engine, clinic.tenant, a_id)
    assert [r.detail["change"] for r in rows] == ["booked", "confirmed", "rescheduled"]
    assert rows[-1].detail["from"]["start"] == "2026-03-02T15:00:00Z"


async def test_cancel_needs_a_reason_and_frees_the_time(db, registry, clinic):
    a = (await book(db, registry, clinic, at(MONDAY, "09:00"))).appointment
    hooks = tenant_hooks(registry)
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a.id, for_update=True)
        with pytest.raises(ValidationException) as refused:
            await booking.cancel(session, hooks, a, "  ")
        assert refused.value.status_code == 422 and refused.value.extra[0]["field"] == "reason"
        await booking.cancel(session, hooks, a, "patient has the flu")
        await session.commit()
    assert a.status == "cancelled" and a.cancel_reason == "patient has the flu"
    # the time is free again
    assert (await book(db, registry, clinic, at(MONDAY, "09:00"), patient=1)).appointment.id
    # and a cancelled appointment can no longer change
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a.id)
        for change in (
            booking.confirm(session, hooks, a),
            booking.reschedule(session, hooks, a, starts_at=at(MONDAY, "13:00")),
            booking.check_in(session, hooks, a),
        ):
            with pytest.raises(BookingConflict) as final:
                await change
            assert final.value.detail == "This appointment is cancelled; it can no longer be changed."


async def test_no_show_only_once_the_time_has_come(db, registry, clinic):
    future = (await book(db, registry, clinic, at(dt.date(2030, 3, 4), "09:00"))).appointment
    past = (await book(db, registry, clinic, at(MONDAY, "09:00"))).appointment
    hooks = tenant_hooks(registry)
    async with tenant_session(db, clinic) as session:
        future = await booking.get_appointment(session, future.id)
        with pytest.raises(BookingConflict) as early:
            await booking.mark_no_show(session, hooks, future)
        assert "has not started yet" in early.value.detail
        past = await booking.get_appointment(session, past.id)
        await booking.mark_no_show(session, hooks, past)
        await session.commit()
    assert past.status == "no-show"
    assert booking.appointment_json(past, "America/Chicago")["allowed_actions"] == []


async def test_get_appointment_404s_for_unknown_ids(db, clinic):
    async with tenant_session(db, clinic) as session:
        with pytest.raises(NotFoundException):
            await booking.get_appointment(session, uuid.uuid4())


# -- check-in and the encounter ---------------------------------------------------------


async def test_check_in_creates_the_encounter_and_finishing_it_completes_the_appointment(
    db, registry, clinic, owner_engine
):
    a = (await book(db, registry, clinic, at(MONDAY, "09:00"))).appointment
    hooks = tenant_hooks(registry)
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a.id, for_update=True)
        encounter = await booking.check_in(session, hooks, a)
        await session.commit()
    assert encounter.status == "arrived" and encounter.type == "office-visit"
    assert encounter.patient_id == clinic.patients[0] and encounter.starts_at == a.starts_at
    assert a.status == "arrived" and a.encounter_id == encounter.id
    data = booking.appointment_json(a, "America/Chicago")
    assert data["allowed_actions"] == [] and data["start_local"] == "2026-03-02T09:00:00-06:00"

    from core.plugin_api import change_encounter_status

    async with tenant_session(db, clinic) as session:
        enc = await session.scalar(select(Encounter).where(Encounter.id == encounter.id))
        await change_encounter_status(session, hooks, enc, "in-progress")
        await change_encounter_status(session, hooks, enc, "finished")
        await session.commit()
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a.id)
        assert a.status == "completed"
    rows = await audit_rows(owner_engine, clinic.tenant, a.id)
    assert [r.detail["change"] for r in rows] == ["booked", "arrived", "completed"]


async def test_an_encounter_cancelled_after_check_in_cancels_the_appointment(db, registry, clinic):
    a = (await book(db, registry, clinic, at(MONDAY, "09:00"))).appointment
    hooks = tenant_hooks(registry)
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a.id, for_update=True)
        encounter = await booking.check_in(session, hooks, a)
        await session.commit()
    from core.plugin_api import change_encounter_status

    async with tenant_session(db, clinic) as session:
        enc = await session.scalar(select(Encounter).where(Encounter.id == encounter.id))
        await change_encounter_status(session, hooks, enc, "cancelled", "patient felt unwell")
        await session.commit()
    async with tenant_session(db, clinic) as session:
        a = await booking.get_appointment(session, a.id)
        assert a.status == "cancelled" and a.cancel_reason == "patient felt unwell"


# -- the hooks scheduling publishes ----------------------------------------------------


class Gatekeeper:
    """A plugin (as billing would be) that vetoes bookings of one patient and warns on
    every other; it records the changes it is told about."""

    manifest = Manifest(name="sched_gate", version="1.0", title="Gate")

    def __init__(self) -> None:
        self.vetoed_patient: uuid.UUID | None = None
        self.checked: list = []
        self.changes: list[tuple[uuid.UUID, str, str]] = []

    @hookimpl
    async def tessera_scheduling_booking_check(self, booking, session):
        self.checked.append(booking)
        if booking.patient_id == self.vetoed_patient:
            return [
                Concern("veto", "Authorization exhausted: 12 of 12 visits used.", "authorization-exhausted")
            ]
        return [Concern("warning", "Copay due at check-in.")]

    @hookimpl
    async def tessera_scheduling_appointment_changed(self, appointment_id, change, session):
        # sees the change inside the transaction
        status = await session.scalar(select(Appointment.status).where(Appointment.id == appointment_id))
        self.changes.append((appointment_id, change, status))


@pytest.fixture
def gate_registry(settings) -> tuple[PluginRegistry, Gatekeeper]:
    gate = Gatekeeper()
    return build_registry(settings, extra_plugins=[gate]), gate


async def test_hook_tessera_scheduling_booking_check(db, gate_registry, clinic):
    registry, gate = gate_registry
    async with db.session() as session:
        await enable_plugin(session, registry, clinic.tenant, "sched_gate")
        await session.commit()
    hooks = tenant_hooks(registry, "sched_gate")
    gate.vetoed_patient = clinic.patients[1]
    async with tenant_session(db, clinic) as session:
        booked = await booking.book(session, hooks, proposal(clinic, at(MONDAY, "09:00")))
        await session.commit()
    assert booked.warnings == ["Copay due at check-in."]
    seen = gate.checked[-1]
    assert (
        seen.action == "book" and seen.type_name == "PT follow-up" and seen.starts_at == at(MONDAY, "09:00")
    )
    async with tenant_session(db, clinic) as session:
        with pytest.raises(BookingConflict) as vetoed:
            await booking.book(session, hooks, proposal(clinic, at(MONDAY, "10:00"), patient=1))
        assert vetoed.value.detail == "Authorization exhausted: 12 of 12 visits used."
        assert vetoed.value.extra["vetoes"][0]["code"] == "authorization-exhausted"
        await session.rollback()
        count = await session.scalar(
            select(Appointment.id).where(Appointment.patient_id == clinic.patients[1])
        )
        assert count is None
    # a tenant that did not enable the plugin is not asked
    before = len(gate.checked)
    async with tenant_session(db, clinic) as session:
        await booking.book(session, tenant_hooks(registry), proposal(clinic, at(MONDAY, "11:00"), patient=1))
        await session.commit()
    assert len(gate.checked) == before


async def test_hook_tessera_scheduling_appointment_changed(db, gate_registry, clinic):
    registry, gate = gate_registry
    hooks = tenant_hooks(registry, "sched_gate")
    async with tenant_session(db, clinic) as session:
        a = (await booking.book(session, hooks, proposal(clinic, at(MONDAY, "09:00")))).appointment
        await booking.confirm(session, hooks, a)
        await booking.reschedule(session, hooks, a, starts_at=at(MONDAY, "10:00"))
        await booking.check_in(session, hooks, a)
        await session.commit()
    assert gate.changes == [
        (a.id, "booked", "booked"),
        (a.id, "confirmed", "confirmed"),
        (a.id, "rescheduled", "booked"),
        (a.id, "arrived", "arrived"),
    ]


# -- the JSON API -----------------------------------------------------------------------

FUTURE_MONDAY = dt.date(2027, 3, 15)  # CDT


def book_body(clinic, start, *, patient=0, **over) -> dict:
    body = {
        "patient_id": str(clinic.patients[patient]),
        "provider_id": str(clinic.provider_id),
        "location_id": str(clinic.location_id),
        "type_id": str(clinic.type_id),
        "start": start,
    }
    body.update(over)
    return body


async def test_every_appointment_route_works_and_is_audited(app, db, clinic):
    from plugins.scheduling.tests.booking_clinic import api_client
    from tests.audit_helpers import assert_audited

    user, patient = clinic.front_desk, clinic.patients[0]
    audited = dict(db=db, tenant=clinic.tenant, patient_id=patient, actor=user)
    async with await api_client(app, db, clinic.tenant, user) as client:
        since = dt.datetime.now(dt.UTC)
        made = await client.post(
            "/api/scheduling/appointments", json=book_body(clinic, "2027-03-15T09:00:00-05:00", note="knee")
        )
        assert made.status_code == 201, made.text
        a = made.json()
        assert a["status"] == "booked" and a["warnings"] == [] and a["note"] == "knee"
        assert a["start"] == "2027-03-15T14:00:00Z" and a["start_local"] == "2027-03-15T09:00:00-05:00"
        assert a["end_local"] == "2027-03-15T09:45:00-05:00" and a["time_zone"] == "America/Chicago"
        assert a["type_name"] == "PT follow-up" and a["provider_name"] == "Sam Patel, PT, DPT"
        assert a["patient_name"] == "Pat0 Example"
        assert a["allowed_actions"] == ["confirm", "reschedule", "cancel", "check-in", "no-show"]
        await assert_audited(
            **audited, action="create", since=since, route="POST /api/scheduling/appointments"
        )

        shown = await client.get(f"/api/scheduling/appointments/{a['id']}")
        assert shown.status_code == 200 and shown.json()["id"] == a["id"]
        await assert_audited(
            **audited, action="read", since=since, route="GET /api/scheduling/appointments/{appointment_id}"
        )

        since = dt.datetime.now(dt.UTC)
        listed = await client.get(
            "/api/scheduling/appointments",
            params={"provider_id": str(clinic.provider_id), "from": "2027-03-15", "to": "2027-03-15"},
        )
        assert listed.status_code == 200 and [i["id"] for i in listed.json()["items"]] == [a["id"]]
        assert listed.json()["total"] == 1
        await assert_audited(**audited, action="read", since=since, route="GET /api/scheduling/appointments")
        elsewhere = await client.get("/api/scheduling/appointments", params={"from": "2027-03-16"})
        assert elsewhere.json()["items"] == []

        since = dt.datetime.now(dt.UTC)
        confirmed = await client.post(f"/api/scheduling/appointments/{a['id']}/confirm")
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
        await assert_audited(
            **audited,
            action="update",
            since=since,
            route="POST /api/scheduling/appointments/{appointment_id}/confirm",
        )

        since = dt.datetime.now(dt.UTC)
        moved = await client.post(
            f"/api/scheduling/appointments/{a['id']}/reschedule", json={"start": "2027-03-15T10:00:00-05:00"}
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["version"] == 2 and moved.json()["status"] == "booked"
        assert moved.json()["start_local"] == "2027-03-15T10:00:00-05:00"
        await assert_audited(
            **audited,
            action="update",
            since=since,
            route="POST /api/scheduling/appointments/{appointment_id}/reschedule",
        )

        since = dt.datetime.now(dt.UTC)
        arrived = await client.post(f"/api/scheduling/appointments/{a['id']}/check-in")
        assert arrived.status_code == 200, arrived.text
        assert arrived.json()["status"] == "arrived" and arrived.json()["encounter_id"]
        await assert_audited(
            **audited,
            action="update",
            since=since,
            route="POST /api/scheduling/appointments/{appointment_id}/check-in",
        )
        encounter = await client.get(f"/api/encounters/{arrived.json()['encounter_id']}")
        assert encounter.json()["status"] == "arrived"

        # a second appointment to cancel and one in the past to mark no-show
        other = (
            await client.post(
                "/api/scheduling/appointments", json=book_body(clinic, "2027-03-15T13:00:00-05:00")
            )
        ).json()
        no_reason = await client.post(f"/api/scheduling/appointments/{other['id']}/cancel", json={})
        assert no_reason.status_code == 422 and no_reason.json()["extra"]["errors"][0]["field"] == "reason"
        since = dt.datetime.now(dt.UTC)
        cancelled = await client.post(
            f"/api/scheduling/appointments/{other['id']}/cancel", json={"reason": "moved away"}
        )
        assert cancelled.status_code == 200 and cancelled.json()["cancel_reason"] == "moved away"
        await assert_audited(
            **audited,
            action="update",
            since=since,
            route="POST /api/scheduling/appointments/{appointment_id}/cancel",
        )
        again = await client.post(f"/api/scheduling/appointments/{other['id']}/confirm")
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]
        assert again.json()["extra"] == {"status": "cancelled", "allowed_actions": []}

        past = (
            await client.post(
                "/api/scheduling/appointments", json=book_body(clinic, "2026-03-02T09:00:00-06:00")
            )
        ).json()
        since = dt.datetime.now(dt.UTC)
        missed = await client.post(f"/api/scheduling/appointments/{past['id']}/no-show")
        assert missed.status_code == 200 and missed.json()["status"] == "no-show"
        await assert_audited(
            **audited,
            action="update",
            since=since,
            route="POST /api/scheduling/appointments/{appointment_id}/no-show",
        )


async def test_api_conflicts_are_409_naming_the_appointment_and_bad_input_422(app, db, clinic):
    from plugins.scheduling.tests.booking_clinic import api_client

    async with await api_client(app, db, clinic.tenant, clinic.front_desk) as client:
        first = (
            await client.post(
                "/api/scheduling/appointments", json=book_body(clinic, "2027-03-15T09:00:00-05:00")
            )
        ).json()
        taken = await client.post(
            "/api/scheduling/appointments", json=book_body(clinic, "2027-03-15T09:15:00-05:00", patient=1)
        )
        assert taken.status_code == 409
        body = taken.json()
        assert body["detail"] == (
            f"Sam Patel, PT, DPT already has an appointment 2027-03-15 09:00-09:45 (id {first['id']})."
        )
        assert body["extra"]["conflicts"] == [
            {
                "id": first["id"],
                "calendar": "provider",
                "start": "2027-03-15T14:00:00Z",
                "end": "2027-03-15T14:45:00Z",
                "message": body["detail"],
            }
        ]
        bad = await client.post(
            "/api/scheduling/appointments",
            json={
                "patient_id": "x",
                "start": "2027-03-15T09:00",
                "colour": "red",
                "allow_outside_hours": "yes",
            },
        )
        assert bad.status_code == 422
        errors = {e["field"]: e["reason"] for e in bad.json()["extra"]["errors"]}
        assert set(errors) == {
            "patient_id",
            "provider_id",
            "location_id",
            "type_id",
            "start",
            "colour",
            "allow_outside_hours",
        }
        assert "UTC offset" in errors["start"] and "unknown field" in errors["colour"]
        nobody = await client.post(
            "/api/scheduling/appointments",
            json=book_body(clinic, "2027-03-15T11:00:00-05:00", patient_id=str(uuid.uuid4())),
        )
        assert nobody.status_code == 422 and "no such patient" in nobody.text
        late = await client.post(
            "/api/scheduling/appointments", json=book_body(clinic, "2027-03-15T18:00:00-05:00")
        )
        assert late.status_code == 409 and late.json()["extra"]["outside_hours"] is True
        assert (await client.get(f"/api/scheduling/appointments/{uuid.uuid4()}")).status_code == 404
        assert (
            await client.get("/api/scheduling/appointments", params={"status": "gone"})
        ).status_code == 422
    # another user of the clinic (the owner) sees the same appointment
    async with await api_client(app, db, clinic.tenant, clinic.owner) as owner:
        assert (await owner.get(f"/api/scheduling/appointments/{first['id']}")).status_code == 200
