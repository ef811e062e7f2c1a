"""The waitlist screen and who on it fits a slot."""

from __future__ import annotations

import zoneinfo
from typing import Any

from litestar import Request, get
from litestar.exceptions import HTTPException
from litestar.response import Template
from sqlalchemy import select

from core.plugin_api import (
    DbSession,
    Location,
    may,
    phi_route,
    provider_names,
    render_fragment,
    wants_fragment,
)
from plugins.scheduling import waitlist
from plugins.scheduling.models import (
    AppointmentType,
    WaitlistEntry,
)
from plugins.scheduling.screens.common import (
    READ,
    _active_locations,
    _active_providers,
    _clinic_zone,
    _names,
    _page,
    _parse_instant,
    _parse_uuid,
    _safe_back,
    _types,
    _zone_lookup,
)


async def _waitlist_rows(request: Request, session, entries: list[WaitlistEntry]) -> list[dict[str, Any]]:
    names = await _names(session, [e.patient_id for e in entries])
    providers = await provider_names(session)
    types = {t.id: t.name for t in await session.scalars(select(AppointmentType))}
    locations = {loc.id: loc for loc in await session.scalars(select(Location))}
    rows = []
    for e in entries:
        offer = None
        if e.status == "offered" and e.offered_starts_at:
            loc = locations.get(e.offered_location_id)
            zone = zoneinfo.ZoneInfo((loc.time_zone if loc else None) or _clinic_zone(request))
            offer = {
                "when": e.offered_starts_at.astimezone(zone),
                "provider": providers.get(e.offered_provider_id, ""),
                "location": loc.name if loc else "",
            }
        rows.append(
            {
                "entry": e,
                "patient": names.get(e.patient_id, "Unknown patient"),
                "type": types.get(e.type_id, ""),
                "provider": providers.get(e.provider_id, "") if e.provider_id else "Any provider",
                "location": locations[e.location_id].name if e.location_id in locations else "Any location",
                "weekdays": waitlist.weekdays_label(e),
                "offer": offer,
            }
        )
    return rows


async def _render_waitlist(
    request: Request,
    session,
    *,
    fragment: bool,
    status_code: int = 200,
    form_errors=None,
    values=None,
    **extra,
) -> Template:
    entries = await waitlist.list_entries(session)
    context = {
        "rows": await _waitlist_rows(request, session, entries),
        "types": await _types(session),
        "providers": await _active_providers(session),
        "locations": await _active_locations(session),
        "weekday_names": waitlist.WEEKDAYS,
        "errors": form_errors or {},
        "values": values or {},
        "back": "/scheduling/waitlist",
        "can_write": may(request, "scheduling:appointments", "write"),
        **extra,
    }
    await session.commit()
    if fragment:
        return render_fragment(request, "scheduling/_waitlist.html", status_code, **context)
    return await _page(request, "scheduling/waitlist.html", status_code, page_title="Waitlist", **context)


@phi_route
@get("/scheduling/waitlist", name="scheduling:waitlist", guards=READ, include_in_schema=False)
async def waitlist_screen(request: Request, db_session: DbSession) -> Template:
    """Who is waiting, what suits them, and the slots they were offered (audited)."""
    return await _render_waitlist(request, db_session, fragment=wants_fragment(request))


@phi_route
@get("/scheduling/waitlist/offers", name="scheduling:waitlist-offers", guards=READ, include_in_schema=False)
async def waitlist_offers(request: Request, db_session: DbSession) -> Template:
    """Who on the waitlist was offered one freed slot, each with a one-click booking."""
    q = request.query_params
    provider_id, location_id, start = (
        _parse_uuid(q.get("provider")),
        _parse_uuid(q.get("location")),
        _parse_instant(q.get("start")),
    )
    if provider_id is None or location_id is None or start is None:
        raise HTTPException(status_code=422, detail="Open the offer from the calendar or today list again.")
    entries = await waitlist.offers_for(db_session, waitlist.Slot(provider_id, location_id, start, start))
    rows = await _waitlist_rows(request, db_session, entries)
    zone = zoneinfo.ZoneInfo(await _zone_lookup(db_session, _clinic_zone(request))(location_id))
    context = {
        "rows": rows,
        "when": start.astimezone(zone),
        "provider": (await provider_names(db_session, [provider_id])).get(provider_id, ""),
        "back": _safe_back(q.get("back")),
        "can_write": may(request, "scheduling:appointments", "write"),
    }
    await db_session.commit()
    if wants_fragment(request):
        return render_fragment(request, "scheduling/_offers.html", **context)
    return await _page(request, "scheduling/offers.html", page_title="Waitlist offers", **context)
