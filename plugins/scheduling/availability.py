"""When a provider works, and which start times are still open.

Weekly availability is wall-clock time at the location (its IANA zone, else the
clinic's), so "Mondays 08:00-12:00" starts at 08:00 local on both sides of a DST change.
Each local day is turned into UTC instants on its own, with the zone's rules for that day:

* a wall time inside the spring-forward gap (02:00-03:00 in America/Chicago on
  2026-03-08) does not exist; it is read as the first instant after the gap (03:00), so a
  block 01:00-04:00 that day is two real hours and no start time is offered in the gap;
* a wall time in the fall-back repeat (01:00-02:00 on 2026-11-01) is read as its first
  occurrence (``fold=0``, PEP 495); a block 00:00-03:00 that day is four real hours.

Open slots step through each working interval in real time (UTC) from its start, so the
repeated hour yields its start times twice, each a distinct instant, and none are lost.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import (
    Provider,
    ProviderLocation,
    location_time_zone,
    require_tenant_id,
    stored_plugin_config,
)
from plugins.scheduling.calendars import resources_of_kind
from plugins.scheduling.models import (
    HOLDING,
    Appointment,
    AppointmentType,
    AvailabilityException,
    AvailabilityTemplate,
)

DEFAULT_SLOT_MINUTES = 15
#: the longest range open_slots searches at once (a quarter), to keep one request cheap
MAX_RANGE_DAYS = 92

Interval = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Slot:
    """An open start time: the provider is working and free for the whole visit, and
    (when the type needs one) ``resource_id`` is a free resource of its kind."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    provider_id: uuid.UUID
    location_id: uuid.UUID
    type_id: uuid.UUID
    resource_id: uuid.UUID | None = None


# -- wall clock -> instants -------------------------------------------------------------


def local_to_utc(day: dt.date, wall: dt.time, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant the clocks at ``zone`` show ``wall`` on ``day``: a time in a DST gap
    moves forward to the end of the gap, a repeated time is its first occurrence."""
    local = dt.datetime.combine(day, wall)
    for _ in range(24 * 60):  # a gap is at most a few hours; bounded for safety
        instant = local.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == local:
            return instant
        local += dt.timedelta(minutes=1)
    raise ValueError(f"no instant shows {wall} on {day} in {zone.key}")


def day_bounds(start: dt.date, end: dt.date, zone: zoneinfo.ZoneInfo) -> Interval:
    """From the start of local day ``start`` to the start of the day after ``end``."""
    return local_to_utc(start, dt.time(), zone), local_to_utc(end + dt.timedelta(days=1), dt.time(), zone)


def _days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


# -- interval arithmetic ----------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(intervals: list[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` (merged) minus every hole."""
    out = intervals
    for hole_start, hole_end in merge(holes):
        pieces: list[Interval] = []
        for start, end in out:
            if hole_end <= start or hole_start >= end:
                pieces.append((start, end))
                continue
            if start < hole_start:
                pieces.append((start, hole_start))
            if hole_end < end:
                pieces.append((hole_end, end))
        out = pieces
    return out


def clip(intervals: list[Interval], bounds: Interval) -> list[Interval]:
    low, high = bounds
    return [(max(s, low), min(e, high)) for s, e in intervals if e > low and s < high]


# -- working time -----------------------------------------------------------------------


def working_time(
    templates: Iterable[AvailabilityTemplate],
    exceptions: Iterable[AvailabilityException],
    *,
    zone: zoneinfo.ZoneInfo,
    start: dt.date,
    end: dt.date,
) -> list[Interval]:
    """One provider's working time at one location on the local days ``start``..``end``
    (inclusive), from that pair's weekly blocks and exceptions: the blocks expanded in the
    location's ``zone``, plus extra hours, minus time off. UTC instants, sorted, merged,
    clipped to the days."""
    bounds = day_bounds(start, end, zone)
    by_weekday: dict[int, list[AvailabilityTemplate]] = {}
    for t in templates:
        by_weekday.setdefault(t.weekday, []).append(t)
    blocks: list[Interval] = []
    for day in _days(start, end):
        for t in by_weekday.get(day.weekday(), ()):
            if t.valid_from <= day and (t.valid_until is None or day <= t.valid_until):
                block = (local_to_utc(day, t.start_time, zone), local_to_utc(day, t.end_time, zone))
                if block[1] > block[0]:  # a block wholly inside a DST gap is empty
                    blocks.append(block)
    extra, time_off = [], []
    for x in exceptions:
        if x.starts_at < bounds[1] and x.ends_at > bounds[0]:
            if x.kind == "extra-hours":
                extra.append((x.starts_at, x.ends_at))
            elif x.kind == "time-off":
                time_off.append((x.starts_at, x.ends_at))
    return clip(subtract(merge(blocks + extra), time_off), bounds)


async def working_intervals_by_pair(
    session: AsyncSession,
    pairs: Iterable[tuple[uuid.UUID, uuid.UUID]],
    *,
    start: dt.date,
    end: dt.date,
    zones: Mapping[uuid.UUID, str],
    templates: Iterable[AvailabilityTemplate] | None = None,
) -> dict[tuple[uuid.UUID, uuid.UUID], list[Interval]]:
    """``working_intervals`` of many (provider, location) pairs in two statements (weekly
    blocks, exceptions) instead of three per pair. ``zones``: each location's IANA zone
    (its own, else the clinic's); ``templates``: weekly blocks already read (any that
    cover every pair; the others are ignored), else they are read here."""
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return {}
    provider_ids = {p for p, _ in pairs}
    location_ids = {loc for _, loc in pairs}
    if templates is None:
        templates = await session.scalars(
            select(AvailabilityTemplate).where(
                AvailabilityTemplate.provider_id.in_(provider_ids),
                AvailabilityTemplate.location_id.in_(location_ids),
                AvailabilityTemplate.valid_from <= end,
                or_(AvailabilityTemplate.valid_until.is_(None), AvailabilityTemplate.valid_until >= start),
            )
        )
    by_pair: dict[tuple[uuid.UUID, uuid.UUID], list[AvailabilityTemplate]] = {}
    for t in templates:
        by_pair.setdefault((t.provider_id, t.location_id), []).append(t)
    zone_of = {loc: zoneinfo.ZoneInfo(zones[loc]) for loc in location_ids}
    all_bounds = [day_bounds(start, end, zone) for zone in set(zone_of.values())]
    exceptions = list(
        await session.scalars(
            select(AvailabilityException).where(
                AvailabilityException.provider_id.in_(provider_ids),
                AvailabilityException.starts_at < max(high for _, high in all_bounds),
                AvailabilityException.ends_at > min(low for low, _ in all_bounds),
                or_(
                    AvailabilityException.location_id.is_(None),
                    AvailabilityException.location_id.in_(location_ids),
                ),
            )
        )
    )
    return {
        (provider_id, location_id): working_time(
            by_pair.get((provider_id, location_id), ()),
            [x for x in exceptions if x.provider_id == provider_id and x.location_id in (None, location_id)],
            zone=zone_of[location_id],
            start=start,
            end=end,
        )
        for provider_id, location_id in pairs
    }


async def working_intervals(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    location_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
) -> list[Interval]:
    """When the provider works at the location on the local days ``start``..``end``
    (inclusive): weekly blocks expanded in the location's zone, plus extra hours there,
    minus time off (anywhere, or at this location). UTC instants, sorted, merged."""
    zone = await location_time_zone(session, location_id)
    found = await working_intervals_by_pair(
        session, [(provider_id, location_id)], start=start, end=end, zones={location_id: zone}
    )
    return found[(provider_id, location_id)]


async def within_working_hours(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    location_id: uuid.UUID,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
) -> bool:
    """Whether ``[starts_at, ends_at)`` lies inside one working interval."""
    zone = zoneinfo.ZoneInfo(await location_time_zone(session, location_id))
    first = starts_at.astimezone(zone).date()
    last = ends_at.astimezone(zone).date()
    intervals = await working_intervals(
        session, provider_id=provider_id, location_id=location_id, start=first, end=last
    )
    return any(s <= starts_at and ends_at <= e for s, e in intervals)


# -- open slots -------------------------------------------------------------------------


async def slot_minutes(session: AsyncSession) -> int:
    """The clinic's configured slot granularity (``slot_minutes``), else 15."""
    config = await stored_plugin_config(session, "scheduling")
    return int(config.get("slot_minutes") or DEFAULT_SLOT_MINUTES)


async def open_slots(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    location_id: uuid.UUID,
    type_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
    step_minutes: int | None = None,
    not_before: dt.datetime | None = None,
) -> list[Slot]:
    """Start times on the local days ``start``..``end`` at which a visit of the type fits:
    inside the provider's working time, clear of the provider's appointments that hold
    time, and with a free resource of the type's kind (none of that kind: no slots).
    ``not_before`` drops earlier starts (pass "now" to offer only future ones)."""
    appointment_type = await session.get(AppointmentType, (require_tenant_id(), type_id))
    if appointment_type is None or not appointment_type.active:
        return []
    step = dt.timedelta(minutes=step_minutes or await slot_minutes(session))
    length = dt.timedelta(minutes=appointment_type.duration_minutes)
    intervals = await working_intervals(
        session, provider_id=provider_id, location_id=location_id, start=start, end=end
    )
    if not intervals:
        return []
    low, high = intervals[0][0], intervals[-1][1]
    taken = list(
        await session.scalars(
            select(Appointment).where(
                Appointment.provider_id == provider_id,
                Appointment.status.in_(HOLDING),
                Appointment.starts_at < high,
                Appointment.ends_at > low,
            )
        )
    )
    busy = merge((a.starts_at, a.ends_at) for a in taken)
    resource_busy: dict[uuid.UUID, list[Interval]] = {}
    if appointment_type.resource_kind:
        resources = await resources_of_kind(session, location_id, appointment_type.resource_kind)
        if not resources:
            return []
        booked = await session.scalars(
            select(Appointment).where(
                Appointment.resource_id.in_([r.id for r in resources]),
                Appointment.status.in_(HOLDING),
                Appointment.starts_at < high,
                Appointment.ends_at > low,
            )
        )
        resource_busy = {r.id: [] for r in resources}
        for a in booked:
            resource_busy[a.resource_id].append((a.starts_at, a.ends_at))

    def clear(periods: list[Interval], s: dt.datetime, e: dt.datetime) -> bool:
        return not any(ps < e and pe > s for ps, pe in periods)

    slots = []
    for interval_start, interval_end in subtract(intervals, busy):
        at = interval_start
        while at + length <= interval_end:
            if not_before is None or at >= not_before:
                resource_id = None
                if resource_busy:
                    resource_id = next(
                        (rid for rid, p in resource_busy.items() if clear(p, at, at + length)), None
                    )
                if resource_id is not None or not resource_busy:
                    slots.append(Slot(at, at + length, provider_id, location_id, type_id, resource_id))
            at += step
    return slots


async def open_slots_at_location(
    session: AsyncSession,
    *,
    location_id: uuid.UUID,
    type_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
    step_minutes: int | None = None,
    not_before: dt.datetime | None = None,
) -> list[Slot]:
    """Open slots of every active provider who works at the location, by time."""
    provider_ids = await session.scalars(
        select(ProviderLocation.provider_id)
        .join(Provider, Provider.id == ProviderLocation.provider_id)
        .where(ProviderLocation.location_id == location_id, Provider.active)
    )
    slots: list[Slot] = []
    for provider_id in list(provider_ids):
        slots += await open_slots(
            session,
            provider_id=provider_id,
            location_id=location_id,
            type_id=type_id,
            start=start,
            end=end,
            step_minutes=step_minutes,
            not_before=not_before,
        )
    return sorted(slots, key=lambda s: (s.starts_at, str(s.provider_id)))


__all__ = [
    "DEFAULT_SLOT_MINUTES",
    "MAX_RANGE_DAYS",
    "Slot",
    "local_to_utc",
    "open_slots",
    "open_slots_at_location",
    "slot_minutes",
    "within_working_hours",
    "working_intervals",
    "working_intervals_by_pair",
    "working_time",
]
