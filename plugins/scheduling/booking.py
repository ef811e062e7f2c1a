"""The one write path of appointments: book, reschedule, confirm, cancel, check in, mark
no-show. The API, the calendar screens, series, the waitlist, patient links and demo data
all come through here, so the rules below hold whoever writes.

Every change, in the caller's transaction (the caller commits):

1. checks its references (an active patient, a provider who works at the location, an
   active appointment type) and the status table below;
2. for a new time: takes the calendar locks (``calendars.lock``: provider, patient and
   candidate resources), then looks for overlaps and assigns a free resource — locking
   first is what makes "no double booking" hold under concurrency;
3. asks the tenant's plugins (``tessera_scheduling_booking_check``): a veto refuses;
4. writes, records the audit event (resource type ``appointment``, with the patient), and
   announces the change (``tessera_scheduling_appointment_changed``).

Status table (``TRANSITIONS``): booked -> confirmed | arrived | cancelled | no-show;
confirmed -> arrived | cancelled | no-show; arrived -> completed | cancelled, and only
by its encounter (finishing or cancelling the visit); completed, cancelled and no-show are
final. Only booked and confirmed appointments may be rescheduled, and a moved appointment
is ``booked`` again: the patient confirmed the old time, not the new one.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from litestar.exceptions import ClientException, NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import (
    Encounter,
    Location,
    Patient,
    Provider,
    ProviderLocation,
    change_encounter_status,
    create_encounter,
    current_principal,
    location_time_zone,
    provider_names,
    publish_event,
    record,
    require_tenant_id,
    utcnow,
)
from plugins.scheduling import calendars
from plugins.scheduling.availability import within_working_hours
from plugins.scheduling.hookspecs import Booking, Concern, Previous
from plugins.scheduling.inputs import field_error
from plugins.scheduling.models import HOLDING, Appointment, AppointmentType, Resource

RESOURCE_TYPE = "appointment"

#: status -> the statuses it may move to (see the module docstring)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "booked": ("confirmed", "arrived", "cancelled", "no-show"),
    "confirmed": ("arrived", "cancelled", "no-show"),
    "arrived": ("completed", "cancelled"),
    "completed": (),
    "cancelled": (),
    "no-show": (),
}
#: statuses whose time may still be moved
MOVABLE = ("booked", "confirmed")
#: what a person may do to an appointment in each status (``appointment_json``)
ACTIONS: dict[str, tuple[str, ...]] = {
    "booked": ("confirm", "reschedule", "cancel", "check-in", "no-show"),
    "confirmed": ("reschedule", "cancel", "check-in", "no-show"),
    "arrived": (),
    "completed": (),
    "cancelled": (),
    "no-show": (),
}


class BookingConflict(ClientException):
    """409: the time is taken (``extra["conflicts"]`` lists the appointments in the way),
    a plugin vetoed the booking, it lies outside the provider's hours, or the appointment's
    status does not allow the change."""

    status_code = 409


@dataclass(frozen=True)
class Proposal:
    """What someone wants booked. ``starts_at`` must be timezone-aware; ``ends_at``
    defaults to the type's duration; ``resource_id`` None picks any free resource of the
    type's kind."""

    patient_id: uuid.UUID
    provider_id: uuid.UUID
    location_id: uuid.UUID
    type_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    resource_id: uuid.UUID | None = None
    note: str | None = None
    allow_outside_hours: bool = False


@dataclass
class Booked:
    """The appointment written, and the warnings plugins gave (shown to whoever booked)."""

    appointment: Appointment
    warnings: list[str] = field(default_factory=list)


# -- reading ----------------------------------------------------------------------------


async def get_appointment(
    session: AsyncSession, appointment_id: uuid.UUID, *, for_update: bool = False
) -> Appointment:
    """The appointment, or 404 (another clinic's id is as unknown as a made-up one)."""
    query = select(Appointment).where(Appointment.id == appointment_id)
    if for_update:
        query = query.with_for_update()
    appointment = await session.scalar(query)
    if appointment is None:
        raise NotFoundException(detail="There is no such appointment in this clinic.")
    return appointment


def iso_utc(value: dt.datetime) -> str:
    """An instant as ISO 8601 in UTC with a Z, as the API answers times."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def appointment_json(
    appointment: Appointment,
    time_zone: str,
    *,
    type_name: str | None = None,
    provider_name: str | None = None,
    patient_name: str | None = None,
) -> dict[str, Any]:
    """An appointment for the API and the screens: times in UTC and at the location
    (``time_zone``), the status, and what may be done with it next."""
    zone = zoneinfo.ZoneInfo(time_zone)
    out: dict[str, Any] = {
        "id": str(appointment.id),
        "patient_id": str(appointment.patient_id),
        "provider_id": str(appointment.provider_id),
        "location_id": str(appointment.location_id),
        "type_id": str(appointment.type_id),
        "resource_id": str(appointment.resource_id) if appointment.resource_id else None,
        "start": iso_utc(appointment.starts_at),
        "end": iso_utc(appointment.ends_at),
        "time_zone": time_zone,
        "start_local": appointment.starts_at.astimezone(zone).isoformat(),
        "end_local": appointment.ends_at.astimezone(zone).isoformat(),
        "status": appointment.status,
        "telehealth": appointment.telehealth,
        "note": appointment.note,
        "cancel_reason": appointment.cancel_reason,
        "series_id": str(appointment.series_id) if appointment.series_id else None,
        "occurrence_start": iso_utc(appointment.occurrence_start) if appointment.occurrence_start else None,
        "encounter_id": str(appointment.encounter_id) if appointment.encounter_id else None,
        "version": appointment.version,
        "allowed_actions": list(ACTIONS.get(appointment.status, ())),
    }
    if type_name is not None:
        out["type_name"] = type_name
    if provider_name is not None:
        out["provider_name"] = provider_name
    if patient_name is not None:
        out["patient_name"] = patient_name
    return out


# -- checks -----------------------------------------------------------------------------


@dataclass
class _Checked:
    """A proposal whose references were found and whose times are settled."""

    appointment_type: AppointmentType
    starts_at: dt.datetime
    ends_at: dt.datetime
    candidates: list[Resource]
    time_zone: str


async def check_references(session: AsyncSession, proposal: Proposal) -> None:
    """The proposal's patient, provider, location and type exist in this clinic and may be
    booked (422 naming the field): for writers that store the ids before booking (a series)."""
    await _check(session, proposal)


async def _check(session: AsyncSession, proposal: Proposal, *, patient_known: bool = False) -> _Checked:
    """References and times of a proposal (422 naming the field), and the resources it
    could use."""
    tenant_id = require_tenant_id()
    if proposal.starts_at.tzinfo is None:
        raise field_error("starts_at", "include a UTC offset or Z")
    appointment_type = await session.get(AppointmentType, (tenant_id, proposal.type_id))
    if appointment_type is None:
        raise field_error("type_id", "no such appointment type in this clinic")
    if not appointment_type.active:
        raise field_error("type_id", f"the appointment type {appointment_type.name!r} is retired")
    if not patient_known:
        patient = await session.get(Patient, (tenant_id, proposal.patient_id))
        if patient is None:
            raise field_error("patient_id", "no such patient in this clinic")
        if patient.status != "active":
            raise field_error("patient_id", "this patient's record is inactive; reactivate it to book")
    provider = await session.get(Provider, (tenant_id, proposal.provider_id))
    if provider is None:
        raise field_error("provider_id", "no such provider in this clinic")
    if not provider.active:
        raise field_error("provider_id", "this provider is inactive")
    location = await session.get(Location, (tenant_id, proposal.location_id))
    if location is None:
        raise field_error("location_id", "no such location in this clinic")
    if not location.active:
        raise field_error("location_id", "this location is inactive")
    works_there = await session.scalar(
        select(ProviderLocation.provider_id).where(
            ProviderLocation.provider_id == proposal.provider_id,
            ProviderLocation.location_id == proposal.location_id,
        )
    )
    if works_there is None:
        raise field_error("location_id", "the provider does not work at this location")
    starts_at = proposal.starts_at.astimezone(dt.UTC)
    if proposal.ends_at is None:
        ends_at = starts_at + dt.timedelta(minutes=appointment_type.duration_minutes)
    else:
        if proposal.ends_at.tzinfo is None:
            raise field_error("ends_at", "include a UTC offset or Z")
        ends_at = proposal.ends_at.astimezone(dt.UTC)
        if ends_at <= starts_at:
            raise field_error("ends_at", "must be after the start")
        if ends_at - starts_at > dt.timedelta(hours=12):
            raise field_error("ends_at", "an appointment lasts at most 12 hours")
    candidates: list[Resource] = []
    if proposal.resource_id is not None:
        resource = await session.get(Resource, (tenant_id, proposal.resource_id))
        if resource is None or resource.location_id != proposal.location_id:
            raise field_error("resource_id", "no such room or resource at this location")
        if not resource.active:
            raise field_error("resource_id", f"{resource.name} is out of service")
        candidates = [resource]
    elif appointment_type.resource_kind:
        candidates = await calendars.resources_of_kind(
            session, proposal.location_id, appointment_type.resource_kind
        )
        if not candidates:
            raise field_error(
                "type_id",
                f"{appointment_type.name} needs a {appointment_type.resource_kind} and "
                f"{location.name} has none; add one in the scheduling setup",
            )
    zone = location.time_zone or await location_time_zone(session, location.id)
    return _Checked(appointment_type, starts_at, ends_at, candidates, zone)


def _clock(value: dt.datetime, zone: str) -> str:
    return value.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M")


def _span(a: Appointment, zone: str) -> str:
    day = a.starts_at.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d")
    return f"{day} {_clock(a.starts_at, zone)}-{_clock(a.ends_at, zone)}"


async def _conflicts(
    session: AsyncSession,
    proposal: Proposal,
    checked: _Checked,
    exclude_ids: Iterable[uuid.UUID],
    *,
    prefer_resource: uuid.UUID | None = None,
) -> tuple[list[dict[str, Any]], Resource | None]:
    """Conflicts on the provider's, patient's and resources' calendars (a resource kind
    conflicts only when every candidate is taken), and the resource to use."""
    overlapping = await calendars.overlapping(
        session,
        starts_at=checked.starts_at,
        ends_at=checked.ends_at,
        provider_id=proposal.provider_id,
        patient_id=proposal.patient_id,
        resource_ids=[r.id for r in checked.candidates],
        exclude_ids=exclude_ids,
    )
    zone = checked.time_zone
    names = await provider_names(session, {proposal.provider_id, *(a.provider_id for a in overlapping)})
    out: list[dict[str, Any]] = []

    def add(a: Appointment, calendar: str, message: str) -> None:
        out.append(
            {
                "id": str(a.id),
                "calendar": calendar,
                "start": iso_utc(a.starts_at),
                "end": iso_utc(a.ends_at),
                "message": message,
            }
        )

    for a in overlapping:
        if a.provider_id == proposal.provider_id:
            who = names.get(a.provider_id, "The provider")
            add(a, "provider", f"{who} already has an appointment {_span(a, zone)} (id {a.id}).")
    for a in overlapping:
        if a.patient_id == proposal.patient_id:
            with_whom = names.get(a.provider_id, "another provider")
            add(
                a,
                "patient",
                f"The patient already has an appointment {_span(a, zone)} with {with_whom} (id {a.id}).",
            )
    resource = None
    if checked.candidates:
        resource = calendars.free_resource(checked.candidates, overlapping, prefer=prefer_resource)
        if resource is None:
            by_id = {r.id: r for r in checked.candidates}
            for a in overlapping:
                if a.resource_id in by_id:
                    add(
                        a,
                        "resource",
                        f"{by_id[a.resource_id].name} is taken {_span(a, zone)} (id {a.id}).",
                    )
    return out, resource


def _refuse(conflicts: list[dict[str, Any]]) -> BookingConflict:
    first = conflicts[0]["message"]
    more = len(conflicts) - 1
    detail = first if not more else f"{first} ({more} more conflict{'s' if more > 1 else ''})"
    return BookingConflict(detail=detail, extra={"conflicts": conflicts})


async def conflicts_of(
    session: AsyncSession, proposal: Proposal, *, exclude_ids: Iterable[uuid.UUID] = ()
) -> list[dict[str, Any]]:
    """What a proposal would collide with, without locking or writing (for previews such
    as a series' occurrence report): ``[{"id", "calendar", "start", "end", "message"}]``
    with calendar ``provider``, ``patient`` or ``resource``. Raises 422 for bad
    references like ``book`` does."""
    checked = await _check(session, proposal)
    conflicts, _ = await _conflicts(session, proposal, checked, exclude_ids)
    return conflicts


async def outside_hours(session: AsyncSession, proposal: Proposal) -> str | None:
    """Why the proposal lies outside the provider's working time there (None if inside)."""
    checked = await _check(session, proposal)
    return await _hours_problem(session, proposal, checked)


async def _hours_problem(session: AsyncSession, proposal: Proposal, checked: _Checked) -> str | None:
    inside = await within_working_hours(
        session,
        provider_id=proposal.provider_id,
        location_id=proposal.location_id,
        starts_at=checked.starts_at,
        ends_at=checked.ends_at,
    )
    if inside:
        return None
    names = await provider_names(session, [proposal.provider_id])
    zone = checked.time_zone
    day = checked.starts_at.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d")
    return (
        f"{names.get(proposal.provider_id, 'The provider')} does not work at this location "
        f"{day} {_clock(checked.starts_at, zone)}-{_clock(checked.ends_at, zone)}; pick an open "
        "slot or book outside hours on purpose (allow_outside_hours)."
    )


async def _ask_plugins(session: AsyncSession, hooks: Any, booking: Booking) -> list[str]:
    """The booking check of the tenant's plugins: a veto refuses (409), warnings return."""
    concerns = [
        c
        for c in await hooks.collect("tessera_scheduling_booking_check", booking=booking, session=session)
        if c
    ]
    vetoes = [c for c in concerns if isinstance(c, Concern) and c.level == "veto"]
    if vetoes:
        raise BookingConflict(
            detail=" ".join(c.message for c in vetoes),
            extra={"vetoes": [{"message": c.message, "code": c.code} for c in vetoes]},
        )
    return [c.message for c in concerns if isinstance(c, Concern) and c.level == "warning"]


async def _announce(
    session: AsyncSession, hooks: Any, appointment: Appointment, change: str, previous: Previous | None = None
) -> None:
    await hooks.collect(
        "tessera_scheduling_appointment_changed",
        appointment_id=appointment.id,
        change=change,
        session=session,
        previous=previous,
    )
    # the durable twin, for consumers that may be slow or fail (a video room, a message):
    # delivered after this transaction commits, retried, never undoing the change
    await publish_event(
        session, "scheduling.appointment_changed", {"appointment_id": appointment.id, "change": change}
    )


def _user_id() -> uuid.UUID | None:
    """Who is booking (None for the system: a job, demo data, a patient's link)."""
    principal = current_principal()
    return principal.user_id if principal else None


# -- changes ----------------------------------------------------------------------------


async def book(
    session: AsyncSession,
    hooks: Any,
    proposal: Proposal,
    *,
    action: str = "book",
    series_id: uuid.UUID | None = None,
    occurrence_start: dt.datetime | None = None,
) -> Booked:
    """Book the proposal or refuse: 422 for bad references, 409 (``BookingConflict``) for a
    taken time, a veto or a time outside the provider's hours. ``action`` is what the
    booking check is told ("book", or "series" for a series' occurrences)."""
    checked = await _check(session, proposal)
    if not proposal.allow_outside_hours and (problem := await _hours_problem(session, proposal, checked)):
        raise BookingConflict(detail=problem, extra={"conflicts": [], "outside_hours": True})
    await calendars.lock(
        session,
        calendars.Calendars(
            proposal.provider_id, proposal.patient_id, tuple(r.id for r in checked.candidates)
        ),
    )
    conflicts, resource = await _conflicts(session, proposal, checked, ())
    if conflicts:
        raise _refuse(conflicts)
    appointment_type = checked.appointment_type
    warnings = await _ask_plugins(
        session,
        hooks,
        Booking(
            action=action,
            patient_id=proposal.patient_id,
            provider_id=proposal.provider_id,
            location_id=proposal.location_id,
            type_id=appointment_type.id,
            type_name=appointment_type.name,
            encounter_type=appointment_type.encounter_type,
            telehealth=appointment_type.telehealth,
            starts_at=checked.starts_at,
            ends_at=checked.ends_at,
            series_id=series_id,
        ),
    )
    appointment = Appointment(
        patient_id=proposal.patient_id,
        provider_id=proposal.provider_id,
        location_id=proposal.location_id,
        type_id=appointment_type.id,
        resource_id=resource.id if resource else None,
        starts_at=checked.starts_at,
        ends_at=checked.ends_at,
        status="booked",
        telehealth=appointment_type.telehealth,
        note=proposal.note,
        series_id=series_id,
        occurrence_start=occurrence_start,
        created_by_user_id=_user_id(),
    )
    session.add(appointment)
    await session.flush()
    await record(
        session,
        action="create",
        resource_type=RESOURCE_TYPE,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
        detail={
            "change": "booked",
            "start": iso_utc(appointment.starts_at),
            "provider_id": str(appointment.provider_id),
            **({"outside_hours": True} if proposal.allow_outside_hours else {}),
            **({"warnings": warnings} if warnings else {}),
        },
    )
    await _announce(session, hooks, appointment, "booked")
    return Booked(appointment, warnings)


def _refuse_status(appointment: Appointment, wanted: str) -> BookingConflict:
    allowed = ACTIONS.get(appointment.status, ())
    if not allowed:
        detail = f"This appointment is {appointment.status}; it can no longer be changed."
    else:
        detail = (
            f"This appointment is {appointment.status}, so it cannot be {wanted}; "
            f"it can still: {', '.join(allowed)}."
        )
    return BookingConflict(
        detail=detail, extra={"status": appointment.status, "allowed_actions": list(allowed)}
    )


async def reschedule(
    session: AsyncSession,
    hooks: Any,
    appointment: Appointment,
    *,
    starts_at: dt.datetime,
    provider_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    allow_outside_hours: bool = False,
) -> Booked:
    """Move a booked or confirmed appointment (keeping its length), optionally to another
    provider, location or resource, with the same checks as ``book``. Bumps ``version``
    (reminders and links for the old time go stale) and sets the status back to booked."""
    if appointment.status not in MOVABLE:
        raise _refuse_status(appointment, "rescheduled")
    length = appointment.ends_at - appointment.starts_at
    new_location = location_id or appointment.location_id
    keep_resource = (
        appointment.resource_id if resource_id is None and new_location == appointment.location_id else None
    )
    proposal = Proposal(
        patient_id=appointment.patient_id,
        provider_id=provider_id or appointment.provider_id,
        location_id=new_location,
        type_id=appointment.type_id,
        starts_at=starts_at,
        ends_at=starts_at + length if starts_at.tzinfo else None,
        resource_id=resource_id,
        allow_outside_hours=allow_outside_hours,
    )
    checked = await _check(session, proposal, patient_known=True)
    if not allow_outside_hours and (problem := await _hours_problem(session, proposal, checked)):
        raise BookingConflict(detail=problem, extra={"conflicts": [], "outside_hours": True})
    await calendars.lock(
        session,
        calendars.Calendars(
            proposal.provider_id, proposal.patient_id, tuple(r.id for r in checked.candidates)
        ),
    )
    conflicts, resource = await _conflicts(
        session, proposal, checked, (appointment.id,), prefer_resource=keep_resource
    )
    if conflicts:
        raise _refuse(conflicts)
    appointment_type = checked.appointment_type
    warnings = await _ask_plugins(
        session,
        hooks,
        Booking(
            action="reschedule",
            patient_id=appointment.patient_id,
            provider_id=proposal.provider_id,
            location_id=proposal.location_id,
            type_id=appointment_type.id,
            type_name=appointment_type.name,
            encounter_type=appointment_type.encounter_type,
            telehealth=appointment.telehealth,
            starts_at=checked.starts_at,
            ends_at=checked.ends_at,
            appointment_id=appointment.id,
            series_id=appointment.series_id,
        ),
    )
    previous = Previous(
        appointment.provider_id, appointment.location_id, appointment.starts_at, appointment.ends_at
    )
    before = {
        "start": iso_utc(appointment.starts_at),
        "provider_id": str(appointment.provider_id),
        "location_id": str(appointment.location_id),
    }
    now = utcnow()
    appointment.starts_at = checked.starts_at
    appointment.ends_at = checked.ends_at
    appointment.provider_id = proposal.provider_id
    appointment.location_id = proposal.location_id
    appointment.resource_id = resource.id if resource else None
    appointment.version += 1
    if appointment.status != "booked":
        appointment.status = "booked"
        appointment.status_changed_at = now
    appointment.updated_at = now
    await session.flush()
    await record(
        session,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
        detail={
            "change": "rescheduled",
            "from": before,
            "to": {
                "start": iso_utc(appointment.starts_at),
                "provider_id": str(appointment.provider_id),
                "location_id": str(appointment.location_id),
            },
            "version": appointment.version,
        },
    )
    await _announce(session, hooks, appointment, "rescheduled", previous)
    return Booked(appointment, warnings)


async def _set_status(
    session: AsyncSession,
    hooks: Any,
    appointment: Appointment,
    new_status: str,
    *,
    wanted: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move along the status table, audit and announce (``change`` = the new status)."""
    if new_status not in TRANSITIONS.get(appointment.status, ()):
        raise _refuse_status(appointment, wanted)
    old_status = appointment.status
    now = utcnow()
    appointment.status = new_status
    appointment.status_changed_at = now
    appointment.updated_at = now
    if new_status == "cancelled":
        appointment.cancel_reason = reason
    await session.flush()
    await record(
        session,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
        reason=reason,
        detail={"change": new_status, "status": [old_status, new_status], **(detail or {})},
    )
    await _announce(session, hooks, appointment, new_status)


async def confirm(session: AsyncSession, hooks: Any, appointment: Appointment) -> Appointment:
    """The patient confirmed they will come. Confirming a confirmed appointment changes
    nothing (a patient may confirm by phone and by link)."""
    if appointment.status != "confirmed":
        await _set_status(session, hooks, appointment, "confirmed", wanted="confirmed")
    return appointment


async def cancel(
    session: AsyncSession, hooks: Any, appointment: Appointment, reason: str | None
) -> Appointment:
    """Cancel a booked or confirmed appointment; the reason is required (422 without).
    A visit already checked in is cancelled through its encounter instead."""
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "required: say why the appointment is cancelled")
    if len(reason) > 500:
        raise field_error("reason", "at most 500 characters")
    if appointment.status not in MOVABLE:
        raise _refuse_status(appointment, "cancelled")
    await _set_status(session, hooks, appointment, "cancelled", wanted="cancelled", reason=reason)
    return appointment


async def mark_no_show(session: AsyncSession, hooks: Any, appointment: Appointment) -> Appointment:
    """The patient did not come. Refused before the appointment's start time."""
    if appointment.status in MOVABLE and appointment.starts_at > utcnow():
        raise BookingConflict(
            detail="This appointment has not started yet; mark it no-show once its time has come.",
            extra={"status": appointment.status, "allowed_actions": list(ACTIONS[appointment.status])},
        )
    await _set_status(session, hooks, appointment, "no-show", wanted="marked no-show")
    return appointment


async def check_in(session: AsyncSession, hooks: Any, appointment: Appointment) -> Encounter:
    """The patient arrived: create the visit's encounter (of the type's encounter type)
    or take the existing one, move it to ``arrived``, and mark the appointment arrived."""
    if "arrived" not in TRANSITIONS.get(appointment.status, ()):
        raise _refuse_status(appointment, "checked in")
    tenant_id = require_tenant_id()
    encounter = None
    if appointment.encounter_id is not None:
        encounter = await session.get(Encounter, (tenant_id, appointment.encounter_id))
    if encounter is None:
        appointment_type = await session.get(AppointmentType, (tenant_id, appointment.type_id))
        encounter = await create_encounter(
            session,
            {
                "patient_id": appointment.patient_id,
                "provider_id": appointment.provider_id,
                "location_id": appointment.location_id,
                "starts_at": appointment.starts_at,
                "ends_at": appointment.ends_at,
                "type": appointment_type.encounter_type if appointment_type else "office-visit",
                "place_of_service": None,
            },
        )
        await record(
            session,
            action="create",
            resource_type="core:encounters",
            resource_id=encounter.id,
            patient_id=encounter.patient_id,
            detail={"via": "scheduling check-in", "appointment_id": str(appointment.id)},
        )
    appointment.encounter_id = encounter.id
    await _set_status(
        session,
        hooks,
        appointment,
        "arrived",
        wanted="checked in",
        detail={"encounter_id": str(encounter.id)},
    )
    if encounter.status == "planned":
        await change_encounter_status(session, hooks, encounter, "arrived")
    return encounter


async def follow_encounter(session: AsyncSession, hooks: Any, encounter: Encounter, new_status: str) -> None:
    """Keep the visit's appointment in step with its encounter (the encounter status hook):
    finished -> completed, cancelled -> cancelled, no-show -> no-show."""
    target = {"finished": "completed", "cancelled": "cancelled", "no-show": "no-show"}.get(new_status)
    if target is None:
        return
    appointment = await session.scalar(
        select(Appointment).where(Appointment.encounter_id == encounter.id).with_for_update()
    )
    if appointment is None or appointment.status == target:
        return
    if target not in TRANSITIONS.get(appointment.status, ()):
        return  # already final; the encounter's lifecycle is the record of what happened
    await _set_status(
        session,
        hooks,
        appointment,
        target,
        wanted=target,
        reason=(encounter.status_reason or f"the encounter was {new_status}")
        if target == "cancelled"
        else None,
        detail={"via": "encounter", "encounter_id": str(encounter.id)},
    )


__all__ = [
    "ACTIONS",
    "HOLDING",
    "MOVABLE",
    "RESOURCE_TYPE",
    "TRANSITIONS",
    "Booked",
    "BookingConflict",
    "Proposal",
    "appointment_json",
    "book",
    "cancel",
    "check_in",
    "confirm",
    "conflicts_of",
    "follow_encounter",
    "get_appointment",
    "iso_utc",
    "mark_no_show",
    "outside_hours",
    "reschedule",
]
