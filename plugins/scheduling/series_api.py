"""JSON API of recurring series (``/api/scheduling/series``): preview with conflicts and
alternatives, atomic creation with per-occurrence decisions, the series and its
occurrences, changes and cancellations of one occurrence, this and the following ones,
or all. Series are PHI: each handler is a ``phi_route`` and records its audit event
(resource type ``series``) in the transaction of the access; each appointment booked,
moved or cancelled also records its own through ``booking``.

Times: ``start`` is wall-clock time at the location (``2026-03-03T09:00``; a date-time
with an offset is converted to the location's clock); everything answered is UTC with
the local time beside it."""

from __future__ import annotations

import uuid
import zoneinfo
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import DbSession, current_principal, find_or_404, phi_route, record, requires, site_of
from plugins.scheduling import booking
from plugins.scheduling import series as service
from plugins.scheduling.inputs import Reader, field_error
from plugins.scheduling.models import Series
from plugins.scheduling.recurrence import RuleError, parse_rrule, parse_weekdays, to_instant, weekly_rule

READ = [requires("scheduling:appointments", "read")]
WRITE = [requires("scheduling:appointments", "write")]
SCOPES = ("this", "following", "all")
SPEC_FIELDS = {
    "patient_id",
    "provider_id",
    "location_id",
    "type_id",
    "start",
    "rrule",
    "repeat",
    "note",
    "allow_outside_hours",
}


def _hooks(request: Request) -> Any:
    return site_of(request).hooks


def _user_id() -> uuid.UUID | None:
    principal = current_principal()
    return principal.user_id if principal else None


async def _read_spec(db_session: AsyncSession, reader: Reader) -> service.SeriesSpec:
    """The series described by the body: who, where, what, from when, by which rule
    (``rrule`` text, or ``repeat``: {"weekdays", "weeks" | "count", "every"})."""
    ids = {
        name: reader.uuid(name, required=True)
        for name in ("patient_id", "provider_id", "location_id", "type_id")
    }
    note = reader.text("note", max_length=2000)
    allow_outside_hours = bool(reader.boolean("allow_outside_hours", False))
    if not reader.has("start"):
        reader.error(
            "start", "required: the first visit's date and time at the location, e.g. 2026-03-03T09:00"
        )
    if reader.has("rrule") == reader.has("repeat"):
        reader.error("rrule", 'give either rrule (e.g. "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=12") or repeat')
    reader.raise_if_any()
    zone_name = await service.zone_of(db_session, ids["location_id"])
    zone = zoneinfo.ZoneInfo(zone_name)
    start = service.read_local_start(reader.data["start"], zone_name)
    try:
        if reader.has("rrule"):
            rule = parse_rrule(reader.data["rrule"], zone)
        else:
            repeat = reader.data["repeat"]
            if not isinstance(repeat, dict) or set(repeat) - {"weekdays", "weeks", "count", "every"}:
                raise RuleError(
                    'repeat is {"weekdays": [...], "weeks": N or "count": N, "every": N}', "repeat"
                )
            numbers = {}
            for key in ("weeks", "count", "every"):
                value = repeat.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise RuleError(f"{key} must be a whole number", f"repeat.{key}")
                numbers[key] = value
            rule, start = weekly_rule(
                parse_weekdays(repeat.get("weekdays"), "repeat.weekdays"),
                start,
                zone,
                weeks=numbers["weeks"],
                count=numbers["count"],
                every=numbers["every"] or 1,
            )
    except RuleError as exc:
        raise service.rule_error(exc) from None
    return service.SeriesSpec(
        patient_id=ids["patient_id"],
        provider_id=ids["provider_id"],
        location_id=ids["location_id"],
        type_id=ids["type_id"],
        rule=rule,
        first_local=start,
        zone=zone_name,
        note=note,
        allow_outside_hours=allow_outside_hours,
    )


def _occurrences(spec: service.SeriesSpec):
    try:
        return spec.occurrences()
    except RuleError as exc:
        raise service.rule_error(exc) from None


def _series_json(series, appointments=None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(series.id),
        "patient_id": str(series.patient_id),
        "provider_id": str(series.provider_id),
        "location_id": str(series.location_id),
        "type_id": str(series.type_id),
        "rrule": series.rrule,
        "first_start_local": service.first_local(series).isoformat(timespec="minutes"),
        "time_zone": series.time_zone,
        "status": series.status,
    }
    if appointments is not None:
        out["occurrences"] = [booking.appointment_json(a, series.time_zone) for a in appointments]
    return out


def _outcome_json(outcome: service.Outcome) -> dict[str, Any]:
    zone = outcome.series.time_zone
    out = {
        "series": _series_json(outcome.series),
        "created": [booking.appointment_json(a, zone) for a in outcome.created],
        "skipped": [service.utc_text(s) for s in outcome.skipped],
        "moved": [
            {
                "occurrence_start": service.utc_text(s),
                "starts_at": service.utc_text(a.starts_at),
                "id": str(a.id),
            }
            for s, a in outcome.moved
        ],
        "warnings": outcome.warnings,
    }
    if outcome.replaced is not None:
        out["replaced"] = _series_json(outcome.replaced)
        out["cancelled"] = [str(a.id) for a in outcome.cancelled]
    return out


async def _refuse_with_report(
    db_session: AsyncSession,
    spec: service.SeriesSpec,
    *,
    exclude_ids: tuple[uuid.UUID, ...] = (),
    series_id: uuid.UUID | None = None,
) -> service.SeriesConflict:
    """After a failed attempt (rolled back): the fresh occurrence report, the refusal
    audited, as the 409 to raise."""
    report = await service.preview(db_session, spec, exclude_ids=exclude_ids)
    await record(
        db_session,
        action="create" if series_id is None else "update",
        resource_type=service.RESOURCE_TYPE,
        resource_id=series_id,
        patient_id=spec.patient_id,
        outcome="failure",
        reason="occurrences could not be booked as decided",
        detail={
            "rrule": spec.rule.text(),
            "taken": [o["occurrence_start"] for o in report if not o["bookable"]],
        },
    )
    await db_session.commit()
    taken = sum(1 for o in report if not o["bookable"])
    return service.SeriesConflict(
        detail=(
            f"{taken} occurrence{'s' if taken != 1 else ''} cannot be booked as decided (the calendar "
            "changed since the preview); nothing was booked. Decide on them and send again."
        ),
        extra={"occurrences": report},
    )


@phi_route
@post("/api/scheduling/series/preview", name="scheduling:api-series-preview", guards=WRITE, status_code=200)
async def preview_series(db_session: DbSession, data: JSONBody[Any]) -> dict:
    """Every occurrence the rule gives, with its conflicts, whether the provider works
    then, and alternatives for those that cannot be booked. Writes nothing."""
    spec = await _read_spec(db_session, Reader(data, allowed=SPEC_FIELDS))
    _occurrences(spec)
    report = await service.preview(db_session, spec)
    await record(
        db_session,
        action="read",
        resource_type=service.RESOURCE_TYPE,
        patient_id=spec.patient_id,
        detail={"via": "preview", "rrule": spec.rule.text(), "occurrences": len(report)},
    )
    await db_session.commit()
    return {
        "rrule": spec.rule.text(),
        "time_zone": spec.zone,
        "first_start_local": spec.first_local.isoformat(timespec="minutes"),
        "occurrences": report,
        "bookable": sum(1 for o in report if o["bookable"]),
        "needs_decision": [o["occurrence_start"] for o in report if not o["bookable"]],
    }


@phi_route
@post("/api/scheduling/series", name="scheduling:api-series-create", guards=WRITE, status_code=201)
async def create_series(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    """Book the series in one transaction: each occurrence as the preview showed it,
    skipped, or moved (``decisions``). If any occurrence without a decision is taken by
    now, nothing is booked: 409 with the fresh report."""
    reader = Reader(data, allowed=SPEC_FIELDS | {"decisions"})
    spec = await _read_spec(db_session, reader)
    decisions = service.read_decisions(reader.data.get("decisions"), _occurrences(spec))
    try:
        outcome = await service.book_series(db_session, _hooks(request), spec, decisions, user_id=_user_id())
    except service.SeriesConflict:
        await db_session.rollback()
        raise await _refuse_with_report(db_session, spec) from None
    out = _outcome_json(outcome)
    await db_session.commit()
    return out


async def _find_series(db_session: AsyncSession, series_id: uuid.UUID, *, for_update: bool = False):
    return await find_or_404(
        db_session,
        Series,
        series_id,
        resource_type=service.RESOURCE_TYPE,
        noun="series",
        for_update=for_update,
    )


@phi_route
@get("/api/scheduling/series/{series_id:uuid}", name="scheduling:api-series", guards=READ)
async def show_series(db_session: DbSession, series_id: FromPath[uuid.UUID]) -> dict:
    """The series (its rule, first start, zone, status) and every occurrence booked."""
    series = await _find_series(db_session, series_id)
    appointments = await service.occurrences_of(db_session, series.id)
    out = _series_json(series, appointments)
    await record(
        db_session,
        action="read",
        resource_type=service.RESOURCE_TYPE,
        resource_id=series.id,
        patient_id=series.patient_id,
    )
    await db_session.commit()
    return out


async def _anchor(db_session, series, reader: Reader, scope: str):
    """The occurrence a scoped change starts from: the one named (``this``,
    ``following``), or for ``all`` the first one still to come."""
    if scope == "all":
        coming = service.still_to_come(await service.occurrences_of(db_session, series.id), None)
        if not coming:
            raise booking.BookingConflict(
                detail="No occurrence of this series is still to come; there is nothing to change.",
                extra={"status": series.status},
            )
        return await service.find_occurrence(db_session, series, coming[0].id)
    appointment_id = reader.uuid("appointment_id", required=True)
    reader.raise_if_any()
    return await service.find_occurrence(db_session, series, appointment_id)


def _scope(reader: Reader) -> str:
    scope = reader.data.get("scope")
    if scope not in SCOPES:
        reader.error("scope", 'must be "this", "following" or "all"')
    reader.raise_if_any()
    return scope


@phi_route
@post(
    "/api/scheduling/series/{series_id:uuid}/edit",
    name="scheduling:api-series-edit",
    guards=WRITE,
    status_code=200,
)
async def edit_series(
    request: Request, db_session: DbSession, series_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Move one occurrence (``this``: it keeps its RECURRENCE-ID), or change the time,
    weekdays or provider of this and the following occurrences or of all still to come
    (the series is split: see ``series.change_from``). Conflicts answer 409 with the
    report, as creation does; nothing is changed then."""
    reader = Reader(
        data,
        allowed={
            "scope",
            "appointment_id",
            "start",
            "weekdays",
            "provider_id",
            "allow_outside_hours",
            "decisions",
        },
    )
    scope = _scope(reader)
    provider_id = reader.uuid("provider_id")
    allow_outside_hours = bool(reader.boolean("allow_outside_hours", False))
    weekdays = None
    if reader.has("weekdays"):
        try:
            weekdays = parse_weekdays(reader.data["weekdays"])
        except RuleError as exc:
            reader.error(exc.field, exc.reason)
    reader.raise_if_any()
    series = await _find_series(db_session, series_id, for_update=True)
    anchor = await _anchor(db_session, series, reader, scope)
    start = service.read_local_start(reader.data["start"], series.time_zone) if reader.has("start") else None
    hooks = _hooks(request)

    if scope == "this":
        if weekdays is not None:
            raise field_error("weekdays", 'weekdays change "following" or "all" occurrences, not one')
        if start is None and provider_id is None:
            raise field_error("start", "say where the occurrence moves: a new start and/or provider_id")
        new_start = to_instant(start, zoneinfo.ZoneInfo(series.time_zone)) if start else anchor.starts_at
        moved = await booking.reschedule(
            db_session,
            hooks,
            anchor,
            starts_at=new_start,
            provider_id=provider_id,
            allow_outside_hours=allow_outside_hours,
        )
        await record(
            db_session,
            action="update",
            resource_type=service.RESOURCE_TYPE,
            resource_id=series.id,
            patient_id=series.patient_id,
            detail={"change": "moved-this", "appointment_id": str(anchor.id)},
        )
        out = {
            "series": _series_json(series),
            "moved": booking.appointment_json(moved.appointment, series.time_zone),
            "warnings": moved.warnings,
        }
        await db_session.commit()
        return out

    if start is None and weekdays is None and provider_id is None:
        raise field_error("start", "say what changes: a new start, weekdays and/or provider_id")
    if not service.still_to_come([anchor], None):
        raise booking.BookingConflict(
            detail=f"This occurrence is {anchor.status} and past or under way; change from a visit still to come.",
            extra={"status": anchor.status},
        )
    change = service.Change(
        start_local=start, weekdays=weekdays, provider_id=provider_id, allow_outside_hours=allow_outside_hours
    )
    spec = service.continuation(series, anchor, change)
    decisions = service.read_decisions(reader.data.get("decisions"), _occurrences(spec))
    boundary = anchor.occurrence_start or anchor.starts_at
    old_ids = tuple(
        a.id for a in service.still_to_come(await service.occurrences_of(db_session, series.id), boundary)
    )
    try:
        outcome = await service.change_from(
            db_session, hooks, series, anchor, spec, decisions, user_id=_user_id()
        )
    except service.SeriesConflict:
        await db_session.rollback()
        raise await _refuse_with_report(db_session, spec, exclude_ids=old_ids, series_id=series_id) from None
    out = _outcome_json(outcome)
    await db_session.commit()
    return out


@phi_route
@post(
    "/api/scheduling/series/{series_id:uuid}/cancel",
    name="scheduling:api-series-cancel",
    guards=WRITE,
    status_code=200,
)
async def cancel_series(
    request: Request, db_session: DbSession, series_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Cancel one occurrence, this and the following ones, or all still to come, with a
    reason. Visits in the past, arrived or completed are left as they are."""
    reader = Reader(data, allowed={"scope", "appointment_id", "reason"})
    scope = _scope(reader)
    reason = reader.text("reason", required=True, max_length=500)
    reader.raise_if_any()
    series = await _find_series(db_session, series_id, for_update=True)
    anchor = None if scope == "all" else await _anchor(db_session, series, reader, scope)
    cancelled, untouched = await service.cancel_occurrences(
        db_session, _hooks(request), series, scope, reason, anchor
    )
    out = {
        "series": _series_json(series),
        "cancelled": [str(a.id) for a in cancelled],
        "untouched": [str(a.id) for a in untouched],
    }
    await db_session.commit()
    return out


ROUTES: list = [preview_series, create_series, show_series, edit_series, cancel_series]

__all__ = ["ROUTES"]
