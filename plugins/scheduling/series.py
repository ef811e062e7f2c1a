"""Recurring appointments: preview a series with its conflicts, book it atomically,
change or cancel one occurrence, this and the following ones, or all of them.

A series is a row in ``scheduling_series`` (the RRULE, the first start as wall-clock time
and the IANA zone it is read in; see ``recurrence``) plus one appointment per occurrence,
booked through ``booking.book`` so the double-booking locks, the hours check, other
plugins' booking check, the audit event and the changed hook apply to each. Every
appointment keeps its ``occurrence_start``, the RECURRENCE-ID of RFC 5545 3.8.4.4: the
start the rule gave it, even after it was moved.

Atomicity: creation takes the locks of every calendar the series touches (provider,
patient, the rooms the type may use) before it books anything; if any occurrence the
client did not decide about turns out to be taken (someone booked it since the preview),
nothing is kept: the caller rolls the transaction back and answers 409 with a fresh
report (``SeriesConflict``).

"This and following" follows RFC 5545 (3.8.5.3) and the big calendars: the old series'
rule is ended with an UNTIL just before the chosen occurrence, its later occurrences that
still hold time are cancelled, and a new series from the chosen occurrence on is booked
exactly like a new one. Past, arrived and completed visits are never touched.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass, field, replace
from typing import Any

from litestar.exceptions import NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import location_time_zone, record, require_tenant_id, utcnow
from plugins.scheduling import availability, booking, calendars
from plugins.scheduling.booking import BookingConflict, Proposal
from plugins.scheduling.inputs import date_problem, field_error, parse_instant
from plugins.scheduling.models import Appointment, AppointmentType, Series
from plugins.scheduling.recurrence import (
    WEEKDAYS,
    Occurrence,
    Rule,
    RuleError,
    expand,
    parse_rrule,
    to_instant,
)

RESOURCE_TYPE = "series"
#: how many alternatives the preview offers for an occurrence that cannot be booked
ALTERNATIVES = 3
#: how many days after a taken occurrence the preview looks for alternatives
ALTERNATIVE_DAYS = 3


class SeriesConflict(BookingConflict):
    """409: occurrences the client did not decide about cannot be booked; ``extra`` holds
    the fresh occurrence report (``occurrences``) to decide on and send again."""


@dataclass(frozen=True)
class SeriesSpec:
    """What a series books: who, where, what, from which first start (wall clock in
    ``zone``) by which rule."""

    patient_id: uuid.UUID
    provider_id: uuid.UUID
    location_id: uuid.UUID
    type_id: uuid.UUID
    rule: Rule
    first_local: dt.datetime
    zone: str
    note: str | None = None
    allow_outside_hours: bool = False

    def occurrences(self) -> list[Occurrence]:
        return expand(self.rule, self.first_local, zoneinfo.ZoneInfo(self.zone))

    def proposal(self, starts_at: dt.datetime) -> Proposal:
        return Proposal(
            patient_id=self.patient_id,
            provider_id=self.provider_id,
            location_id=self.location_id,
            type_id=self.type_id,
            starts_at=starts_at,
            note=self.note,
            allow_outside_hours=self.allow_outside_hours,
        )


@dataclass
class Decision:
    """What the client decided for one occurrence: skip it, or book it at ``move_to``."""

    skip: bool = False
    move_to: dt.datetime | None = None


@dataclass
class Outcome:
    """What creating (or re-creating) a series did."""

    series: Series
    created: list[Appointment] = field(default_factory=list)
    skipped: list[dt.datetime] = field(default_factory=list)
    moved: list[tuple[dt.datetime, Appointment]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cancelled: list[Appointment] = field(default_factory=list)
    replaced: Series | None = None


def utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# -- reading what the client sent -------------------------------------------------------


async def zone_of(session: AsyncSession, location_id: uuid.UUID) -> str:
    """The location's IANA zone, else the clinic's."""
    return await location_time_zone(session, location_id)


def read_local_start(value: Any, zone: str, field_name: str = "start") -> dt.datetime:
    """A start as wall-clock time at the location: ``2026-03-03T09:00`` as written, or a
    date-time with an offset converted to the location's clock."""
    if not isinstance(value, str):
        raise field_error(
            field_name, "must be a date-time like 2026-03-03T09:00 (local time at the location)"
        )
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise field_error(
            field_name, "must be a date-time like 2026-03-03T09:00 (local time at the location)"
        ) from None
    if parsed.tzinfo is not None:
        _, problem = parse_instant(value)  # the accepted years, checked before converting
        if problem:
            raise field_error(field_name, problem)
    elif problem := date_problem(parsed.date()):
        raise field_error(field_name, problem)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)
    return parsed.replace(second=0, microsecond=0)


def rule_error(exc: RuleError):
    return field_error(exc.field, exc.reason)


def read_decisions(data: Any, occurrences: list[Occurrence]) -> dict[dt.datetime, Decision]:
    """``{"<occurrence start>": "skip" | {"move_to": "<date-time with offset>"}}``, keyed
    by the occurrence's start as the preview gave it; unknown starts are refused (422)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise field_error("decisions", 'must map occurrence starts to "skip" or {"move_to": ...}')
    known = {o.starts_at for o in occurrences}
    out: dict[dt.datetime, Decision] = {}
    for key, value in data.items():
        when, _ = parse_instant(str(key))
        if when is None or when not in known:
            raise field_error(
                f"decisions.{key}", "is not an occurrence of this series; use the starts the preview listed"
            )
        if value == "skip":
            out[when] = Decision(skip=True)
        elif isinstance(value, dict) and set(value) == {"move_to"}:
            target, problem = parse_instant(str(value["move_to"]))
            if problem:
                raise field_error(f"decisions.{key}.move_to", problem)
            out[when] = Decision(move_to=target)
        else:
            raise field_error(f"decisions.{key}", 'must be "skip" or {"move_to": "<date-time>"}')
    return out


# -- preview ----------------------------------------------------------------------------


async def _alternatives(
    session: AsyncSession,
    spec: SeriesSpec,
    wanted: dt.datetime,
    others: list[tuple[dt.datetime, dt.datetime]],
    exclude_ids: tuple[uuid.UUID, ...],
) -> list[dict[str, str]]:
    """Open slots near ``wanted``: the closest the same day first, then the closest to
    the same time of day on the next days; none that collide with another occurrence of
    this series or with the patient's other appointments."""
    zone = zoneinfo.ZoneInfo(spec.zone)
    day = wanted.astimezone(zone).date()
    slots = await availability.open_slots(
        session,
        provider_id=spec.provider_id,
        location_id=spec.location_id,
        type_id=spec.type_id,
        start=day,
        end=day + dt.timedelta(days=ALTERNATIVE_DAYS),
        not_before=utcnow(),
    )
    wanted_clock = wanted.astimezone(zone)

    def distance(slot) -> tuple[int, float]:
        local = slot.starts_at.astimezone(zone)
        clock = abs((local.hour * 60 + local.minute) - (wanted_clock.hour * 60 + wanted_clock.minute))
        return ((local.date() - day).days, clock)

    out: list[dict[str, str]] = []
    for slot in sorted(slots, key=distance):
        if any(s < slot.ends_at and e > slot.starts_at for s, e in others):
            continue
        if await booking.conflicts_of(session, spec.proposal(slot.starts_at), exclude_ids=exclude_ids):
            continue
        out.append({"starts_at": utc_text(slot.starts_at), "ends_at": utc_text(slot.ends_at)})
        if len(out) == ALTERNATIVES:
            break
    return out


async def preview(
    session: AsyncSession, spec: SeriesSpec, *, exclude_ids: tuple[uuid.UUID, ...] = ()
) -> list[dict[str, Any]]:
    """Every occurrence with what is in its way (appointments on the provider's, patient's
    or rooms' calendars; hours the provider does not work) and, for those that cannot be
    booked as they are, alternatives. Reads only. ``exclude_ids``: appointments to treat
    as gone (the ones an edit would cancel)."""
    occurrences = spec.occurrences()
    appointment_type = await session.get(AppointmentType, (require_tenant_id(), spec.type_id))
    if appointment_type is None:
        raise field_error("type_id", "no such appointment type in this clinic")
    length = dt.timedelta(minutes=appointment_type.duration_minutes)
    spans = [(o.starts_at, o.starts_at + length) for o in occurrences]
    now = utcnow()
    report = []
    for index, occurrence in enumerate(occurrences):
        proposal = spec.proposal(occurrence.starts_at)
        conflicts = await booking.conflicts_of(session, proposal, exclude_ids=exclude_ids)
        outside = None if spec.allow_outside_hours else await booking.outside_hours(session, proposal)
        past = occurrence.starts_at <= now
        item: dict[str, Any] = {
            "occurrence_start": utc_text(occurrence.starts_at),
            "starts_at": utc_text(occurrence.starts_at),
            "ends_at": utc_text(occurrence.starts_at + length),
            "local_start": occurrence.local.isoformat(timespec="minutes"),
            "conflicts": conflicts,
            "outside_hours": outside,
            "in_past": past,
            "bookable": not (conflicts or outside or past),
        }
        if not item["bookable"]:
            others = spans[:index] + spans[index + 1 :]
            item["alternatives"] = await _alternatives(
                session, spec, occurrence.starts_at, others, exclude_ids
            )
        report.append(item)
    return report


# -- creating ---------------------------------------------------------------------------


async def _lock_all(session: AsyncSession, spec: SeriesSpec) -> None:
    """Lock every calendar the series touches before booking any of it, so no one books
    into the series between its first occurrence and its last."""
    appointment_type = await session.get(AppointmentType, (require_tenant_id(), spec.type_id))
    resource_ids: tuple[uuid.UUID, ...] = ()
    if appointment_type is not None and appointment_type.resource_kind:
        resources = await calendars.resources_of_kind(
            session, spec.location_id, appointment_type.resource_kind
        )
        resource_ids = tuple(r.id for r in resources)
    await calendars.lock(session, calendars.Calendars(spec.provider_id, spec.patient_id, resource_ids))


async def book_series(
    session: AsyncSession,
    hooks: Any,
    spec: SeriesSpec,
    decisions: dict[dt.datetime, Decision],
    *,
    exclude_ids: tuple[uuid.UUID, ...] = (),
    user_id: uuid.UUID | None = None,
) -> Outcome:
    """Write the series and book every occurrence not skipped (at its ``move_to`` if
    moved). Raises ``SeriesConflict`` when any cannot be booked — the caller must then
    roll back, which undoes every occurrence booked before it. Occurrences already in the
    past are refused with the rest (422): a series starts now or later."""
    occurrences = spec.occurrences()
    now = utcnow()
    if any(o.starts_at <= now and not decisions.get(o.starts_at, Decision()).skip for o in occurrences):
        raise field_error("start", "the series has occurrences in the past; start it later or skip them")
    if occurrences:
        # the series row stores the ids: an unknown or another clinic's one is a 422 here,
        # as in the preview, not a foreign-key failure at the flush
        await booking.check_references(session, spec.proposal(occurrences[0].starts_at))
    await _lock_all(session, spec)
    series = Series(
        patient_id=spec.patient_id,
        provider_id=spec.provider_id,
        location_id=spec.location_id,
        type_id=spec.type_id,
        rrule=spec.rule.text(),
        first_start_local=spec.first_local.replace(tzinfo=dt.UTC),  # wall clock, see models.Series
        time_zone=spec.zone,
        created_by_user_id=user_id,
    )
    session.add(series)
    await session.flush()
    outcome = Outcome(series)
    failed = False
    for occurrence in occurrences:
        decision = decisions.get(occurrence.starts_at, Decision())
        if decision.skip:
            outcome.skipped.append(occurrence.starts_at)
            continue
        starts_at = decision.move_to or occurrence.starts_at
        try:
            booked = await booking.book(
                session,
                hooks,
                spec.proposal(starts_at),
                action="series",
                series_id=series.id,
                occurrence_start=occurrence.starts_at,
            )
        except BookingConflict:
            failed = True
            continue
        outcome.created.append(booked.appointment)
        outcome.warnings += booked.warnings
        if decision.move_to is not None:
            outcome.moved.append((occurrence.starts_at, booked.appointment))
    if failed:
        raise SeriesConflict(detail="Some occurrences can no longer be booked as decided.")
    if not outcome.created:
        raise field_error("decisions", "every occurrence is skipped; there is nothing to book")
    await record(
        session,
        action="create",
        resource_type=RESOURCE_TYPE,
        resource_id=series.id,
        patient_id=series.patient_id,
        detail={
            "rrule": series.rrule,
            "created": len(outcome.created),
            "skipped": [utc_text(s) for s in outcome.skipped],
            "moved": [utc_text(s) for s, _ in outcome.moved],
        },
    )
    return outcome


# -- reading a series -------------------------------------------------------------------


async def occurrences_of(session: AsyncSession, series_id: uuid.UUID) -> list[Appointment]:
    return list(
        await session.scalars(
            select(Appointment)
            .where(Appointment.series_id == series_id)
            .order_by(Appointment.occurrence_start, Appointment.starts_at)
        )
    )


def first_local(series: Series) -> dt.datetime:
    """The stored first start as naive wall-clock time (stored in a timestamptz column
    tagged UTC; only its digits mean anything)."""
    return series.first_start_local.astimezone(dt.UTC).replace(tzinfo=None)


def rule_of(series: Series) -> Rule:
    return parse_rrule(series.rrule, zoneinfo.ZoneInfo(series.time_zone))


def spec_of(series: Series, *, note: str | None = None, allow_outside_hours: bool = False) -> SeriesSpec:
    return SeriesSpec(
        patient_id=series.patient_id,
        provider_id=series.provider_id,
        location_id=series.location_id,
        type_id=series.type_id,
        rule=rule_of(series),
        first_local=first_local(series),
        zone=series.time_zone,
        note=note,
        allow_outside_hours=allow_outside_hours,
    )


async def find_occurrence(session: AsyncSession, series: Series, appointment_id: Any) -> Appointment:
    """One of the series' appointments, or 404."""
    appointment = await session.scalar(
        select(Appointment)
        .where(Appointment.id == appointment_id, Appointment.series_id == series.id)
        .with_for_update()
    )
    if appointment is None:
        raise NotFoundException(detail="That appointment is not an occurrence of this series.")
    return appointment


def still_to_come(appointments: list[Appointment], since: dt.datetime | None) -> list[Appointment]:
    """The occurrences a change or cancellation of the series reaches: those that still
    hold future time (booked or confirmed, not started), from ``since`` (their
    RECURRENCE-ID) on. Past, arrived, completed, no-show and cancelled ones are history."""
    now = utcnow()
    return [
        a
        for a in appointments
        if a.status in booking.MOVABLE
        and a.starts_at > now
        and (since is None or (a.occurrence_start or a.starts_at) >= since)
    ]


def _end_before(series: Series, boundary: dt.datetime) -> bool:
    """End the series' rule just before ``boundary`` (RFC 5545 UNTIL); False when no
    occurrence would be left, in which case the rule is left as it was."""
    rule = rule_of(series)
    first = to_instant(first_local(series), zoneinfo.ZoneInfo(series.time_zone))
    if boundary <= first:
        return False
    series.rrule = rule.ending_before(boundary).text()
    series.updated_at = utcnow()
    return True


# -- changing ---------------------------------------------------------------------------


@dataclass
class Change:
    """A change to "this and following" or "all": a new first start (wall clock), new
    weekdays for a weekly rule, another provider. None keeps what the series had."""

    start_local: dt.datetime | None = None
    weekdays: tuple[str, ...] | None = None
    provider_id: uuid.UUID | None = None
    allow_outside_hours: bool = False


def continuation(series: Series, anchor: Appointment, change: Change) -> SeriesSpec:
    """The series from ``anchor`` on, with ``change`` applied: its rule keeps the old end
    (UNTIL, or what is left of COUNT) and its first start is the anchor's (or the new one)."""
    old = spec_of(series)
    zone = zoneinfo.ZoneInfo(series.time_zone)
    boundary = anchor.occurrence_start or anchor.starts_at
    rule = old.rule
    if rule.count is not None:
        before = sum(1 for o in old.occurrences() if o.starts_at < boundary)
        rule = replace(rule, count=rule.count - before)
    if change.weekdays is not None:
        if rule.freq not in ("DAILY", "WEEKLY"):
            raise field_error("weekdays", "only a daily or weekly series can change its weekdays")
        rule = rule.with_weekdays(change.weekdays)
    start = change.start_local or boundary.astimezone(zone).replace(tzinfo=None)
    if change.weekdays is not None:
        while WEEKDAYS[start.weekday()] not in change.weekdays:
            start += dt.timedelta(days=1)
    return replace(
        old,
        rule=rule,
        first_local=start,
        provider_id=change.provider_id or series.provider_id,
        allow_outside_hours=change.allow_outside_hours,
    )


async def change_from(
    session: AsyncSession,
    hooks: Any,
    series: Series,
    anchor: Appointment,
    spec: SeriesSpec,
    decisions: dict[dt.datetime, Decision],
    *,
    user_id: uuid.UUID | None = None,
) -> Outcome:
    """ "This and following" (and "all", anchored at the first occurrence still to come):
    end the old rule before ``anchor``, cancel its occurrences still to come from there,
    and book ``spec`` (``continuation(...)``) as a new series. Raises ``SeriesConflict`` (caller rolls
    back) like creation."""
    boundary = anchor.occurrence_start or anchor.starts_at
    old = still_to_come(await occurrences_of(session, series.id), boundary)
    reason = f"Series changed from {boundary.astimezone(zoneinfo.ZoneInfo(series.time_zone)):%Y-%m-%d}"
    for appointment in old:
        await booking.cancel(session, hooks, appointment, reason)
    if not _end_before(series, boundary):
        series.status = "replaced"
        series.updated_at = utcnow()
    outcome = await book_series(
        session, hooks, spec, decisions, exclude_ids=tuple(a.id for a in old), user_id=user_id
    )
    outcome.cancelled = old
    outcome.replaced = series
    await record(
        session,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=series.id,
        patient_id=series.patient_id,
        detail={
            "change": "split",
            "from": utc_text(boundary),
            "rrule": series.rrule,
            "status": series.status,
            "continued_as": str(outcome.series.id),
            "cancelled": [str(a.id) for a in old],
        },
    )
    return outcome


async def cancel_occurrences(
    session: AsyncSession,
    hooks: Any,
    series: Series,
    scope: str,
    reason: str,
    anchor: Appointment | None,
) -> tuple[list[Appointment], list[Appointment]]:
    """Cancel one occurrence, this and the following ones, or all still to come; returns
    (cancelled, left as they were). Ending "following" also ends the rule before the
    anchor; "all" marks the series cancelled."""
    appointments = await occurrences_of(session, series.id)
    if scope == "this":
        if not still_to_come([anchor], None):
            raise BookingConflict(
                detail=f"This occurrence is {anchor.status} and past or under way; only visits still "
                "to come can be cancelled.",
                extra={"status": anchor.status},
            )
        targets = [anchor]
    elif scope == "following":
        boundary = anchor.occurrence_start or anchor.starts_at
        targets = still_to_come(appointments, boundary)
        if not _end_before(series, boundary):
            series.status = "cancelled"
    else:
        targets = still_to_come(appointments, None)
        series.status = "cancelled"
        series.updated_at = utcnow()
    for appointment in targets:
        await booking.cancel(session, hooks, appointment, reason)
    untouched = [a for a in appointments if a not in targets]
    await record(
        session,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=series.id,
        patient_id=series.patient_id,
        reason=reason,
        detail={
            "change": f"cancelled-{scope}",
            "cancelled": [str(a.id) for a in targets],
            "rrule": series.rrule,
        },
    )
    return targets, untouched


__all__ = [
    "Change",
    "Decision",
    "Outcome",
    "SeriesConflict",
    "SeriesSpec",
    "book_series",
    "cancel_occurrences",
    "change_from",
    "continuation",
    "find_occurrence",
    "occurrences_of",
    "preview",
    "read_decisions",
    "read_local_start",
    "rule_error",
    "spec_of",
    "still_to_come",
    "zone_of",
]
