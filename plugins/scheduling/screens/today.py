"""Today: the front desk's list."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.response import Template

from core.plugin_api import (
    DbSession,
    may,
    phi_route,
    provider_names,
    render_fragment,
    utcnow,
    wants_fragment,
)
from plugins.scheduling import availability, waitlist
from plugins.scheduling.models import (
    Appointment,
)
from plugins.scheduling.screens.common import (
    READ,
    STATUS_LABELS,
    AppointmentView,
    _active_locations,
    _audit_list,
    _clinic_zone,
    _page,
    _parse_date,
    _parse_uuid,
    _views,
    _zone_lookup,
)


async def _render_today(request: Request, session, params, *, fragment: bool, **extra: Any) -> Template:
    locations = await _active_locations(session)
    location_id = _parse_uuid(params.get("location"))
    location = next((loc for loc in locations if loc.id == location_id), locations[0] if locations else None)
    zone_name = (location.time_zone if location else None) or _clinic_zone(request)
    zone = zoneinfo.ZoneInfo(zone_name)
    today = dt.datetime.now(zone).date()
    day = _parse_date(params.get("date")) or today
    views: list[AppointmentView] = []
    offers: list[dict[str, Any]] = []
    url = "/scheduling/today"
    if location is not None:
        url += "?" + urlencode({"location": location.id, "date": day.isoformat()})
        low, high = availability.day_bounds(day, day, zone)
        views = await _views(
            session,
            [
                Appointment.location_id == location.id,
                Appointment.starts_at >= low,
                Appointment.starts_at < high,
            ],
            _zone_lookup(session, _clinic_zone(request)),
        )
        await _audit_list(session, views, "today")
        slots = await waitlist.slot_offers(
            session, start=max(low, utcnow()), end=high, location_id=location.id
        )
        providers = await provider_names(session, list({s.provider_id for s in slots}))
        for slot, count in sorted(slots.items(), key=lambda item: item[0].starts_at):
            offers.append(
                {
                    "count": count,
                    "when": slot.starts_at.astimezone(zone),
                    "provider": providers.get(slot.provider_id, ""),
                    "url": "/scheduling/waitlist/offers?"
                    + urlencode(
                        {
                            "provider": slot.provider_id,
                            "location": slot.location_id,
                            "start": slot.starts_at.isoformat(),
                            "back": url,
                        }
                    ),
                }
            )
    await session.commit()
    context = {
        "locations": locations,
        "location": location,
        "day": day,
        "today": today,
        "zone": zone_name,
        "appointments": views,
        "offers": offers,
        "self_url": url,
        "back": url,
        "can_write": may(request, "scheduling:appointments", "write"),
        "status_labels": STATUS_LABELS,
        "now": utcnow(),
        **extra,
    }
    if fragment:
        return render_fragment(request, "scheduling/_today.html", **context)
    return await _page(request, "scheduling/today.html", page_title="Today", **context)


@phi_route
@get("/scheduling/today", name="scheduling:today", guards=READ, include_in_schema=False)
async def today(request: Request, db_session: DbSession) -> Template:
    """The front desk's list for one location and day (refreshes itself every 30 s; each
    refresh is audited like the first view)."""
    return await _render_today(request, db_session, request.query_params, fragment=wants_fragment(request))
