"""Setting up the schedule: appointment types, rooms and resources, weekly availability
and its exceptions (time off, extra hours). Shared by the JSON API (``setup_api``) and
the setup screens. Each function checks its input (422 naming the field), writes, and
records an audit event in the caller's transaction (not PHI, but who changed the schedule
matters when a day's bookings look wrong); the caller commits.

Types and resources are retired (``active`` false), never deleted: appointments refer to
them. Availability blocks and exceptions may be deleted; booked appointments stay.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Mapping
from typing import Any

from litestar.exceptions import ClientException, NotFoundException
from sqlalchemy import and_, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import ENCOUNTER_TYPES, Location, Provider, ProviderLocation, record, require_tenant_id
from plugins.scheduling.booking import iso_utc
from plugins.scheduling.inputs import Reader, field_error
from plugins.scheduling.models import (
    EXCEPTION_KINDS,
    AppointmentType,
    AvailabilityException,
    AvailabilityTemplate,
    Resource,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class SetupConflict(ClientException):
    status_code = 409


async def _audit(session: AsyncSession, action: str, kind: str, row: Any, detail: dict[str, Any]) -> None:
    await record(
        session, action=action, resource_type=f"scheduling:{kind}", resource_id=row.id, detail=detail
    )


async def _get(session: AsyncSession, model: type, row_id: uuid.UUID, what: str) -> Any:
    row = await session.get(model, (require_tenant_id(), row_id))
    if row is None:
        raise NotFoundException(detail=f"There is no such {what} in this clinic.")
    return row


async def _location(
    session: AsyncSession, location_id: uuid.UUID | None, field: str = "location_id"
) -> Location:
    location = await session.get(Location, (require_tenant_id(), location_id)) if location_id else None
    if location is None:
        raise field_error(field, "no such location in this clinic")
    return location


async def _provider(session: AsyncSession, provider_id: uuid.UUID | None) -> Provider:
    provider = await session.get(Provider, (require_tenant_id(), provider_id)) if provider_id else None
    if provider is None:
        raise field_error("provider_id", "no such provider in this clinic")
    return provider


def _changes(row: Any, values: dict[str, Any]) -> list[str]:
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    for key in changed:
        setattr(row, key, values[key])
    return changed


# -- appointment types ------------------------------------------------------------------

TYPE_FIELDS = {
    "name",
    "duration_minutes",
    "colour",
    "telehealth",
    "encounter_type",
    "resource_kind",
    "active",
}


def type_json(row: AppointmentType) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "duration_minutes": row.duration_minutes,
        "colour": row.colour,
        "telehealth": row.telehealth,
        "encounter_type": row.encounter_type,
        "resource_kind": row.resource_kind,
        "active": row.active,
    }


def read_type(data: Any, *, creating: bool, kinds: Mapping[str, str] = ENCOUNTER_TYPES) -> dict[str, Any]:
    """``kinds``: the installation's encounter types (``encounter_types(request)``: core's
    built-in kinds and every installed plugin's), which an appointment type may start."""
    reader = Reader(data, allowed=TYPE_FIELDS)
    values: dict[str, Any] = {}
    if creating or reader.has("name"):
        values["name"] = reader.text("name", required=True, max_length=80)
    if creating or reader.has("duration_minutes"):
        values["duration_minutes"] = reader.integer("duration_minutes", low=5, high=480, required=True)
    if reader.has("colour"):
        colour = reader.text("colour", required=True, max_length=7)
        if colour and not (
            len(colour) == 7 and colour[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in colour[1:])
        ):
            reader.error("colour", "must be a hex colour like #3b82f6")
        values["colour"] = colour.lower() if colour else colour
    if reader.has("telehealth"):
        values["telehealth"] = reader.boolean("telehealth")
    if creating or reader.has("encounter_type"):
        kind = reader.text("encounter_type", max_length=32) or ("office-visit" if creating else None)
        if kind not in kinds:
            reader.error("encounter_type", f"must be one of {', '.join(kinds)}")
        values["encounter_type"] = kind
    if reader.has("resource_kind"):
        values["resource_kind"] = reader.text("resource_kind", max_length=40)
    if reader.has("active"):
        values["active"] = reader.boolean("active")
    reader.raise_if_any()
    return {k: v for k, v in values.items() if v is not None or k == "resource_kind"}


async def _unique_name(session: AsyncSession, model: type, where, name: str, field: str = "name") -> None:
    if await session.scalar(select(model.id).where(where)):
        raise SetupConflict(detail=f"{name!r} already exists; choose another name.")


async def create_type(
    session: AsyncSession, data: Any, kinds: Mapping[str, str] = ENCOUNTER_TYPES
) -> AppointmentType:
    values = read_type(data, creating=True, kinds=kinds)
    await _unique_name(session, AppointmentType, AppointmentType.name == values["name"], values["name"])
    row = AppointmentType(**values)
    session.add(row)
    await session.flush()
    await _audit(session, "create", "type", row, {"name": row.name})
    return row


async def update_type(
    session: AsyncSession, type_id: uuid.UUID, data: Any, kinds: Mapping[str, str] = ENCOUNTER_TYPES
) -> AppointmentType:
    values = read_type(data, creating=False, kinds=kinds)
    row = await _get(session, AppointmentType, type_id, "appointment type")
    if "name" in values and values["name"] != row.name:
        await _unique_name(session, AppointmentType, AppointmentType.name == values["name"], values["name"])
    changed = _changes(row, values)
    await session.flush()
    await _audit(session, "update", "type", row, {"fields": changed})
    return row


async def list_types(session: AsyncSession) -> list[AppointmentType]:
    return list(
        await session.scalars(
            select(AppointmentType).order_by(AppointmentType.active.desc(), AppointmentType.name)
        )
    )


# -- resources --------------------------------------------------------------------------

RESOURCE_FIELDS = {"location_id", "name", "kind", "active"}


def resource_json(row: Resource) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "location_id": str(row.location_id),
        "name": row.name,
        "kind": row.kind,
        "active": row.active,
    }


def read_resource(data: Any, *, creating: bool) -> dict[str, Any]:
    reader = Reader(data, allowed=RESOURCE_FIELDS if creating else RESOURCE_FIELDS - {"location_id"})
    values: dict[str, Any] = {}
    if creating:
        values["location_id"] = reader.uuid("location_id", required=True)
    if creating or reader.has("name"):
        values["name"] = reader.text("name", required=True, max_length=80)
    if creating or reader.has("kind"):
        values["kind"] = reader.text("kind", required=True, max_length=40)
    if reader.has("active"):
        values["active"] = reader.boolean("active")
    reader.raise_if_any()
    return {k: v for k, v in values.items() if v is not None}


async def create_resource(session: AsyncSession, data: Any) -> Resource:
    values = read_resource(data, creating=True)
    await _location(session, values["location_id"])
    await _unique_name(
        session,
        Resource,
        and_(Resource.location_id == values["location_id"], Resource.name == values["name"]),
        values["name"],
    )
    row = Resource(**values)
    session.add(row)
    await session.flush()
    await _audit(session, "create", "resource", row, {"name": row.name, "kind": row.kind})
    return row


async def update_resource(session: AsyncSession, resource_id: uuid.UUID, data: Any) -> Resource:
    values = read_resource(data, creating=False)
    row = await _get(session, Resource, resource_id, "room or resource")
    if "name" in values and values["name"] != row.name:
        await _unique_name(
            session,
            Resource,
            and_(Resource.location_id == row.location_id, Resource.name == values["name"]),
            values["name"],
        )
    changed = _changes(row, values)
    await session.flush()
    await _audit(session, "update", "resource", row, {"fields": changed})
    return row


async def list_resources(session: AsyncSession, location_id: uuid.UUID | None = None) -> list[Resource]:
    query = select(Resource).order_by(Resource.location_id, Resource.name)
    if location_id:
        query = query.where(Resource.location_id == location_id)
    return list(await session.scalars(query))


# -- weekly availability ----------------------------------------------------------------

TEMPLATE_FIELDS = {
    "provider_id",
    "location_id",
    "weekday",
    "start_time",
    "end_time",
    "valid_from",
    "valid_until",
}


def template_json(row: AvailabilityTemplate) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "provider_id": str(row.provider_id),
        "location_id": str(row.location_id),
        "weekday": row.weekday,
        "weekday_name": WEEKDAYS[row.weekday],
        "start_time": row.start_time.strftime("%H:%M"),
        "end_time": row.end_time.strftime("%H:%M"),
        "valid_from": row.valid_from.isoformat(),
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
    }


def read_template(data: Any, current: AvailabilityTemplate | None = None) -> dict[str, Any]:
    creating = current is None
    reader = Reader(data, allowed=TEMPLATE_FIELDS if creating else TEMPLATE_FIELDS - {"provider_id"})
    values: dict[str, Any] = {}
    if creating:
        values["provider_id"] = reader.uuid("provider_id", required=True)
    if creating or reader.has("location_id"):
        values["location_id"] = reader.uuid("location_id", required=True)
    if creating or reader.has("weekday"):
        values["weekday"] = reader.integer("weekday", low=0, high=6, required=True)
    for key in ("start_time", "end_time"):
        if creating or reader.has(key):
            values[key] = reader.time(key, required=True)
    if creating or reader.has("valid_from"):
        values["valid_from"] = reader.date("valid_from") or (dt.date.today() if creating else None)
        if values["valid_from"] is None:
            reader.error("valid_from", "required")
    if reader.has("valid_until"):
        values["valid_until"] = reader.date("valid_until")
    start = values.get("start_time", current.start_time if current else None)
    end = values.get("end_time", current.end_time if current else None)
    if start and end and end <= start:
        reader.error("end_time", "must be after the start time (a block ends on the day it starts)")
    first = values.get("valid_from", current.valid_from if current else None)
    last = values.get("valid_until", current.valid_until if current else None)
    if first and last and last < first:
        reader.error("valid_until", "must not be before valid_from")
    reader.raise_if_any()
    return values


async def _check_template(
    session: AsyncSession, values: dict[str, Any], current: AvailabilityTemplate | None
) -> None:
    """The provider works at the location, and has no other block that day and time in an
    overlapping validity period (at any location: one person, one place at a time)."""
    provider_id = values.get("provider_id", current.provider_id if current else None)
    location_id = values.get("location_id", current.location_id if current else None)
    await _provider(session, provider_id)
    await _location(session, location_id)
    works_there = await session.scalar(
        select(ProviderLocation.provider_id).where(
            ProviderLocation.provider_id == provider_id, ProviderLocation.location_id == location_id
        )
    )
    if works_there is None:
        raise field_error("location_id", "the provider does not work at this location")
    # serialise availability changes of one provider, so two overlapping blocks cannot be
    # added at the same moment
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{require_tenant_id()}:availability:{provider_id}"},
    )
    merged = {
        key: values.get(key, getattr(current, key) if current else None)
        for key in ("weekday", "start_time", "end_time", "valid_from", "valid_until")
    }
    query = select(AvailabilityTemplate).where(
        AvailabilityTemplate.provider_id == provider_id,
        AvailabilityTemplate.weekday == merged["weekday"],
        AvailabilityTemplate.start_time < merged["end_time"],
        AvailabilityTemplate.end_time > merged["start_time"],
        or_(
            AvailabilityTemplate.valid_until.is_(None),
            AvailabilityTemplate.valid_until >= merged["valid_from"],
        ),
    )
    if merged["valid_until"] is not None:
        query = query.where(AvailabilityTemplate.valid_from <= merged["valid_until"])
    if current is not None:
        query = query.where(AvailabilityTemplate.id != current.id)
    clash = await session.scalar(query.limit(1))
    if clash is not None:
        raise SetupConflict(
            detail=(
                f"This provider already works {WEEKDAYS[clash.weekday]}s "
                f"{clash.start_time:%H:%M}-{clash.end_time:%H:%M} (block {clash.id}); change or end that "
                "block first."
            ),
            extra={"conflicts": [template_json(clash)]},
        )


async def create_template(session: AsyncSession, data: Any) -> AvailabilityTemplate:
    values = read_template(data)
    await _check_template(session, values, None)
    row = AvailabilityTemplate(**values)
    session.add(row)
    await session.flush()
    await _audit(session, "create", "availability", row, template_json(row))
    return row


async def update_template(session: AsyncSession, template_id: uuid.UUID, data: Any) -> AvailabilityTemplate:
    row = await _get(session, AvailabilityTemplate, template_id, "availability block")
    values = read_template(data, row)
    await _check_template(session, values, row)
    before = template_json(row)
    _changes(row, values)
    await session.flush()
    await _audit(session, "update", "availability", row, {"from": before, "to": template_json(row)})
    return row


async def delete_template(session: AsyncSession, template_id: uuid.UUID) -> None:
    row = await _get(session, AvailabilityTemplate, template_id, "availability block")
    before = template_json(row)
    await session.delete(row)
    await session.flush()
    await record(
        session,
        action="delete",
        resource_type="scheduling:availability",
        resource_id=template_id,
        detail=before,
    )


async def list_templates(
    session: AsyncSession, provider_id: uuid.UUID | None = None, location_id: uuid.UUID | None = None
) -> list[AvailabilityTemplate]:
    query = select(AvailabilityTemplate).order_by(
        AvailabilityTemplate.provider_id, AvailabilityTemplate.weekday, AvailabilityTemplate.start_time
    )
    if provider_id:
        query = query.where(AvailabilityTemplate.provider_id == provider_id)
    if location_id:
        query = query.where(AvailabilityTemplate.location_id == location_id)
    return list(await session.scalars(query))


# -- exceptions -------------------------------------------------------------------------

EXCEPTION_FIELDS = {"provider_id", "location_id", "kind", "start", "end", "reason"}


def exception_json(row: AvailabilityException, time_zone: str) -> dict[str, Any]:
    zone = zoneinfo.ZoneInfo(time_zone)
    return {
        "id": str(row.id),
        "provider_id": str(row.provider_id),
        "location_id": str(row.location_id) if row.location_id else None,
        "kind": row.kind,
        "start": iso_utc(row.starts_at),
        "end": iso_utc(row.ends_at),
        "start_local": row.starts_at.astimezone(zone).isoformat(),
        "end_local": row.ends_at.astimezone(zone).isoformat(),
        "time_zone": time_zone,
        "reason": row.reason,
    }


async def create_exception(session: AsyncSession, data: Any) -> AvailabilityException:
    """Time off (``location_id`` optional: none means everywhere) or extra hours (at a
    location). ``start``/``end`` are date-times with an offset."""
    reader = Reader(data, allowed=EXCEPTION_FIELDS)
    provider_id = reader.uuid("provider_id", required=True)
    location_id = reader.uuid("location_id")
    kind = reader.text("kind", required=True, max_length=16)
    if kind and kind not in EXCEPTION_KINDS:
        reader.error("kind", f"must be one of {', '.join(EXCEPTION_KINDS)}")
    starts_at = reader.instant("start", required=True)
    ends_at = reader.instant("end", required=True)
    reason = reader.text("reason", max_length=200)
    if starts_at and ends_at and ends_at <= starts_at:
        reader.error("end", "must be after the start")
    if starts_at and ends_at and ends_at - starts_at > dt.timedelta(days=366):
        reader.error("end", "at most a year after the start")
    if kind == "extra-hours" and location_id is None and not reader.errors:
        reader.error("location_id", "required for extra hours (where the provider works them)")
    reader.raise_if_any()
    await _provider(session, provider_id)
    if location_id is not None:
        await _location(session, location_id)
    row = AvailabilityException(
        provider_id=provider_id,
        location_id=location_id,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the provider or location went away meanwhile
        raise field_error("provider_id", "the provider or location no longer exists") from None
    await _audit(
        session,
        "create",
        "exception",
        row,
        {"kind": kind, "start": iso_utc(starts_at), "end": iso_utc(ends_at)},
    )
    return row


async def delete_exception(session: AsyncSession, exception_id: uuid.UUID) -> None:
    row = await _get(session, AvailabilityException, exception_id, "time off or extra hours")
    detail = {"kind": row.kind, "start": iso_utc(row.starts_at), "end": iso_utc(row.ends_at)}
    await session.delete(row)
    await session.flush()
    await record(
        session,
        action="delete",
        resource_type="scheduling:exception",
        resource_id=exception_id,
        detail=detail,
    )


async def list_exceptions(
    session: AsyncSession,
    provider_id: uuid.UUID | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[AvailabilityException]:
    query = select(AvailabilityException).order_by(AvailabilityException.starts_at)
    if provider_id:
        query = query.where(AvailabilityException.provider_id == provider_id)
    if since:
        query = query.where(AvailabilityException.ends_at > since)
    if until:
        query = query.where(AvailabilityException.starts_at < until)
    return list(await session.scalars(query))


__all__ = [
    "WEEKDAYS",
    "SetupConflict",
    "create_exception",
    "create_resource",
    "create_template",
    "create_type",
    "delete_exception",
    "delete_template",
    "exception_json",
    "list_exceptions",
    "list_resources",
    "list_templates",
    "list_types",
    "resource_json",
    "template_json",
    "type_json",
    "update_resource",
    "update_template",
    "update_type",
]
