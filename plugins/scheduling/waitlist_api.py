"""The waitlist's JSON API (the screen is in ``screens.py``); services in ``waitlist.py``.

    GET    /api/scheduling/waitlist?status=&patient_id=   entries (default: waiting and offered)
    POST   /api/scheduling/waitlist                       add {patient_id, type_id, provider_id?,
                                                          location_id?, earliest_date,
                                                          latest_date?, weekdays?, note?}
    GET    /api/scheduling/waitlist/{id}                  one entry (with its offer, if any)
    DELETE /api/scheduling/waitlist/{id}                  take off the list (kept as "removed")
    POST   /api/scheduling/waitlist/{id}/book             book the slot it was offered (409 if taken)

Reading needs ``scheduling:appointments read``, changing it ``write``; every handler is a
PHI route and records its audit event in the transaction of the access.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, delete, get, post
from litestar.exceptions import ClientException
from litestar.params import FromPath, FromQuery, JSONBody

from core.plugin_api import DbSession, location_time_zone, phi_route, requires, site_of
from plugins.scheduling import waitlist
from plugins.scheduling.models import WAITLIST_STATUSES

READ = [requires("scheduling:appointments", "read")]
WRITE = [requires("scheduling:appointments", "write")]
TAGS = ["scheduling"]


@phi_route
@get("/api/scheduling/waitlist", name="scheduling:api-waitlist", guards=READ, tags=TAGS)
async def list_waitlist(
    db_session: DbSession,
    status: FromQuery[str | None] = None,
    patient_id: FromQuery[uuid.UUID | None] = None,
) -> list[dict[str, Any]]:
    """Entries, oldest first; ``status`` is one status or a comma-separated list."""
    statuses = tuple(s.strip() for s in (status or "waiting,offered").split(",") if s.strip())
    unknown = [s for s in statuses if s not in WAITLIST_STATUSES]
    if unknown or not statuses:
        raise ClientException(
            status_code=422,
            detail=f"status: use one or more of {', '.join(WAITLIST_STATUSES)}, comma-separated",
        )
    entries = await waitlist.list_entries(db_session, statuses=statuses, patient_id=patient_id)
    await db_session.commit()
    return [waitlist.entry_json(e) for e in entries]


@phi_route
@post(
    "/api/scheduling/waitlist", name="scheduling:api-waitlist-add", guards=WRITE, tags=TAGS, status_code=201
)
async def add_to_waitlist(db_session: DbSession, data: JSONBody[Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ClientException(status_code=422, detail="Send a JSON object.")
    weekdays = data.get("weekdays") or []
    if not isinstance(weekdays, list):
        raise waitlist.WaitlistInputError({"weekdays": "Send a list of weekday numbers, 0 (Monday) to 6."})
    request = waitlist.read_request(data, weekdays)
    entry = await waitlist.add_entry(db_session, request)
    body = waitlist.entry_json(entry)
    await db_session.commit()
    return body


@phi_route
@get("/api/scheduling/waitlist/{entry_id:uuid}", name="scheduling:api-waitlist-entry", guards=READ, tags=TAGS)
async def show_waitlist_entry(db_session: DbSession, entry_id: FromPath[uuid.UUID]) -> dict[str, Any]:
    entry = await waitlist.get_entry(db_session, entry_id)
    body = waitlist.entry_json(entry)
    await db_session.commit()
    return body


@phi_route
@delete(
    "/api/scheduling/waitlist/{entry_id:uuid}",
    name="scheduling:api-waitlist-remove",
    guards=WRITE,
    tags=TAGS,
    status_code=200,
)
async def remove_from_waitlist(db_session: DbSession, entry_id: FromPath[uuid.UUID]) -> dict[str, Any]:
    entry = await waitlist.get_entry(db_session, entry_id, audit=None)
    await waitlist.remove_entry(db_session, entry)
    body = waitlist.entry_json(entry)
    await db_session.commit()
    return body


@phi_route
@post(
    "/api/scheduling/waitlist/{entry_id:uuid}/book",
    name="scheduling:api-waitlist-book",
    guards=WRITE,
    tags=TAGS,
    status_code=201,
)
async def book_from_waitlist(
    request: Request, db_session: DbSession, entry_id: FromPath[uuid.UUID]
) -> dict[str, Any]:
    """Book the freed slot this entry was offered (a 409 names the conflict when it was
    taken meanwhile)."""
    from plugins.scheduling import booking

    entry = await waitlist.get_entry(db_session, entry_id, audit=None)
    booked = await waitlist.book_offer(db_session, site_of(request).hooks, entry)
    zone = await location_time_zone(db_session, booked.appointment.location_id)
    body = {
        "entry": waitlist.entry_json(entry),
        "appointment": booking.appointment_json(booked.appointment, zone),
        "warnings": list(booked.warnings),
    }
    await db_session.commit()
    return body


ROUTES: list = [list_waitlist, add_to_waitlist, show_waitlist_entry, remove_from_waitlist, book_from_waitlist]
