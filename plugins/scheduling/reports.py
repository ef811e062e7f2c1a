"""No-show rate and utilisation per provider for a date range, as JSON and as a page.

Definitions (the page states them too, so nobody compares two different numbers):

* **appointments**: every appointment starting in the range, whatever its status;
* **no-show rate** = no-shows / (completed + arrived + no-shows): of the visits that were
  due to happen and were not cancelled, the share the patient missed. Booked and
  confirmed visits in the future are left out (they have not had the chance to be
  missed), and so are cancellations (the slot was given back);
* **cancellations**, of which **late** ones were cancelled less than 24 hours before the
  start (or after it);
* **utilisation** = booked minutes / available minutes. Booked minutes are the lengths of
  the appointments in the range whose status holds time (booked, confirmed, arrived,
  completed); available minutes are the provider's working time from their weekly
  availability plus extra hours minus time off (``availability.working_intervals``), at
  the chosen location or all of theirs.

The range is of local days in the clinic's time zone, ``from`` to ``to`` inclusive. The
counts come from one grouped SQL query over the appointments; the working time from one
query for where each provider works, then the availability rules per provider and
location (never a loop over appointments).

    GET /api/scheduling/reports/utilisation?from=YYYY-MM-DD&to=YYYY-MM-DD[&location_id=]
    GET /scheduling/reports[?from=&to=&location_id=]
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import and_, case, extract, func, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import DbSession, Location, page, provider_names, requires, site_of
from plugins.scheduling.availability import day_bounds, merge, working_intervals
from plugins.scheduling.inputs import FieldErrors, parse_date, parse_uuid, raise_errors
from plugins.scheduling.models import (
    HOLDING,
    Appointment,
    AvailabilityException,
    AvailabilityTemplate,
)

READ = requires("scheduling:reports", "read")

#: the longest range one report covers
MAX_RANGE_DAYS = 366
#: a cancellation this close to the start (or later) is a late one
LATE_CANCELLATION = dt.timedelta(hours=24)

DEFINITIONS = {
    "appointments": "every appointment starting in the range, whatever its status",
    "no_show_rate": "no-shows / (completed + arrived + no-shows); null when that is 0",
    "late_cancellations": "cancelled less than 24 hours before the start (or after it)",
    "utilisation": (
        "booked minutes (booked, confirmed, arrived, completed) / available minutes (weekly "
        "availability + extra hours - time off); null when nothing was available"
    ),
}


@dataclass
class ProviderFigures:
    provider_id: uuid.UUID
    provider: str
    appointments: int = 0
    completed: int = 0
    arrived: int = 0
    no_shows: int = 0
    cancellations: int = 0
    late_cancellations: int = 0
    booked_minutes: int = 0
    available_minutes: int = 0

    @property
    def no_show_rate(self) -> float | None:
        due = self.completed + self.arrived + self.no_shows
        return self.no_shows / due if due else None

    @property
    def utilisation(self) -> float | None:
        return self.booked_minutes / self.available_minutes if self.available_minutes else None

    def as_json(self) -> dict[str, Any]:
        return {
            "provider_id": str(self.provider_id) if self.provider_id else None,
            "provider": self.provider,
            "appointments": self.appointments,
            "completed": self.completed,
            "arrived": self.arrived,
            "no_shows": self.no_shows,
            "cancellations": self.cancellations,
            "late_cancellations": self.late_cancellations,
            "booked_minutes": self.booked_minutes,
            "available_minutes": self.available_minutes,
            "no_show_rate": _rounded(self.no_show_rate),
            "utilisation": _rounded(self.utilisation),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class Report:
    start: dt.date
    end: dt.date
    time_zone: str
    location_id: uuid.UUID | None
    providers: list[ProviderFigures]

    @property
    def totals(self) -> ProviderFigures:
        total = ProviderFigures(provider_id=None, provider="All providers")  # type: ignore[arg-type]
        for row in self.providers:
            for name in (
                "appointments",
                "completed",
                "arrived",
                "no_shows",
                "cancellations",
                "late_cancellations",
                "booked_minutes",
                "available_minutes",
            ):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        return total

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "time_zone": self.time_zone,
            "location_id": str(self.location_id) if self.location_id else None,
            "definitions": DEFINITIONS,
            "providers": [p.as_json() for p in self.providers],
            "totals": self.totals.as_json(),
        }


async def appointment_counts(
    session: AsyncSession, bounds: tuple[dt.datetime, dt.datetime], location_id: uuid.UUID | None
) -> dict[uuid.UUID, dict[str, int]]:
    """Per provider, the counts and booked minutes of the appointments starting within
    ``bounds``: one query, grouped by provider."""
    status = Appointment.status

    def count_where(condition) -> Any:
        return func.count().filter(condition)

    minutes = extract("epoch", Appointment.ends_at - Appointment.starts_at) / 60
    query = (
        select(
            Appointment.provider_id,
            func.count().label("appointments"),
            count_where(status == "completed").label("completed"),
            count_where(status == "arrived").label("arrived"),
            count_where(status == "no-show").label("no_shows"),
            count_where(status == "cancelled").label("cancellations"),
            count_where(
                and_(
                    status == "cancelled",
                    Appointment.status_changed_at > Appointment.starts_at - LATE_CANCELLATION,
                )
            ).label("late_cancellations"),
            func.coalesce(func.sum(case((status.in_(HOLDING), minutes), else_=literal(0))), 0).label(
                "booked_minutes"
            ),
        )
        .where(Appointment.starts_at >= bounds[0], Appointment.starts_at < bounds[1])
        .group_by(Appointment.provider_id)
    )
    if location_id is not None:
        query = query.where(Appointment.location_id == location_id)
    out = {}
    for row in await session.execute(query):
        values = row._asdict()
        provider_id = values.pop("provider_id")
        values["booked_minutes"] = round(float(values["booked_minutes"]))
        out[provider_id] = values
    return out


async def workplaces(
    session: AsyncSession, start: dt.date, end: dt.date, location_id: uuid.UUID | None
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Provider -> the locations where they have weekly availability or extra hours in the
    range (where their working time is to be counted); one query."""
    weekly = select(AvailabilityTemplate.provider_id, AvailabilityTemplate.location_id).where(
        AvailabilityTemplate.valid_from <= end,
        or_(AvailabilityTemplate.valid_until.is_(None), AvailabilityTemplate.valid_until >= start),
    )
    extra = select(AvailabilityException.provider_id, AvailabilityException.location_id).where(
        AvailabilityException.kind == "extra-hours",
        AvailabilityException.location_id.is_not(None),
    )
    if location_id is not None:
        weekly = weekly.where(AvailabilityTemplate.location_id == location_id)
        extra = extra.where(AvailabilityException.location_id == location_id)
    places: dict[uuid.UUID, set[uuid.UUID]] = {}
    for provider_id, place in await session.execute(union(weekly, extra)):
        places.setdefault(provider_id, set()).add(place)
    return places


async def utilisation_report(
    session: AsyncSession,
    *,
    start: dt.date,
    end: dt.date,
    time_zone: str,
    location_id: uuid.UUID | None = None,
) -> Report:
    """The figures of every provider who had appointments or working time in the range."""
    bounds = day_bounds(start, end, zoneinfo.ZoneInfo(time_zone))
    counts = await appointment_counts(session, bounds, location_id)
    places = await workplaces(session, start, end, location_id)
    ids = set(counts) | set(places)
    names = await provider_names(session, list(ids)) if ids else {}
    rows = []
    for provider_id in ids:
        figures = ProviderFigures(
            provider_id, names.get(provider_id, "(unknown provider)"), **counts.get(provider_id, {})
        )
        intervals = []
        for place in sorted(places.get(provider_id, ())):
            intervals += await working_intervals(
                session, provider_id=provider_id, location_id=place, start=start, end=end
            )
        # one provider cannot work twice at once: overlapping blocks at two places count once
        figures.available_minutes = round(sum((e - s).total_seconds() for s, e in merge(intervals)) / 60)
        if figures.appointments or figures.available_minutes:
            rows.append(figures)
    rows.sort(key=lambda r: (r.provider.lower(), str(r.provider_id)))
    return Report(start, end, time_zone, location_id, rows)


# -- reading the query ---------------------------------------------------------------------


def read_range(raw_from: Any, raw_to: Any, raw_location: Any) -> tuple[dt.date, dt.date, uuid.UUID | None]:
    """The checked ``from``, ``to`` and ``location_id``; FieldErrors (422) naming each
    problem."""
    errors = []
    start = end = None
    location_id = None
    for key, raw in (("from", raw_from), ("to", raw_to)):
        if raw in (None, ""):
            errors.append({"field": key, "reason": "required, a date YYYY-MM-DD"})
            continue
        value, problem = parse_date(raw)
        if problem:
            errors.append({"field": key, "reason": problem})
        elif key == "from":
            start = value
        else:
            end = value
    if start and end:
        if end < start:
            errors.append({"field": "to", "reason": "must be on or after from"})
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            errors.append({"field": "to", "reason": f"a report covers at most {MAX_RANGE_DAYS} days"})
    if raw_location not in (None, ""):
        location_id = parse_uuid(raw_location)
        if location_id is None:
            errors.append({"field": "location_id", "reason": "must be a location id (a UUID)"})
    raise_errors(errors)
    return start, end, location_id  # type: ignore[return-value]


async def _check_location(session: AsyncSession, location_id: uuid.UUID | None) -> None:
    if (
        location_id is not None
        and await session.scalar(select(Location.id).where(Location.id == location_id)) is None
    ):
        raise NotFoundException(detail="No such location in this clinic.")


# -- routes ----------------------------------------------------------------------------------


@get("/api/scheduling/reports/utilisation", name="scheduling:api-report-utilisation", guards=[READ])
async def utilisation_api(request: Request, db_session: DbSession) -> dict[str, Any]:
    """No-show rate and utilisation per provider for ``from``..``to`` (local days of the
    clinic, inclusive), optionally at one location. See ``definitions`` in the answer."""
    params = request.query_params
    start, end, location_id = read_range(params.get("from"), params.get("to"), params.get("location_id"))
    await _check_location(db_session, location_id)
    report = await utilisation_report(
        db_session, start=start, end=end, time_zone=site_of(request).tenant.time_zone, location_id=location_id
    )
    return report.as_json()


@get("/scheduling/reports", name="scheduling:reports", guards=[READ], include_in_schema=False)
async def reports_page(request: Request, db_session: DbSession) -> Template:
    time_zone = site_of(request).tenant.time_zone
    params = request.query_params
    today = dt.datetime.now(zoneinfo.ZoneInfo(time_zone)).date()
    values = {
        "from": params.get("from") or (today - dt.timedelta(days=27)).isoformat(),
        "to": params.get("to") or today.isoformat(),
        "location_id": params.get("location_id") or "",
    }
    locations = [
        {"id": str(loc_id), "name": name}
        for loc_id, name in await db_session.execute(
            select(Location.id, Location.name).where(Location.active).order_by(Location.name)
        )
    ]
    report, errors, status = None, {}, 200
    try:
        start, end, location_id = read_range(values["from"], values["to"], values["location_id"])
        await _check_location(db_session, location_id)
    except FieldErrors as exc:
        errors = {e["field"]: e["reason"] for e in exc.extra or []}
        status = 422
    except NotFoundException:
        errors = {"location_id": "choose one of the clinic's locations"}
        status = 422
    else:
        report = await utilisation_report(
            db_session, start=start, end=end, time_zone=time_zone, location_id=location_id
        )
    response = await page(
        request,
        "scheduling/reports.html",
        page_title="Scheduling reports",
        values=values,
        errors=errors,
        locations=locations,
        report=report,
        totals=report.totals if report else None,
        time_zone=time_zone,
    )
    response.status_code = status
    return response


ROUTES = [utilisation_api, reports_page]
