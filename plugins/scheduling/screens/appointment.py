"""One appointment: details and actions."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from core.plugin_api import (
    Action,
    DbSession,
    may,
    phi_route,
    record,
    render_fragment,
    site_of,
    wants_fragment,
)
from plugins.scheduling import availability, booking
from plugins.scheduling.hookspecs import AppointmentSummary
from plugins.scheduling.inputs import field_error
from plugins.scheduling.models import (
    Appointment,
)
from plugins.scheduling.screens.after import _refused, _screen_after
from plugins.scheduling.screens.common import (
    READ,
    STATUS_LABELS,
    WRITE,
    AppointmentView,
    _active_providers,
    _clinic_zone,
    _location_providers,
    _names,
    _page,
    _parse_date,
    _parse_uuid,
    _problem,
    _safe_back,
    _views,
    _zone_lookup,
)


async def _one(request: Request, session, appointment_id: uuid.UUID) -> AppointmentView:
    views = await _views(
        session, [Appointment.id == appointment_id], _zone_lookup(session, _clinic_zone(request))
    )
    if not views:
        raise NotFoundException(detail="There is no such appointment in this clinic.")
    return views[0]


async def appointment_actions(request: Request, view: AppointmentView) -> list[Action]:
    """What the clinic's other plugins offer on this appointment (a robust hook)."""
    hooks = site_of(request).hooks
    summary = AppointmentSummary(
        view.id, view.patient_id, view.provider_id, view.location_id, view.status,
        view.starts_at, view.ends_at, view.encounter_id,
    )  # fmt: skip
    found = await hooks.collect(
        "tessera_scheduling_appointment_actions", appointment=summary, request=request
    )
    return sorted(found, key=lambda a: (a.order, a.label))


async def _detail_context(
    request: Request, session, view: AppointmentView, back: str, **extra
) -> dict[str, Any]:
    providers = await _active_providers(session)
    at_location = await _location_providers(session, view.location_id)
    return {
        "a": view,
        "back": back,
        "can_write": may(request, "scheduling:appointments", "write"),
        "providers": [p for p in providers if p[0] in at_location],
        "status_labels": STATUS_LABELS,
        "plugin_actions": await appointment_actions(request, view),
        "error": None,
        "values": {},
        **extra,
    }


@phi_route
@get(
    "/scheduling/appointments/{appointment_id:uuid}",
    name="scheduling:appointment",
    guards=READ,
    include_in_schema=False,
)
async def appointment_detail(
    request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID]
) -> Template:
    """Details and the actions its status allows (audited as a read of the appointment)."""
    view = await _one(request, db_session, appointment_id)
    await record(
        db_session,
        action="read",
        resource_type="appointment",
        resource_id=view.id,
        patient_id=view.patient_id,
    )
    context = await _detail_context(request, db_session, view, _safe_back(request.query_params.get("back")))
    await db_session.commit()
    if wants_fragment(request):
        return render_fragment(request, "scheduling/_appointment.html", **context)
    return await _page(request, "scheduling/appointment.html", page_title="Appointment", **context)


ACTION_DONE = {
    "confirm": "Confirmed {name}'s appointment.",
    "cancel": "Cancelled {name}'s appointment.",
    "check-in": "Checked in {name}.",
    "no-show": "Marked {name} as no-show.",
    "reschedule": "Moved {name}'s appointment to {when}.",
}


async def _act(request: Request, session, appointment_id: uuid.UUID, action: str) -> Response:
    submitted = await request.form()
    back = _safe_back(submitted.get("back"))
    hooks = site_of(request).hooks
    appointment = await booking.get_appointment(session, appointment_id, for_update=True)
    values = {k: (submitted.get(k) or "").strip() for k in ("reason", "date", "time", "provider")}
    warnings: list[str] = []
    when = ""
    try:
        if action == "confirm":
            await booking.confirm(session, hooks, appointment)
        elif action == "cancel":
            await booking.cancel(session, hooks, appointment, values["reason"])
        elif action == "check-in":
            await booking.check_in(session, hooks, appointment)
        elif action == "no-show":
            await booking.mark_no_show(session, hooks, appointment)
        else:
            zone = zoneinfo.ZoneInfo(
                await _zone_lookup(session, _clinic_zone(request))(appointment.location_id)
            )
            day, wall = _parse_date(values["date"]), None
            try:
                wall = dt.time.fromisoformat(values["time"]) if values["time"] else None
            except ValueError:
                wall = None
            if day is None or wall is None:
                raise field_error("date", "Enter the new date (YYYY-MM-DD) and time (HH:MM).")
            starts_at = availability.local_to_utc(day, wall, zone)
            moved = await booking.reschedule(
                session, hooks, appointment, starts_at=starts_at, provider_id=_parse_uuid(values["provider"])
            )
            warnings = moved.warnings
            when = f"{starts_at.astimezone(zone):%a %d %b %H:%M}"
    except HTTPException as exc:
        if exc.status_code >= 500 or exc.status_code in (403, 404):
            raise
        await session.rollback()
        view = await _one(request, session, appointment_id)
        context = await _detail_context(
            request, session, view, back, error=_problem(exc), failed=action, values=values
        )
        await session.commit()
        if wants_fragment(request):
            return _refused(
                request,
                back,
                render_fragment(request, "scheduling/_appointment.html", exc.status_code, **context),
            )
        return await _page(
            request, "scheduling/appointment.html", exc.status_code, page_title="Appointment", **context
        )
    names = await _names(session, [appointment.patient_id])
    await session.commit()
    notice = ACTION_DONE[action].format(name=names.get(appointment.patient_id, "the patient"), when=when)
    return await _screen_after(request, session, back, notice=notice, warnings=warnings)


def _action_route(action: str):
    @phi_route
    @post(
        f"/scheduling/appointments/{{appointment_id:uuid}}/{action}",
        name=f"scheduling:appointment-{action}",
        guards=WRITE,
        include_in_schema=False,
        status_code=200,
    )
    async def handler(
        request: Request, db_session: DbSession, appointment_id: FromPath[uuid.UUID]
    ) -> Response:
        return await _act(request, db_session, appointment_id, action)

    handler.__name__ = f"appointment_{action.replace('-', '_')}"
    return handler


confirm_appointment = _action_route("confirm")
cancel_appointment = _action_route("cancel")
check_in_appointment = _action_route("check-in")
no_show_appointment = _action_route("no-show")
reschedule_appointment = _action_route("reschedule")
