"""JSON API of appointments and open slots, under ``/api/scheduling/``.

Appointments are PHI: every handler is ``@phi_route``, guarded by
``scheduling:appointments`` and audited in the transaction of the access (the changes
through ``booking``, which records each one; reads here). Times are answered in UTC and at
the location (``start_local``); ranges take dates in the location's zone or date-times
with an offset. Errors: 422 with field errors, 404 for ids that are not this clinic's, 409
for a taken time, a veto, a time outside the provider's hours or a status that does not
allow the change (the body's ``extra`` says which).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select

from core.plugin_api import (
    DbSession,
    Location,
    Patient,
    fetch_page,
    filter_listing,
    find_or_404,
    phi_route,
    plugin_config,
    provider_names,
    record,
    requires,
    site_of,
)
from plugins.scheduling import availability, booking
from plugins.scheduling.inputs import Reader, parse_date, parse_instant, parse_uuid, raise_errors
from plugins.scheduling.models import STATUSES, Appointment, AppointmentType

READ = [requires("scheduling:appointments", "read")]
WRITE = [requires("scheduling:appointments", "write")]
RESOURCE = booking.RESOURCE_TYPE


def _clinic_zone(request: Request) -> str:
    return site_of(request).tenant.time_zone


async def _zones(db_session: DbSession, location_ids: set[uuid.UUID], fallback: str) -> dict[uuid.UUID, str]:
    if not location_ids:
        return {}
    rows = await db_session.execute(
        select(Location.id, Location.time_zone).where(Location.id.in_(location_ids))
    )
    return {location_id: zone or fallback for location_id, zone in rows}


async def _render(request: Request, db_session: DbSession, appointments: list[Appointment]) -> list[dict]:
    """Appointments as JSON with their type, provider and patient names."""
    fallback = _clinic_zone(request)
    zones = await _zones(db_session, {a.location_id for a in appointments}, fallback)
    providers = await provider_names(db_session, list({a.provider_id for a in appointments}))
    type_ids = {a.type_id for a in appointments}
    types = (
        dict(
            (
                await db_session.execute(
                    select(AppointmentType.id, AppointmentType.name).where(AppointmentType.id.in_(type_ids))
                )
            ).all()
        )
        if type_ids
        else {}
    )
    patient_ids = {a.patient_id for a in appointments}
    patients = {}
    if patient_ids:
        rows = await db_session.execute(
            select(Patient.id, Patient.given_name, Patient.family_name).where(Patient.id.in_(patient_ids))
        )
        patients = {pid: f"{given} {family}" for pid, given, family in rows}
    return [
        booking.appointment_json(
            a,
            zones.get(a.location_id, fallback),
            type_name=types.get(a.type_id, ""),
            provider_name=providers.get(a.provider_id, ""),
            patient_name=patients.get(a.patient_id, ""),
        )
        for a in appointments
    ]


async def _find(db_session: DbSession, appointment_id: uuid.UUID, *, for_update: bool = False) -> Appointment:
    return await find_or_404(
        db_session,
        Appointment,
        appointment_id,
        resource_type=RESOURCE,
        noun="appointment",
        for_update=for_update,
    )


async def _answer(request: Request, db_session: DbSession, appointment: Appointment, **more: Any) -> dict:
    out = (await _render(request, db_session, [appointment]))[0]
    out.update(more)
    return out


# -- slots ------------------------------------------------------------------------------


@get("/api/scheduling/slots", name="scheduling:api-slots", guards=READ)
async def list_slots(
    request: Request,
    db_session: DbSession,
    type_id: FromQuery[str | None] = None,
    location_id: FromQuery[str | None] = None,
    provider_id: FromQuery[str | None] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    step_minutes: FromQuery[str | None] = None,
) -> dict:
    """Open start times for a visit of ``type_id`` at ``location_id``, with ``provider_id``
    or across every provider there, on the local days ``from``..``to`` (dates; ``to``
    defaults to ``from``, at most 92 days). Only future starts are offered. Not PHI: a
    slot names no patient."""
    errors: list[dict[str, str]] = []
    ids = {}
    for name, value, required in (
        ("type_id", type_id, True),
        ("location_id", location_id, True),
        ("provider_id", provider_id, False),
    ):
        if value is None:
            if required:
                errors.append({"field": name, "reason": "required"})
            continue
        ids[name] = parse_uuid(value)
        if ids[name] is None:
            errors.append({"field": name, "reason": "must be an id (a UUID)"})
    start, problem = parse_date(from_) if from_ is not None else (None, "required")
    if problem:
        errors.append({"field": "from", "reason": problem})
    end = start
    if to is not None:
        end, problem = parse_date(to)
        if problem:
            errors.append({"field": "to", "reason": problem})
    if start and end:
        if end < start:
            errors.append({"field": "to", "reason": "must not be before from"})
        elif (end - start).days >= availability.MAX_RANGE_DAYS:
            errors.append({"field": "to", "reason": f"at most {availability.MAX_RANGE_DAYS} days after from"})
    step = None
    if step_minutes is not None:
        if not (step_minutes.isascii() and step_minutes.isdigit()) or not 5 <= int(step_minutes) <= 240:
            errors.append({"field": "step_minutes", "reason": "must be a whole number from 5 to 240"})
        else:
            step = int(step_minutes)
    raise_errors(errors)
    location = await db_session.get(Location, (site_of(request).tenant.id, ids["location_id"]))
    if location is None:
        raise NotFoundException(detail="There is no such location in this clinic.")
    zone = location.time_zone or _clinic_zone(request)
    step = step or plugin_config(request, "scheduling").get("slot_minutes")
    now = dt.datetime.now(dt.UTC)
    common = dict(type_id=ids["type_id"], start=start, end=end, step_minutes=step, not_before=now)
    if ids.get("provider_id"):
        found = await availability.open_slots(
            db_session, provider_id=ids["provider_id"], location_id=location.id, **common
        )
    else:
        found = await availability.open_slots_at_location(db_session, location_id=location.id, **common)
    names = await provider_names(db_session, list({s.provider_id for s in found}))
    tz = zoneinfo.ZoneInfo(zone)
    return {
        "time_zone": zone,
        "slots": [
            {
                "start": booking.iso_utc(s.starts_at),
                "end": booking.iso_utc(s.ends_at),
                "start_local": s.starts_at.astimezone(tz).isoformat(),
                "end_local": s.ends_at.astimezone(tz).isoformat(),
                "provider_id": str(s.provider_id),
                "provider_name": names.get(s.provider_id, ""),
                "location_id": str(s.location_id),
                "type_id": str(s.type_id),
                "resource_id": str(s.resource_id) if s.resource_id else None,
            }
            for s in found
        ],
    }


# -- appointments -----------------------------------------------------------------------


def _bound(value: str, zone: str, *, end: bool) -> tuple[dt.datetime | None, str | None]:
    """A date (whole local days in ``zone``) or a date-time with an offset."""
    if len(value.strip()) == 10:
        day, problem = parse_date(value)
        if problem:
            return None, "must be a date (YYYY-MM-DD) or a date-time with offset"
        if end:
            day += dt.timedelta(days=1)
        return availability.local_to_utc(day, dt.time(), zoneinfo.ZoneInfo(zone)), None
    return parse_instant(value)


@phi_route
@get("/api/scheduling/appointments", name="scheduling:api-appointments", guards=READ)
async def list_appointments(
    request: Request,
    db_session: DbSession,
    patient_id: FromQuery[str | None] = None,
    provider_id: FromQuery[str | None] = None,
    location_id: FromQuery[str | None] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    limit: FromQuery[str | None] = None,
    offset: FromQuery[str | None] = None,
) -> dict:
    """Appointments by start time; filters combine. ``from``/``to`` select those
    overlapping the window (dates are whole days in the clinic's zone); ``status`` may list
    several, comma-separated. ``limit`` 1-500 (default 100), ``offset``; ``total`` counts
    every match. Each patient whose appointments are listed gets a read event."""
    listing = filter_listing(
        select(Appointment),
        ids=(
            ("patient_id", patient_id, Appointment.patient_id),
            ("provider_id", provider_id, Appointment.provider_id),
            ("location_id", location_id, Appointment.location_id),
        ),
        window=(from_, to),
        starts_at=Appointment.starts_at,
        ends_at=Appointment.ends_at,
        time_zone=_clinic_zone(request),
        status=status,
        status_column=Appointment.status,
        statuses=STATUSES,
        limit=limit,
        offset=offset,
        default_limit=100,
        max_limit=500,
        parse_id=parse_uuid,
        bound=_bound,
    )
    raise_errors(listing.errors)
    rows, total = await fetch_page(db_session, listing, Appointment.starts_at, Appointment.id)
    by_patient: dict[uuid.UUID, list[str]] = defaultdict(list)
    for a in rows:
        by_patient[a.patient_id].append(str(a.id))
    for patient, ids in by_patient.items():
        await record(
            db_session,
            action="read",
            resource_type=RESOURCE,
            resource_id=ids[0] if len(ids) == 1 else None,
            patient_id=patient,
            detail={"appointment_ids": ids, "via": "list"},
        )
    items = await _render(request, db_session, rows)
    await db_session.commit()
    return {"items": items, "total": total, "limit": listing.limit, "offset": listing.offset}


@phi_route
@get("/api/scheduling/appointments/{appointment_id:uuid}", name="scheduling:api-appointment", guards=READ)
async def show_appointment(
    request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID]
) -> dict:
    appointment = await _find(db_session, appointment_id)
    out = await _answer(request, db_session, appointment)
    await record(
        db_session,
        action="read",
        resource_type=RESOURCE,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
    )
    await db_session.commit()
    return out


BOOK_FIELDS = {
    "patient_id",
    "provider_id",
    "location_id",
    "type_id",
    "start",
    "end",
    "resource_id",
    "note",
    "allow_outside_hours",
}


@phi_route
@post("/api/scheduling/appointments", name="scheduling:api-book", guards=WRITE)
async def book_appointment(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    """Book: ``{patient_id, provider_id, location_id, type_id, start, end?, resource_id?,
    note?, allow_outside_hours?}``. Answers 201 with the appointment and ``warnings``."""
    reader = Reader(data, allowed=BOOK_FIELDS)
    values = {
        key: reader.uuid(key, required=True)
        for key in ("patient_id", "provider_id", "location_id", "type_id")
    }
    start = reader.instant("start", required=True)
    end = reader.instant("end")
    resource_id = reader.uuid("resource_id")
    note = reader.text("note", max_length=2000)
    outside = reader.boolean("allow_outside_hours", default=False)
    reader.raise_if_any()
    booked = await booking.book(
        db_session,
        site_of(request).hooks,
        booking.Proposal(
            **values,
            starts_at=start,
            ends_at=end,
            resource_id=resource_id,
            note=note,
            allow_outside_hours=bool(outside),
        ),
    )
    out = await _answer(request, db_session, booked.appointment, warnings=booked.warnings)
    await db_session.commit()
    return out


@phi_route
@post(
    "/api/scheduling/appointments/{appointment_id:uuid}/reschedule",
    name="scheduling:api-reschedule",
    guards=WRITE,
    status_code=200,
)
async def reschedule_appointment(
    request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Move it: ``{start, provider_id?, location_id?, resource_id?, allow_outside_hours?}``
    (it keeps its length; ``version`` goes up and the status back to booked)."""
    reader = Reader(
        data, allowed={"start", "provider_id", "location_id", "resource_id", "allow_outside_hours"}
    )
    start = reader.instant("start", required=True)
    provider_id = reader.uuid("provider_id")
    location_id = reader.uuid("location_id")
    resource_id = reader.uuid("resource_id")
    outside = reader.boolean("allow_outside_hours", default=False)
    reader.raise_if_any()
    appointment = await _find(db_session, appointment_id, for_update=True)
    moved = await booking.reschedule(
        db_session,
        site_of(request).hooks,
        appointment,
        starts_at=start,
        provider_id=provider_id,
        location_id=location_id,
        resource_id=resource_id,
        allow_outside_hours=bool(outside),
    )
    out = await _answer(request, db_session, moved.appointment, warnings=moved.warnings)
    await db_session.commit()
    return out


async def _change(
    request: Request, db_session: DbSession, appointment_id: uuid.UUID, change: Any, *args: Any
) -> dict:
    """Lock the appointment, apply ``change`` (a ``booking`` transition, given ``args``
    after the appointment), answer it and commit."""
    appointment = await _find(db_session, appointment_id, for_update=True)
    await change(db_session, site_of(request).hooks, appointment, *args)
    out = await _answer(request, db_session, appointment)
    await db_session.commit()
    return out


@phi_route
@post(
    "/api/scheduling/appointments/{appointment_id:uuid}/cancel",
    name="scheduling:api-cancel",
    guards=WRITE,
    status_code=200,
)
async def cancel_appointment(
    request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Cancel: ``{reason}`` (required)."""
    reader = Reader(data, allowed={"reason"})
    reason = reader.text("reason", required=True, max_length=500)
    reader.raise_if_any()
    return await _change(request, db_session, appointment_id, booking.cancel, reason)


@phi_route
@post(
    "/api/scheduling/appointments/{appointment_id:uuid}/confirm",
    name="scheduling:api-confirm",
    guards=WRITE,
    status_code=200,
)
async def confirm_appointment(
    request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID]
) -> dict:
    return await _change(request, db_session, appointment_id, booking.confirm)


@phi_route
@post(
    "/api/scheduling/appointments/{appointment_id:uuid}/check-in",
    name="scheduling:api-check-in",
    guards=WRITE,
    status_code=200,
)
async def check_in_appointment(
    request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID]
) -> dict:
    """The patient arrived: creates (or starts) the visit's encounter; ``encounter_id``."""
    return await _change(request, db_session, appointment_id, booking.check_in)


@phi_route
@post(
    "/api/scheduling/appointments/{appointment_id:uuid}/no-show",
    name="scheduling:api-no-show",
    guards=WRITE,
    status_code=200,
)
async def no_show_appointment(
    request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID]
) -> dict:
    return await _change(request, db_session, appointment_id, booking.mark_no_show)


ROUTES: list = [
    list_slots,
    list_appointments,
    show_appointment,
    book_appointment,
    reschedule_appointment,
    cancel_appointment,
    confirm_appointment,
    check_in_appointment,
    no_show_appointment,
]
