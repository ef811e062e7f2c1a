"""Booking from an empty slot: the form, the patient picker and the booking."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.response import Template

from core.plugin_api import (
    DbSession,
    Location,
    phi_route,
    render_fragment,
    search_patients,
    site_of,
    wants_fragment,
)
from plugins.scheduling import booking
from plugins.scheduling.screens.after import _refused, _screen_after
from plugins.scheduling.screens.common import (
    PICKER_SIZE,
    WRITE,
    _active_providers,
    _clinic_zone,
    _location_providers,
    _names,
    _page,
    _parse_instant,
    _parse_uuid,
    _problem,
    _safe_back,
    _types,
    _zone_lookup,
)


@dataclass
class BookForm:
    values: dict[str, str]
    error: str | None = None
    conflicts: list[dict[str, Any]] | None = None
    choices: list[Any] | None = None
    status_code: int = 200


async def _book_context(request: Request, session, form: BookForm) -> dict[str, Any]:
    start = _parse_instant(form.values.get("start"))
    location_id = _parse_uuid(form.values.get("location"))
    location = await session.get(Location, (site_of(request).tenant.id, location_id)) if location_id else None
    zone = zoneinfo.ZoneInfo((location.time_zone if location else None) or _clinic_zone(request))
    providers = await _active_providers(session)
    if location is not None:
        at_location = await _location_providers(session, location.id)
        providers = [p for p in providers if p[0] in at_location]
    return {
        "form": form,
        "start_local": start.astimezone(zone) if start else None,
        "location": location,
        "providers": providers,
        "types": await _types(session),
        "back": _safe_back(form.values.get("back")),
    }


@get("/scheduling/calendar/book", name="scheduling:book-form", guards=WRITE, include_in_schema=False)
async def book_form(request: Request, db_session: DbSession) -> Template:
    """The form for one empty slot (no patient data is read, so nothing is audited)."""
    q = request.query_params
    form = BookForm(
        values={
            "start": q.get("start", ""),
            "provider": q.get("provider", ""),
            "location": q.get("location", ""),
            "back": _safe_back(q.get("back")),
        }
    )
    if _parse_instant(form.values["start"]) is None or _parse_uuid(form.values["location"]) is None:
        form.error = "This slot link is incomplete; pick an empty slot on the calendar again."
        form.status_code = 422
    context = await _book_context(request, db_session, form)
    if wants_fragment(request):
        return render_fragment(request, "scheduling/_book_form.html", form.status_code, **context)
    return await _page(
        request, "scheduling/book.html", form.status_code, page_title="Book an appointment", **context
    )


@phi_route
@get("/scheduling/patients/search", name="scheduling:patient-choices", guards=WRITE, include_in_schema=False)
async def patient_choices(request: Request, db_session: DbSession) -> Template:
    """Patients matching what was typed, as choices for the booking and waitlist forms
    (core's patient search: audited with the result count, never the query)."""
    q = (request.query_params.get("patient_q") or "").strip()[:200]
    error, items = None, []
    if q:
        try:
            result = await search_patients(db_session, q=q, limit=PICKER_SIZE)
            items = result.items
        except HTTPException as exc:
            error = _problem(exc).removeprefix("q: ")
        await db_session.commit()
    name = request.query_params.get("field") or "patient_id"
    return render_fragment(
        request, "scheduling/_patient_choices.html", choices=items, q=q, error=error, field=name[:40]
    )


@phi_route
@post(
    "/scheduling/calendar/book",
    name="scheduling:book",
    guards=WRITE,
    include_in_schema=False,
    status_code=200,
)
async def book(request: Request, db_session: DbSession) -> Response:
    """Book the slot for the chosen patient: back to the calendar with the booking (and
    any warnings) on success; the form with the conflict (409) or problem (422) otherwise."""
    submitted = await request.form()
    keys = ("start", "provider", "location", "type_id", "patient_id", "patient_q", "note", "back")
    form = BookForm(values={k: (submitted.get(k) or "").strip() for k in keys})
    back = _safe_back(form.values["back"])
    start = _parse_instant(form.values["start"])
    provider_id = _parse_uuid(form.values["provider"])
    location_id = _parse_uuid(form.values["location"])
    type_id = _parse_uuid(form.values["type_id"])
    patient_id = _parse_uuid(form.values["patient_id"])
    if patient_id is None and form.values["patient_q"]:
        try:
            result = await search_patients(db_session, q=form.values["patient_q"], limit=PICKER_SIZE)
            form.choices = result.items
        except HTTPException as exc:
            form.error = _problem(exc)
    if start is None or provider_id is None or location_id is None:
        form.error = "This slot link is incomplete; pick an empty slot on the calendar again."
    elif patient_id is None:
        form.error = form.error or (
            "Choose the patient from the list." if form.choices else "Search for the patient and choose one."
        )
    elif type_id is None:
        form.error = "Choose the appointment type."
    elif len(form.values["note"]) > 2000:
        form.error = "The note may have at most 2000 characters."
    if form.error:
        form.status_code = 422
    else:
        try:
            booked = await booking.book(
                db_session,
                site_of(request).hooks,
                booking.Proposal(
                    patient_id=patient_id,
                    provider_id=provider_id,
                    location_id=location_id,
                    type_id=type_id,
                    starts_at=start,
                    note=form.values["note"] or None,
                ),
            )
        except HTTPException as exc:
            if exc.status_code >= 500 or exc.status_code == 403:
                raise
            await db_session.rollback()
            form.error = _problem(exc)
            extra = exc.extra if isinstance(exc.extra, dict) else {}
            form.conflicts = extra.get("conflicts") or None
            form.status_code = exc.status_code
        else:
            appointment = booked.appointment
            names = await _names(db_session, [appointment.patient_id])
            zone = zoneinfo.ZoneInfo(
                await _zone_lookup(db_session, _clinic_zone(request))(appointment.location_id)
            )
            await db_session.commit()
            notice = (
                f"Booked {names.get(appointment.patient_id, 'the patient')} "
                f"on {appointment.starts_at.astimezone(zone):%a %d %b at %H:%M}."
            )
            return await _screen_after(request, db_session, back, notice=notice, warnings=booked.warnings)
    await db_session.commit()  # the search's audit event, if one was made
    context = await _book_context(request, db_session, form)
    if wants_fragment(request):
        return _refused(
            request, back, render_fragment(request, "scheduling/_book_form.html", form.status_code, **context)
        )
    return await _page(
        request, "scheduling/book.html", form.status_code, page_title="Book an appointment", **context
    )
