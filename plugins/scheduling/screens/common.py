"""Helpers the scheduling screens share: htmx answers, parsing, lookups, appointment views."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.response import Template
from sqlalchemy import and_, select

from core.plugin_api import (
    Encounter,
    Location,
    Patient,
    Provider,
    ProviderLocation,
    page,
    provider_names,
    record,
    requires,
    site_of,
)
from plugins.scheduling import booking
from plugins.scheduling.inputs import parse_date, parse_instant
from plugins.scheduling.models import (
    HOLDING,
    Appointment,
    AppointmentType,
    AvailabilityTemplate,
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
