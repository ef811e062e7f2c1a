"""The calendar: day/week grid per provider or per location."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, get
from litestar.response import Template

from core.plugin_api import (
    DbSession,
    may,
    phi_route,
    plugin_config,
    render_fragment,
    utcnow,
    wants_fragment,
)
from plugins.scheduling import availability, calendar_grid, calendar_html, waitlist
from plugins.scheduling.models import (
    Appointment,
)
from plugins.scheduling.screens.common import (
    READ,
    AppointmentView,
    _active_locations,
    _audit_list,
    _clinic_zone,
    _location_staff,
    _page,
    _parse_date,
    _parse_uuid,
    _provider_directory,
    _provider_places,
    _views,
    _zone_lookup,
)


@dataclass
class CalendarState:
    """What the calendar shows; all of it is in the URL."""

    view: str = "week"
    day: dt.date | None = None
    provider_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None

    @classmethod
    def from_query(cls, params) -> CalendarState:
        view = params.get("view") if params.get("view") in ("day", "week") else "week"
        return cls(
            view=view,
            day=_parse_date(params.get("date")),
            provider_id=_parse_uuid(params.get("provider")),
            location_id=_parse_uuid(params.get("location")),
        )

    def url(self, **over: Any) -> str:
        values = {
            "view": self.view,
            "date": self.day.isoformat() if self.day else None,
            "provider": self.provider_id,
            "location": self.location_id,
        }
        values.update(over)
        return "/scheduling/calendar?" + urlencode({k: str(v) for k, v in values.items() if v})


async def _calendar_context(request: Request, session, state: CalendarState) -> dict[str, Any]:
    """Everything the calendar template draws; records the audit event of the view."""
    providers, all_provider_names, links = await _provider_directory(session)
    locations = await _active_locations(session)
    provider_ids = {p for p, _ in providers}
    location_by_id = {loc.id: loc for loc in locations}
    if state.provider_id not in provider_ids:
        state.provider_id = None
    if state.location_id not in location_by_id:
        state.location_id = None
    if state.provider_id is None and state.location_id is None:
        if providers:
            state.provider_id = providers[0][0]
        elif locations:
            state.location_id = locations[0].id
    clinic_zone = _clinic_zone(request)
    provider_places, templates = (
        await _provider_places(session, state.provider_id, links[state.provider_id])
        if state.provider_id
        else (set(), [])
    )
    if state.location_id:
        zone_name = location_by_id[state.location_id].time_zone or clinic_zone
    else:
        # a provider's week is shown in the zone of the places they work, when they agree
        places = (
            {location_by_id[loc].time_zone or clinic_zone for loc in provider_places if loc in location_by_id}
            if state.provider_id
            else set()
        )
        zone_name = places.pop() if len(places) == 1 else clinic_zone
    zone = zoneinfo.ZoneInfo(zone_name)
    today = dt.datetime.now(zone).date()
    state.day = state.day or today
    days = calendar_grid.days_of_view(state.view, state.day)
    low, high = availability.day_bounds(days[0], days[-1], zone)
    slot = int(plugin_config(request, "scheduling").get("slot_minutes") or availability.DEFAULT_SLOT_MINUTES)

    # who works where, in this view
    pairs: list[tuple[uuid.UUID, uuid.UUID]] = []
    if state.provider_id:
        pairs = [(state.provider_id, loc) for loc in provider_places]
    elif state.location_id:
        staff, templates = await _location_staff(session, state.location_id, links)
        pairs = [(p, state.location_id) for p in staff]
    pairs = [(p, loc) for p, loc in pairs if p in provider_ids and loc in location_by_id]
    by_pair = await availability.working_intervals_by_pair(
        session,
        pairs,
        start=days[0],
        end=days[-1],
        zones={loc.id: loc.time_zone or clinic_zone for loc in locations},
        templates=templates,
    )
    working = [(start, end, pair) for pair in pairs for start, end in by_pair[pair]]

    conditions = [Appointment.starts_at < high, Appointment.ends_at > low, Appointment.status != "cancelled"]
    if state.provider_id:
        conditions.append(Appointment.provider_id == state.provider_id)
    else:
        conditions.append(Appointment.location_id == state.location_id)
    zone_of = _zone_lookup(session, clinic_zone, {loc.id: loc.time_zone for loc in locations})
    views = (
        await _views(session, conditions, zone_of, known_providers=all_provider_names)
        if pairs or state.day
        else []
    )
    await _audit_list(session, views, "calendar")

    back = state.url()
    offers = await waitlist.slot_offers(
        session, start=low, end=high, provider_id=state.provider_id, location_id=state.location_id
    )
    markers = [
        (
            s.starts_at,
            s.ends_at,
            {
                "count": n,
                "url": "/scheduling/waitlist/offers?"
                + urlencode(
                    {
                        "provider": s.provider_id,
                        "location": s.location_id,
                        "start": s.starts_at.isoformat(),
                        "back": back,
                    }
                ),
            },
        )
        for s, n in offers.items()
    ]
    first_hour, last_hour = calendar_grid.hour_range(
        days, zone, [(s, e) for s, e, _ in working] + [(v.starts_at, v.ends_at) for v in views]
    )
    columns = calendar_grid.build_columns(
        days,
        zone,
        slot_minutes=slot,
        first_hour=first_hour,
        last_hour=last_hour,
        working=[(s, e) for s, e, _ in working],
        appointments=views,
        markers=markers,
        now=utcnow(),
    )
    can_write = may(request, "scheduling:appointments", "write")
    book_url = _slot_booking(working, views, slot, back) if can_write else None
    back_query = quote(back, safe="/")
    bodies = []
    for column in columns:
        column.runs = calendar_grid.runs(column.cells, book_url)
        bodies.append(
            calendar_html.runs_html(column.runs, f"{column.day:%a %d %b}")
            + "\n"
            + calendar_html.appointments_html(column.blocks, back_query, with_provider=not state.provider_id)
        )
    rows = len(columns[0].cells) if columns else 0
    return {
        "state": state,
        "providers": providers,
        "locations": locations,
        "zone": zone_name,
        "today": today,
        "days": days,
        "columns": columns,
        "bodies": bodies,
        "rows": rows,
        "hours": calendar_grid.hour_starts(first_hour, rows, slot),
        "hour_rows": calendar_grid.hour_period(slot),
        "first_hour": first_hour,
        "slot_minutes": slot,
        "appointment_count": len(views),
        "prev_url": state.url(date=calendar_grid.step(state.view, state.day, -1).isoformat()),
        "next_url": state.url(date=calendar_grid.step(state.view, state.day, 1).isoformat()),
        "today_url": state.url(date=today.isoformat()),
        "back": back,
        "can_write": can_write,
        "has_calendar": bool(providers or locations),
    }


def _slot_booking(working, views: list[AppointmentView], slot: int, back: str):
    """``(instant, its ISO 8601) -> URL of the booking form`` of a bookable cell, with the first (provider,
    location) of ``working`` (start, end, pair) that works the whole slot and whose provider
    has no holding appointment in it; None when there is none."""
    length = dt.timedelta(minutes=slot)
    by_pair: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[dt.datetime, dt.datetime]]] = {}
    for start, end, pair in working:
        by_pair.setdefault(pair, []).append((start, end))
    busy: dict[uuid.UUID, list[tuple[dt.datetime, dt.datetime]]] = {}
    for v in views:
        if v.holds_time:
            busy.setdefault(v.provider_id, []).append((v.starts_at, v.ends_at))
    candidates = [
        (
            calendar_grid.IntervalIndex(intervals),
            calendar_grid.IntervalIndex(busy.get(provider_id, ())),
            "&" + urlencode({"provider": provider_id, "location": location_id, "back": back}),
        )
        for (provider_id, location_id), intervals in by_pair.items()
    ]

    def book_url(start: dt.datetime, iso: str) -> str | None:
        end = start + length
        for works, taken, rest in candidates:
            if works.covers(start, end) and not taken.overlaps(start, end):
                # what urlencode makes of a UTC instant in ISO 8601 (digits, "-", "T", ":", "+")
                return "/scheduling/calendar/book?start=" + iso.replace(":", "%3A").replace("+", "%2B") + rest
        return None

    return book_url


async def _render_calendar(
    request: Request, session, state: CalendarState, *, fragment: bool, status_code: int = 200, **extra: Any
) -> Template:
    context = await _calendar_context(request, session, state)
    await session.commit()
    context.update(extra)
    if fragment:
        return render_fragment(request, "scheduling/_calendar.html", status_code, **context)
    return await _page(request, "scheduling/calendar.html", status_code, page_title="Calendar", **context)


@phi_route
@get("/scheduling/calendar", name="scheduling:calendar", guards=READ, include_in_schema=False)
async def calendar(request: Request, db_session: DbSession) -> Template:
    """A provider's or a location's day or week; audited as one read of the appointments
    shown (their ids)."""
    state = CalendarState.from_query(request.query_params)
    return await _render_calendar(request, db_session, state, fragment=wants_fragment(request))
