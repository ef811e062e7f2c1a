"""Waitlist changes: add an entry, take one off, book the offered slot."""

from __future__ import annotations

import uuid
import zoneinfo

from litestar import Request, Response, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from core.plugin_api import (
    DbSession,
    phi_route,
    site_of,
    wants_fragment,
)
from plugins.scheduling import waitlist
from plugins.scheduling.screens.after import _screen_after
from plugins.scheduling.screens.common import (
    WRITE,
    _clinic_zone,
    _names,
    _problem,
    _safe_back,
    _zone_lookup,
)
from plugins.scheduling.screens.waitlist import _render_waitlist


@phi_route
@post(
    "/scheduling/waitlist",
    name="scheduling:waitlist-add",
    guards=WRITE,
    include_in_schema=False,
    status_code=200,
)
async def waitlist_add(request: Request, db_session: DbSession) -> Response:
    submitted = await request.form()
    keys = (
        "patient_id",
        "patient_q",
        "type_id",
        "provider_id",
        "location_id",
        "earliest_date",
        "latest_date",
        "note",
    )
    values = {k: (submitted.get(k) or "").strip() for k in keys}
    weekdays = submitted.getall("weekdays", [])
    values["weekdays"] = list(weekdays)
    try:
        entry = await waitlist.add_entry(db_session, waitlist.read_request(values, weekdays))
    except waitlist.WaitlistInputError as exc:
        await db_session.rollback()
        return await _render_waitlist(
            request,
            db_session,
            fragment=wants_fragment(request),
            status_code=422,
            form_errors=exc.errors,
            values=values,
        )
    names = await _names(db_session, [entry.patient_id])
    await db_session.commit()
    return await _screen_after(
        request,
        db_session,
        "/scheduling/waitlist",
        notice=f"{names.get(entry.patient_id)} is on the waitlist.",
    )


@phi_route
@post(
    "/scheduling/waitlist/{entry_id:uuid}/remove",
    name="scheduling:waitlist-remove",
    guards=WRITE,
    include_in_schema=False,
    status_code=200,
)
async def waitlist_remove(request: Request, db_session: DbSession, entry_id: FromPath[uuid.UUID]) -> Response:
    entry = await waitlist.get_entry(db_session, entry_id, audit=None)
    back = _safe_back((await request.form()).get("back"), "/scheduling/waitlist")
    await waitlist.remove_entry(db_session, entry)
    names = await _names(db_session, [entry.patient_id])
    await db_session.commit()
    return await _screen_after(
        request, db_session, back, notice=f"{names.get(entry.patient_id)} is off the waitlist."
    )


@phi_route
@post(
    "/scheduling/waitlist/{entry_id:uuid}/book",
    name="scheduling:waitlist-book",
    guards=WRITE,
    include_in_schema=False,
    status_code=200,
)
async def waitlist_book(request: Request, db_session: DbSession, entry_id: FromPath[uuid.UUID]) -> Response:
    """Book the freed slot for this entry's patient (one click from the offer)."""
    back = _safe_back((await request.form()).get("back"), "/scheduling/waitlist")
    entry = await waitlist.get_entry(db_session, entry_id, audit=None)
    try:
        booked = await waitlist.book_offer(db_session, site_of(request).hooks, entry)
    except HTTPException as exc:
        if exc.status_code >= 500 or exc.status_code in (403, 404):
            raise
        await db_session.rollback()
        if not wants_fragment(request):
            return await _render_waitlist(
                request, db_session, fragment=False, status_code=exc.status_code, error=_problem(exc)
            )
        return await _screen_after(request, db_session, back, error=_problem(exc))
    appointment = booked.appointment
    names = await _names(db_session, [appointment.patient_id])
    zone = zoneinfo.ZoneInfo(await _zone_lookup(db_session, _clinic_zone(request))(appointment.location_id))
    await db_session.commit()
    notice = (
        f"Booked {names.get(appointment.patient_id, 'the patient')} from the waitlist "
        f"on {appointment.starts_at.astimezone(zone):%a %d %b at %H:%M}."
    )
    return await _screen_after(request, db_session, back, notice=notice, warnings=booked.warnings)
