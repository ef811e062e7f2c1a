"""The scheduling screens (HTML + htmx) over ``booking``, ``availability`` and ``waitlist``.

    GET  /scheduling/calendar?view=&date=&provider=|location=   day/week grid (htmx: #calendar)
    GET  /scheduling/calendar/book?start=&provider=&location=   the booking form for an empty slot
    POST /scheduling/calendar/book                             book (409/422 inline in the form)
    GET  /scheduling/patients/search?patient_q=                patient choices for the forms
    GET  /scheduling/appointments/{id}                         details and actions
    POST /scheduling/appointments/{id}/{confirm|cancel|check-in|no-show|reschedule}
    GET  /scheduling/today?location=&date=                     the front desk's list (refreshes)
    GET  /scheduling/waitlist                                  the waitlist and its form
    POST /scheduling/waitlist                                  add an entry
    POST /scheduling/waitlist/{id}/remove | /book              take off / book the offered slot
    GET  /scheduling/waitlist/offers?provider=&location=&start= who on the waitlist fits a slot
    GET  /scheduling/patients/{id}/appointments                the chart's Appointments panel

The screen's state lives in its URL (``hx-push-url``), and every form carries ``back``, the
URL of the screen it came from: after a change, htmx gets that screen's fragment with a
notice (no page load), a plain form post a 303 to it. A refused change answers 409/422
with the form and its message, retargeted (``HX-Retarget``) to the screen's dialog area.
Every route that shows or changes patient data is a PHI route and audited: the calendar
and today lists as one read each listing their appointment ids (as core's searches do).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import and_, func, select

from core.plugin_api import (
    DbSession,
    Encounter,
    Location,
    Patient,
    Provider,
    ProviderLocation,
    may,
    page,
    phi_route,
    plugin_config,
    provider_names,
    record,
    requires,
    search_patients,
    site_of,
    utcnow,
)
from plugins.scheduling import availability, booking, calendar_grid, calendar_html, waitlist
from plugins.scheduling.inputs import field_error, parse_date, parse_instant
from plugins.scheduling.models import (
    HOLDING,
    Appointment,
    AppointmentType,
    AvailabilityTemplate,
    WaitlistEntry,
)

READ = [requires("scheduling:appointments", "read")]
WRITE = [requires("scheduling:appointments", "write")]
CSS = "/static/scheduling/scheduling.css"
STATUS_LABELS = {
    "booked": "Booked",
    "confirmed": "Confirmed",
    "arrived": "Arrived",
    "in-room": "In room",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "no-show": "No-show",
}
CHART_PAST = 10
PICKER_SIZE = 8


# -- helpers --------------------------------------------------------------------------------


def _htmx(request: Request) -> bool:
    """An htmx request for a fragment (boosted links and history restores want pages)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and not headers.get("hx-boosted")
        and not headers.get("hx-history-restore-request")
    )


def _fragment(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    held = request.scope["state"].get("session")
    template = Template(
        template_name=name, context={"csrf_token": held[1].csrf_token if held else "", **context}
    )
    template.status_code = status_code
    return template


async def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    template = await page(request, name, css=CSS, **context)
    template.status_code = status_code
    return template


def _clinic_zone(request: Request) -> str:
    return site_of(request).tenant.time_zone or "UTC"


def _safe_back(value: str | None, default: str = "/scheduling/calendar") -> str:
    """Only a path of this plugin's screens (never another site: an open redirect)."""
    value = (value or "").strip()
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/scheduling/"):
        return default
    return value


def _parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip()) if value else None
    except ValueError:
        return None


def _parse_date(value: Any) -> dt.date | None:
    """A date from a query string or form, None when absent, malformed or outside the
    accepted years (the screens then show today)."""
    return parse_date(str(value))[0] if value else None


def _parse_instant(value: Any) -> dt.datetime | None:
    return parse_instant(str(value))[0] if value else None


def _problem(exc: HTTPException) -> str:
    """A refusal's message for a person: the services write ``field: what to do``; the
    field is said as a label ("Reason: say why the appointment is cancelled")."""
    detail = str(exc.detail or "")
    match = re.match(r"^([a-z_]+): (?:required: )?(.*)$", detail, re.S)
    if match:
        detail = f"{match.group(1).replace('_', ' ').capitalize()}: {match.group(2)}"
    return detail or "This could not be done."


async def _names(session, patient_ids) -> dict[uuid.UUID, str]:
    ids = list({i for i in patient_ids if i})
    if not ids:
        return {}
    rows = await session.execute(
        select(Patient.id, Patient.family_name, Patient.given_name).where(Patient.id.in_(ids))
    )
    return {pid: f"{family}, {given}" for pid, family, given in rows}


async def _provider_directory(
    session,
) -> tuple[list[tuple[uuid.UUID, str]], dict[uuid.UUID, str], dict[uuid.UUID, set[uuid.UUID]]]:
    """The active providers (sorted by name), the names of every provider, and the
    locations each active provider is linked to (two statements)."""
    names = await provider_names(session)
    links: dict[uuid.UUID, set[uuid.UUID]] = {}
    rows = await session.execute(
        select(Provider.id, ProviderLocation.location_id)
        .outerjoin(
            ProviderLocation,
            and_(
                ProviderLocation.tenant_id == Provider.tenant_id, ProviderLocation.provider_id == Provider.id
            ),
        )
        .where(Provider.active)
    )
    for provider_id, location_id in rows:
        linked = links.setdefault(provider_id, set())
        if location_id is not None:
            linked.add(location_id)
    listed = sorted(((pid, name) for pid, name in names.items() if pid in links), key=lambda p: p[1].lower())
    return listed, names, links


async def _active_providers(session) -> list[tuple[uuid.UUID, str]]:
    return (await _provider_directory(session))[0]


async def _active_locations(session) -> list[Location]:
    return list(await session.scalars(select(Location).where(Location.active).order_by(Location.name)))


async def _types(session) -> list[AppointmentType]:
    return list(
        await session.scalars(
            select(AppointmentType).where(AppointmentType.active).order_by(AppointmentType.name)
        )
    )


async def _provider_places(
    session, provider_id: uuid.UUID, linked: set[uuid.UUID]
) -> tuple[set[uuid.UUID], list[AvailabilityTemplate]]:
    """Where a provider works (``linked`` locations, or with weekly blocks there) and all
    of their weekly blocks (read once: they say both where and when)."""
    templates = list(
        await session.scalars(
            select(AvailabilityTemplate).where(AvailabilityTemplate.provider_id == provider_id)
        )
    )
    return linked | {t.location_id for t in templates}, templates


async def _location_staff(
    session, location_id: uuid.UUID, links: dict[uuid.UUID, set[uuid.UUID]]
) -> tuple[set[uuid.UUID], list[AvailabilityTemplate]]:
    """Which active providers work at a location (linked to it in ``links``, or with weekly
    blocks there; others may have blocks too) and all weekly blocks there."""
    templates = list(
        await session.scalars(
            select(AvailabilityTemplate).where(AvailabilityTemplate.location_id == location_id)
        )
    )
    linked = {provider_id for provider_id, places in links.items() if location_id in places}
    return linked | {t.provider_id for t in templates}, templates


async def _location_providers(session, location_id: uuid.UUID) -> set[uuid.UUID]:
    linked = set(
        await session.scalars(
            select(ProviderLocation.provider_id).where(ProviderLocation.location_id == location_id)
        )
    )
    templated = set(
        await session.scalars(
            select(AvailabilityTemplate.provider_id).where(AvailabilityTemplate.location_id == location_id)
        )
    )
    return linked | templated


@dataclass
class AppointmentView:
    """An appointment as the screens draw it."""

    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    provider_id: uuid.UUID
    provider_name: str
    location_id: uuid.UUID
    location_name: str
    type_name: str
    colour: str
    status: str
    arrival: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    local_start: dt.datetime
    local_end: dt.datetime
    encounter_id: uuid.UUID | None
    note: str | None
    cancel_reason: str | None
    actions: tuple[str, ...]

    @property
    def holds_time(self) -> bool:
        return self.status in HOLDING

    @property
    def arrival_label(self) -> str:
        return STATUS_LABELS.get(self.arrival, self.arrival)


async def _views(
    session, conditions, zone_of, *, order=None, limit=None, known_providers=None
) -> list[AppointmentView]:
    """Appointments matching ``conditions`` with what the screens show of them
    (``known_providers``: provider names already read; only the others are looked up)."""
    query = (
        select(
            Appointment.id,
            Appointment.patient_id,
            Appointment.provider_id,
            Appointment.location_id,
            Appointment.status,
            Appointment.starts_at,
            Appointment.ends_at,
            Appointment.encounter_id,
            Appointment.note,
            Appointment.cancel_reason,
            AppointmentType.name,
            AppointmentType.colour,
            Location.name,
            Encounter.status,
            Patient.family_name,
            Patient.given_name,
        )
        .join(AppointmentType, AppointmentType.id == Appointment.type_id)
        .join(Location, Location.id == Appointment.location_id)
        .outerjoin(Encounter, Encounter.id == Appointment.encounter_id)
        .outerjoin(Patient, Patient.id == Appointment.patient_id)
        .where(*conditions)
        .order_by(*(order if order is not None else (Appointment.starts_at, Appointment.id)))
    )
    if limit:
        query = query.limit(limit)
    rows = (await session.execute(query)).all()
    wanted = {r[2] for r in rows}
    known = known_providers or {}
    providers = {pid: known[pid] for pid in wanted if pid in known}
    if wanted - providers.keys():
        providers.update(await provider_names(session, list(wanted - providers.keys())))
    views = []
    zones: dict[uuid.UUID, zoneinfo.ZoneInfo] = {}
    for (
        appointment_id,
        patient_id,
        provider_id,
        location_id,
        status,
        starts_at,
        ends_at,
        encounter_id,
        note,
        cancel_reason,
        type_name,
        colour,
        location_name,
        encounter_status,
        family,
        given,
    ) in rows:
        zone = zones.get(location_id)
        if zone is None:
            zone = zones[location_id] = zoneinfo.ZoneInfo(await zone_of(location_id))
        arrival = status
        if status == "arrived" and encounter_status == "in-progress":
            arrival = "in-room"
        elif status == "arrived" and encounter_status == "finished":
            arrival = "completed"
        views.append(
            AppointmentView(
                id=appointment_id,
                patient_id=patient_id,
                patient_name=f"{family}, {given}" if family is not None else "Unknown patient",
                provider_id=provider_id,
                provider_name=providers.get(provider_id, "Unknown provider"),
                location_id=location_id,
                location_name=location_name,
                type_name=type_name,
                colour=colour,
                status=status,
                arrival=arrival,
                starts_at=starts_at,
                ends_at=ends_at,
                local_start=starts_at.astimezone(zone),
                local_end=ends_at.astimezone(zone),
                encounter_id=encounter_id,
                note=note,
                cancel_reason=cancel_reason,
                actions=booking.ACTIONS.get(status, ()),
            )
        )
    return views


def _zone_lookup(session, default: str, known: dict[uuid.UUID, str | None] | None = None):
    """A cached ``location id -> IANA zone`` (a location without one uses the clinic's);
    ``known``: zones of locations already read (others are looked up)."""
    cache: dict[uuid.UUID, str] = {lid: zone or default for lid, zone in (known or {}).items()}

    async def zone_of(location_id: uuid.UUID) -> str:
        if location_id not in cache:
            zone = await session.scalar(select(Location.time_zone).where(Location.id == location_id))
            cache[location_id] = zone or default
        return cache[location_id]

    return zone_of


async def _audit_list(session, views: list[AppointmentView], via: str, patient_id=None) -> None:
    """One read event for a list of appointments: their ids and count (never names)."""
    await record(
        session,
        action="read",
        resource_type="appointment",
        patient_id=patient_id,
        detail={"via": via, "results": len(views), "appointment_ids": [str(v.id) for v in views]},
    )


# -- the calendar ---------------------------------------------------------------------------


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
        return _fragment(request, "scheduling/_calendar.html", status_code, **context)
    return await _page(request, "scheduling/calendar.html", status_code, page_title="Calendar", **context)


@phi_route
@get("/scheduling/calendar", name="scheduling:calendar", guards=READ, include_in_schema=False)
async def calendar(request: Request, db_session: DbSession) -> Template:
    """A provider's or a location's day or week; audited as one read of the appointments
    shown (their ids)."""
    state = CalendarState.from_query(request.query_params)
    return await _render_calendar(request, db_session, state, fragment=_htmx(request))


# -- after a change: back to the screen it came from ----------------------------------------


async def _screen_after(
    request: Request, session, back: str, *, notice: str | None = None, warnings=(), error: str | None = None
) -> Response:
    """The screen ``back`` names (calendar, today or waitlist), re-rendered with a notice
    for htmx, or a 303 to it for a plain form post."""
    if not _htmx(request):
        return Redirect(back, status_code=303)
    parts = urlsplit(back)
    params = dict(parse_qsl(parts.query))
    extra = {"notice": notice, "warnings": list(warnings), "error": error}
    if parts.path == "/scheduling/today":
        return await _render_today(request, session, params, fragment=True, **extra)
    if parts.path == "/scheduling/waitlist":
        return await _render_waitlist(request, session, fragment=True, **extra)
    return await _render_calendar(request, session, CalendarState.from_query(params), fragment=True, **extra)


def _dialog_target(back: str) -> str:
    path = urlsplit(back).path
    if path == "/scheduling/today":
        return "#today-dialog"
    if path == "/scheduling/waitlist":
        return "#waitlist-dialog"
    return "#calendar-dialog"


def _refused(request: Request, back: str, template: Template) -> Template:
    """A refused form goes back into the screen's dialog area, not over the screen."""
    if _htmx(request):
        template.headers = {"HX-Retarget": _dialog_target(back), "HX-Reswap": "innerHTML"}
    return template


# -- booking from an empty slot -------------------------------------------------------------


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
    if _htmx(request):
        return _fragment(request, "scheduling/_book_form.html", form.status_code, **context)
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
    return _fragment(
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
    if _htmx(request):
        return _refused(
            request, back, _fragment(request, "scheduling/_book_form.html", form.status_code, **context)
        )
    return await _page(
        request, "scheduling/book.html", form.status_code, page_title="Book an appointment", **context
    )


# -- one appointment: details and actions ---------------------------------------------------


async def _one(request: Request, session, appointment_id: uuid.UUID) -> AppointmentView:
    views = await _views(
        session, [Appointment.id == appointment_id], _zone_lookup(session, _clinic_zone(request))
    )
    if not views:
        raise NotFoundException(detail="There is no such appointment in this clinic.")
    return views[0]


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
    if _htmx(request):
        return _fragment(request, "scheduling/_appointment.html", **context)
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
        if _htmx(request):
            return _refused(
                request, back, _fragment(request, "scheduling/_appointment.html", exc.status_code, **context)
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


# -- today ----------------------------------------------------------------------------------


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
        return _fragment(request, "scheduling/_today.html", **context)
    return await _page(request, "scheduling/today.html", page_title="Today", **context)


@phi_route
@get("/scheduling/today", name="scheduling:today", guards=READ, include_in_schema=False)
async def today(request: Request, db_session: DbSession) -> Template:
    """The front desk's list for one location and day (refreshes itself every 30 s; each
    refresh is audited like the first view)."""
    return await _render_today(request, db_session, request.query_params, fragment=_htmx(request))


# -- the waitlist ---------------------------------------------------------------------------


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
        return _fragment(request, "scheduling/_waitlist.html", status_code, **context)
    return await _page(request, "scheduling/waitlist.html", status_code, page_title="Waitlist", **context)


@phi_route
@get("/scheduling/waitlist", name="scheduling:waitlist", guards=READ, include_in_schema=False)
async def waitlist_screen(request: Request, db_session: DbSession) -> Template:
    """Who is waiting, what suits them, and the slots they were offered (audited)."""
    return await _render_waitlist(request, db_session, fragment=_htmx(request))


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
            fragment=_htmx(request),
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
        if not _htmx(request):
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
    if _htmx(request):
        return _fragment(request, "scheduling/_offers.html", **context)
    return await _page(request, "scheduling/offers.html", page_title="Waitlist offers", **context)


# -- the chart's Appointments panel ---------------------------------------------------------


@phi_route
@get(
    "/scheduling/patients/{patient_id:uuid}/appointments",
    name="scheduling:patient-appointments",
    guards=READ,
    include_in_schema=False,
)
async def patient_appointments(
    request: Request, db_session: DbSession, patient_id: FromPath[uuid.UUID]
) -> Template:
    """A patient's upcoming and recent appointments and no-show count (the chart loads this
    into its Appointments panel); audited as a read for the patient."""
    if await db_session.get(Patient, (site_of(request).tenant.id, patient_id)) is None:
        raise NotFoundException(detail="There is no such patient in this clinic.")
    now = utcnow()
    zone_of = _zone_lookup(db_session, _clinic_zone(request))
    upcoming = await _views(
        db_session,
        [Appointment.patient_id == patient_id, Appointment.starts_at >= now, Appointment.status.in_(HOLDING)],
        zone_of,
    )
    past = await _views(
        db_session,
        [Appointment.patient_id == patient_id, Appointment.starts_at < now],
        zone_of,
        order=(Appointment.starts_at.desc(), Appointment.id),
        limit=CHART_PAST,
    )
    no_shows = await db_session.scalar(
        select(func.count())
        .select_from(Appointment)
        .where(and_(Appointment.patient_id == patient_id, Appointment.status == "no-show"))
    )
    await _audit_list(db_session, upcoming + past, "chart", patient_id=patient_id)
    await db_session.commit()
    context = {
        "patient_id": patient_id,
        "upcoming": upcoming,
        "past": past,
        "no_shows": no_shows or 0,
        "status_labels": STATUS_LABELS,
        "can_write": may(request, "scheduling:appointments", "write"),
    }
    if _htmx(request):
        return _fragment(request, "scheduling/_patient_appointments.html", **context)
    return await _page(request, "scheduling/patient_appointments.html", page_title="Appointments", **context)


ROUTES: list = [
    calendar,
    book_form,
    patient_choices,
    book,
    appointment_detail,
    confirm_appointment,
    cancel_appointment,
    check_in_appointment,
    no_show_appointment,
    reschedule_appointment,
    today,
    waitlist_screen,
    waitlist_add,
    waitlist_remove,
    waitlist_book,
    waitlist_offers,
    patient_appointments,
]
