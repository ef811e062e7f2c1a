"""The waitlist: patients who want a sooner (or any) slot, and the freed slots offered to them.

An entry says what would suit the patient: the appointment type, a provider and a location
(either may be "any"), a date window and weekdays. When an appointment is cancelled, the
time it held is free again: every waiting entry that fits that slot is marked ``offered``
with the slot (provider, location, start, end), so the calendar and the today list can say
"2 on the waitlist fit this slot" and book it for one of them. Booking an offer books the
slot through ``booking.book`` (the same locks and checks as any booking); the entry becomes
``booked`` and the other offers of that slot go back to ``waiting``. An offer whose slot is
taken by another booking goes back to ``waiting`` as well.

Every read and write of entries is audited (they name patients).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from litestar.exceptions import ClientException, NotFoundException, ValidationException
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import Location, Patient, Provider, location_time_zone, record, require_tenant_id, utcnow
from plugins.scheduling.models import Appointment, AppointmentType, WaitlistEntry

RESOURCE = "scheduling:waitlist"
OPEN = ("waiting", "offered")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class WaitlistInputError(ValidationException):
    """Values the waitlist cannot accept: 422 naming each field and what to do."""

    status_code = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            detail="; ".join(f"{k}: {v}" for k, v in errors.items()),
            extra=[{"field": k, "reason": v} for k, v in errors.items()],
        )
        self.errors = errors


@dataclass(frozen=True)
class WaitlistRequest:
    """What would suit the patient. ``provider_id``/``location_id`` None = any;
    ``weekdays`` empty = any day (0 = Monday); ``latest_date`` None = open-ended."""

    patient_id: uuid.UUID
    type_id: uuid.UUID
    earliest_date: dt.date
    provider_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    latest_date: dt.date | None = None
    weekdays: tuple[int, ...] = ()
    note: str | None = None


def _uuid(raw, field: str, errors: dict[str, str], *, required: bool) -> uuid.UUID | None:
    text = str(raw or "").strip()
    if not text or text == "any":
        if required:
            errors[field] = "Choose one."
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        errors[field] = "This is not one of the listed choices."
        return None


def _date(raw, field: str, errors: dict[str, str], *, required: bool) -> dt.date | None:
    text = str(raw or "").strip()
    if not text:
        if required:
            errors[field] = "Enter a date as YYYY-MM-DD."
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[field] = "Enter a date as YYYY-MM-DD, for example 2026-12-01."
        return None


def read_request(values, weekdays) -> WaitlistRequest:
    """A request from a form or a JSON object (ids as text, dates as YYYY-MM-DD, weekdays
    as 0-6 with 0 = Monday); every problem is reported at once (422)."""
    errors: dict[str, str] = {}
    patient_id = _uuid(values.get("patient_id"), "patient_id", errors, required=True)
    type_id = _uuid(values.get("type_id"), "type_id", errors, required=True)
    provider_id = _uuid(values.get("provider_id"), "provider_id", errors, required=False)
    location_id = _uuid(values.get("location_id"), "location_id", errors, required=False)
    earliest = _date(values.get("earliest_date"), "earliest_date", errors, required=True)
    latest = _date(values.get("latest_date"), "latest_date", errors, required=False)
    if earliest and latest and latest < earliest:
        errors["latest_date"] = "The latest date must be on or after the earliest date."
    days: list[int] = []
    for raw in weekdays or ():
        try:
            day = int(raw)
        except (TypeError, ValueError):
            day = -1
        if day not in range(7):
            errors["weekdays"] = "Weekdays are 0 (Monday) to 6 (Sunday)."
            break
        days.append(day)
    note = values.get("note")
    if note is not None and not isinstance(note, str):
        errors["note"] = "The note must be text."
    elif note and len(note) > 1000:
        errors["note"] = "Use at most 1000 characters."
    if errors:
        raise WaitlistInputError(errors)
    return WaitlistRequest(
        patient_id=patient_id,
        type_id=type_id,
        earliest_date=earliest,
        provider_id=provider_id,
        location_id=location_id,
        latest_date=latest,
        weekdays=tuple(sorted(set(days))),
        note=(note or "").strip() or None,
    )


def entry_json(entry: WaitlistEntry) -> dict:
    return {
        "id": str(entry.id),
        "patient_id": str(entry.patient_id),
        "type_id": str(entry.type_id),
        "provider_id": str(entry.provider_id) if entry.provider_id else None,
        "location_id": str(entry.location_id) if entry.location_id else None,
        "earliest_date": entry.earliest_date.isoformat(),
        "latest_date": entry.latest_date.isoformat() if entry.latest_date else None,
        "weekdays": list(weekdays_of(entry)),
        "note": entry.note,
        "status": entry.status,
        "appointment_id": str(entry.appointment_id) if entry.appointment_id else None,
        "offer": None
        if entry.status != "offered"
        else {
            "provider_id": str(entry.offered_provider_id),
            "location_id": str(entry.offered_location_id),
            "starts_at": entry.offered_starts_at.isoformat(),
            "ends_at": entry.offered_ends_at.isoformat(),
        },
        "created_at": entry.created_at.isoformat() if entry.created_at else None,
    }


def weekdays_text(days) -> str:
    """The stored form: digits in order, comma-separated ("0,2,4")."""
    return ",".join(str(d) for d in sorted(set(days)))


def weekdays_of(entry: WaitlistEntry) -> tuple[int, ...]:
    return tuple(int(d) for d in entry.weekdays.split(",") if d.strip())


def weekdays_label(entry: WaitlistEntry) -> str:
    days = weekdays_of(entry)
    return ", ".join(WEEKDAYS[d] for d in days) if days else "Any day"


async def _check_refs(session: AsyncSession, req: WaitlistRequest) -> AppointmentType:
    if await session.get(Patient, (require_tenant_id(), req.patient_id)) is None:
        raise WaitlistInputError({"patient_id": "There is no such patient in this clinic."})
    kind = await session.get(AppointmentType, (require_tenant_id(), req.type_id))
    if kind is None or not kind.active:
        raise WaitlistInputError({"type_id": "Choose one of the clinic's active appointment types."})
    if req.provider_id and await session.get(Provider, (require_tenant_id(), req.provider_id)) is None:
        raise WaitlistInputError({"provider_id": "There is no such provider in this clinic."})
    if req.location_id and await session.get(Location, (require_tenant_id(), req.location_id)) is None:
        raise WaitlistInputError({"location_id": "There is no such location in this clinic."})
    return kind


async def add_entry(session: AsyncSession, req: WaitlistRequest) -> WaitlistEntry:
    """Put a patient on the waitlist (audited as a create)."""
    await _check_refs(session, req)
    entry = WaitlistEntry(
        patient_id=req.patient_id,
        type_id=req.type_id,
        provider_id=req.provider_id,
        location_id=req.location_id,
        earliest_date=req.earliest_date,
        latest_date=req.latest_date,
        weekdays=weekdays_text(req.weekdays),
        note=req.note or None,
    )
    session.add(entry)
    await session.flush()
    await record(
        session, action="create", resource_type=RESOURCE, resource_id=entry.id, patient_id=entry.patient_id
    )
    return entry


async def get_entry(
    session: AsyncSession, entry_id: uuid.UUID, *, audit: str | None = "read"
) -> WaitlistEntry:
    """One entry of this clinic (404 otherwise); ``audit`` names the access recorded."""
    entry = await session.get(WaitlistEntry, (require_tenant_id(), entry_id))
    if entry is None:
        raise NotFoundException(detail="There is no such waitlist entry in this clinic.")
    if audit:
        await record(
            session, action=audit, resource_type=RESOURCE, resource_id=entry.id, patient_id=entry.patient_id
        )
    return entry


async def list_entries(
    session: AsyncSession, *, statuses: tuple[str, ...] = OPEN, patient_id: uuid.UUID | None = None
) -> list[WaitlistEntry]:
    """Entries by age (first come, first served), audited as one read with their ids."""
    query = select(WaitlistEntry).where(WaitlistEntry.status.in_(statuses))
    if patient_id is not None:
        query = query.where(WaitlistEntry.patient_id == patient_id)
    entries = list(await session.scalars(query.order_by(WaitlistEntry.created_at, WaitlistEntry.id)))
    await record(
        session,
        action="read",
        resource_type=RESOURCE,
        patient_id=patient_id,
        detail={"results": len(entries), "entry_ids": [str(e.id) for e in entries]},
    )
    return entries


def _clear_offer(entry: WaitlistEntry) -> None:
    entry.offered_provider_id = entry.offered_location_id = None
    entry.offered_starts_at = entry.offered_ends_at = entry.offered_at = None


async def remove_entry(session: AsyncSession, entry: WaitlistEntry) -> None:
    """Take the patient off the waitlist (kept as ``removed``; nothing is deleted)."""
    if entry.status not in OPEN:
        raise ClientException(status_code=409, detail=f"This entry is already {entry.status}.")
    entry.status = "removed"
    _clear_offer(entry)
    await session.flush()
    await record(
        session,
        action="update",
        resource_type=RESOURCE,
        resource_id=entry.id,
        patient_id=entry.patient_id,
        detail={"status": "removed"},
    )


# -- offering freed slots --------------------------------------------------------------------


def _fits(entry: WaitlistEntry, duration: dt.timedelta, slot: Slot, local_day: dt.date) -> bool:
    if entry.provider_id not in (None, slot.provider_id) or entry.location_id not in (None, slot.location_id):
        return False
    if local_day < entry.earliest_date or (entry.latest_date and local_day > entry.latest_date):
        return False
    days = weekdays_of(entry)
    if days and local_day.weekday() not in days:
        return False
    return slot.starts_at + duration <= slot.ends_at


@dataclass(frozen=True)
class Slot:
    """A stretch of a provider's time at a location that came free."""

    provider_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime


async def offer_slot(session: AsyncSession, slot: Slot) -> list[WaitlistEntry]:
    """Mark every waiting entry that fits ``slot`` as offered it (oldest first); returns
    them. A slot already in the past is offered to nobody."""
    if slot.starts_at <= utcnow():
        return []
    zone = zoneinfo.ZoneInfo(await location_time_zone(session, slot.location_id))
    local_day = slot.starts_at.astimezone(zone).date()
    rows = await session.execute(
        select(WaitlistEntry, AppointmentType.duration_minutes)
        .join(AppointmentType, AppointmentType.id == WaitlistEntry.type_id)
        .where(
            WaitlistEntry.status == "waiting",
            or_(WaitlistEntry.provider_id.is_(None), WaitlistEntry.provider_id == slot.provider_id),
            or_(WaitlistEntry.location_id.is_(None), WaitlistEntry.location_id == slot.location_id),
        )
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
    )
    offered = []
    now = utcnow()
    for entry, minutes in rows:
        if not _fits(entry, dt.timedelta(minutes=minutes), slot, local_day):
            continue
        entry.status = "offered"
        entry.offered_provider_id, entry.offered_location_id = slot.provider_id, slot.location_id
        entry.offered_starts_at, entry.offered_ends_at, entry.offered_at = slot.starts_at, slot.ends_at, now
        offered.append(entry)
    await session.flush()
    for entry in offered:
        await record(
            session,
            action="update",
            resource_type=RESOURCE,
            resource_id=entry.id,
            patient_id=entry.patient_id,
            detail={"status": "offered", "slot_start": slot.starts_at.isoformat()},
        )
    return offered


async def withdraw_offers_taken_by(session: AsyncSession, appointment: Appointment) -> int:
    """Offers whose slot overlaps a booking that now holds the provider's time go back to
    waiting (the slot is no longer free); returns how many."""
    entries = list(
        await session.scalars(
            select(WaitlistEntry).where(
                WaitlistEntry.status == "offered",
                WaitlistEntry.offered_provider_id == appointment.provider_id,
                WaitlistEntry.offered_starts_at < appointment.ends_at,
                WaitlistEntry.offered_ends_at > appointment.starts_at,
                or_(WaitlistEntry.appointment_id.is_(None), WaitlistEntry.appointment_id != appointment.id),
            )
        )
    )
    for entry in entries:
        entry.status = "waiting"
        _clear_offer(entry)
    await session.flush()
    return len(entries)


async def slot_offers(
    session: AsyncSession,
    *,
    start: dt.datetime,
    end: dt.datetime,
    provider_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> dict[Slot, int]:
    """How many entries are offered each freed slot starting in ``[start, end)`` (for the
    calendar's "N on the waitlist fit this slot"); counts only, so nothing is audited."""
    query = select(
        WaitlistEntry.offered_provider_id,
        WaitlistEntry.offered_location_id,
        WaitlistEntry.offered_starts_at,
        WaitlistEntry.offered_ends_at,
    ).where(
        WaitlistEntry.status == "offered",
        WaitlistEntry.offered_starts_at >= start,
        WaitlistEntry.offered_starts_at < end,
    )
    if provider_id is not None:
        query = query.where(WaitlistEntry.offered_provider_id == provider_id)
    if location_id is not None:
        query = query.where(WaitlistEntry.offered_location_id == location_id)
    counts: dict[Slot, int] = {}
    for row in await session.execute(query):
        slot = Slot(*row)
        counts[slot] = counts.get(slot, 0) + 1
    return counts


async def offers_for(session: AsyncSession, slot: Slot) -> list[WaitlistEntry]:
    """The entries offered one slot, oldest first (audited: they name patients)."""
    entries = list(
        await session.scalars(
            select(WaitlistEntry)
            .where(
                and_(
                    WaitlistEntry.status == "offered",
                    WaitlistEntry.offered_provider_id == slot.provider_id,
                    WaitlistEntry.offered_location_id == slot.location_id,
                    WaitlistEntry.offered_starts_at == slot.starts_at,
                )
            )
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        )
    )
    await record(
        session,
        action="read",
        resource_type=RESOURCE,
        detail={"results": len(entries), "entry_ids": [str(e.id) for e in entries], "via": "slot offers"},
    )
    return entries


async def book_offer(session: AsyncSession, hooks, entry: WaitlistEntry):
    """Book the slot an entry was offered, for its patient and type (``booking.book``:
    409 when it was taken meanwhile). The entry becomes ``booked``; the slot's other
    offers go back to waiting. Returns booking's ``Booked``."""
    from plugins.scheduling import booking

    if entry.status != "offered" or entry.offered_starts_at is None:
        raise ClientException(
            status_code=409,
            detail="This waitlist entry has no slot on offer; book it from the calendar instead.",
        )
    slot = Slot(
        entry.offered_provider_id, entry.offered_location_id, entry.offered_starts_at, entry.offered_ends_at
    )
    booked = await booking.book(
        session,
        hooks,
        booking.Proposal(
            patient_id=entry.patient_id,
            provider_id=slot.provider_id,
            location_id=slot.location_id,
            type_id=entry.type_id,
            starts_at=slot.starts_at,
            note=entry.note,
        ),
    )
    for other in await session.scalars(
        select(WaitlistEntry).where(
            WaitlistEntry.status == "offered",
            WaitlistEntry.offered_provider_id == slot.provider_id,
            WaitlistEntry.offered_starts_at == slot.starts_at,
            WaitlistEntry.id != entry.id,
        )
    ):
        other.status = "waiting"
        _clear_offer(other)
    entry.status = "booked"
    entry.appointment_id = booked.appointment.id
    _clear_offer(entry)
    await session.flush()
    await record(
        session,
        action="update",
        resource_type=RESOURCE,
        resource_id=entry.id,
        patient_id=entry.patient_id,
        detail={"status": "booked", "appointment_id": str(booked.appointment.id)},
    )
    return booked


async def on_appointment_changed(
    session: AsyncSession, appointment_id: uuid.UUID, change: str, previous: Any = None
) -> None:
    """Scheduling's own subscriber to ``tessera_scheduling_appointment_changed``: a
    cancellation offers the freed time, and so does a move (the time it left, from
    ``previous``); a booking or a move into a slot withdraws the offers it takes."""
    appointment = await session.get(Appointment, (require_tenant_id(), appointment_id))
    if appointment is None:
        return
    if change == "cancelled":
        await offer_slot(
            session,
            Slot(
                appointment.provider_id, appointment.location_id, appointment.starts_at, appointment.ends_at
            ),
        )
    elif change in ("booked", "rescheduled"):
        await withdraw_offers_taken_by(session, appointment)
        moved_within = (
            previous is not None
            and previous.provider_id == appointment.provider_id
            and previous.starts_at < appointment.ends_at
            and previous.ends_at > appointment.starts_at
        )
        # the time it left is free (nobody else could hold it), unless the move only
        # shifted the visit within it: then what is freed is a sliver, not a slot
        if change == "rescheduled" and previous is not None and not moved_within:
            await offer_slot(
                session,
                Slot(previous.provider_id, previous.location_id, previous.starts_at, previous.ends_at),
            )


__all__ = [
    "Slot",
    "WaitlistInputError",
    "WaitlistRequest",
    "add_entry",
    "book_offer",
    "entry_json",
    "get_entry",
    "list_entries",
    "offer_slot",
    "offers_for",
    "on_appointment_changed",
    "read_request",
    "remove_entry",
    "slot_offers",
    "weekdays_label",
]
