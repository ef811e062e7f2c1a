"""Encounters: creating, editing, changing status (the hook's caller), and JSON output
with times in UTC and in the location's (else the clinic's) time zone."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Mapping
from typing import Any

from litestar.exceptions import ClientException
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.principal import current_principal
from core.db.base import utcnow
from core.encounters import status as lifecycle
from core.encounters.models import ENCOUNTER_TYPES, Encounter, EncounterStatusHistory
from core.practice.codes import PLACE_OF_SERVICE, place_of_service_problem
from core.practice.models import Location, Provider, ProviderLocation
from core.tenancy.context import require_tenant_id
from core.web.inputs import Reader, field_error

CREATE_FIELDS = {"patient_id", "provider_id", "location_id", "start", "end", "type", "place_of_service"}
UPDATE_FIELDS = CREATE_FIELDS - {"patient_id"}


class Conflict(ClientException):
    status_code = 409


def _user_id() -> uuid.UUID | None:
    principal = current_principal()
    return principal.user_id if principal else None


# -- output -----------------------------------------------------------------------------


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def encounter_types(request: Any) -> Mapping[str, str]:
    """The installation's encounter types, code -> title: core's built-in kinds and every
    installed plugin's (``tessera_encounter_types``). For forms and input checks."""
    return request.app.state.encounter_types


def encounter_json(
    encounter: Encounter, time_zone: str, types: Mapping[str, str] = ENCOUNTER_TYPES
) -> dict[str, Any]:
    """``types``: the installation's encounter types (code -> title), ``app.state.encounter_types``."""
    zone = zoneinfo.ZoneInfo(time_zone)
    return {
        "id": str(encounter.id),
        "patient_id": str(encounter.patient_id),
        "provider_id": str(encounter.provider_id),
        "location_id": str(encounter.location_id),
        "start": _utc(encounter.starts_at),
        "end": _utc(encounter.ends_at),
        "time_zone": time_zone,
        "start_local": encounter.starts_at.astimezone(zone).isoformat(),
        "end_local": encounter.ends_at.astimezone(zone).isoformat(),
        "type": encounter.type,
        "type_name": types.get(encounter.type),
        "place_of_service": encounter.place_of_service,
        "place_of_service_name": PLACE_OF_SERVICE.get(encounter.place_of_service),
        "status": encounter.status,
        "status_reason": encounter.status_reason,
        "status_changed_at": _utc(encounter.status_changed_at),
        "allowed_next_statuses": list(lifecycle.allowed_next(encounter.status)),
    }


def history_json(row: EncounterStatusHistory) -> dict[str, Any]:
    return {
        "from_status": row.from_status,
        "to_status": row.to_status,
        "reason": row.reason,
        "changed_by_user_id": str(row.changed_by_user_id) if row.changed_by_user_id else None,
        "changed_at": _utc(row.changed_at),
    }


async def time_zones(
    session: AsyncSession, location_ids: set[uuid.UUID], tenant_time_zone: str
) -> dict[uuid.UUID, str]:
    """Each location's time zone for display (the clinic's where a location has none)."""
    if not location_ids:
        return {}
    rows = await session.execute(select(Location.id, Location.time_zone).where(Location.id.in_(location_ids)))
    return {loc_id: tz or tenant_time_zone for loc_id, tz in rows}


# -- input ------------------------------------------------------------------------------


def read_encounter(
    data: Any, *, creating: bool, types: Mapping[str, str] = ENCOUNTER_TYPES
) -> dict[str, Any]:
    reader = Reader(data, allowed=CREATE_FIELDS if creating else UPDATE_FIELDS)
    if not creating and isinstance(data, dict):
        if "patient_id" in data:
            reader.errors = [e for e in reader.errors if e["field"] != "patient_id"]
            reader.error("patient_id", "an encounter stays with its patient; cancel it and create another")
        if "status" in data:
            reader.errors = [e for e in reader.errors if e["field"] != "status"]
            reader.error("status", "change the status with POST /api/encounters/{id}/status")
    values: dict[str, Any] = {}
    for key in ("patient_id", "provider_id", "location_id"):
        if (creating or reader.has(key)) and (key != "patient_id" or creating):
            values[key] = reader.uuid(key, required=True)
    for key, column in (("start", "starts_at"), ("end", "ends_at")):
        if creating or reader.has(key):
            values[column] = reader.instant(key, required=True)
    if creating or reader.has("type"):
        kind = reader.text("type", required=True, max_length=32)
        if kind and kind not in types:
            reader.error("type", f"must be one of {', '.join(types)}")
        values["type"] = kind
    if creating or reader.has("place_of_service"):
        code = reader.text("place_of_service", max_length=2)
        if code is None and not creating:
            reader.error("place_of_service", "required (a place-of-service code such as 11)")
        elif code and (problem := place_of_service_problem(code)):
            reader.error("place_of_service", problem)
        values["place_of_service"] = code  # None on create: the location's default
    start, end = values.get("starts_at"), values.get("ends_at")
    if start and end and end <= start:
        reader.error("end", "must be after the start")
    reader.raise_if_any()
    return values


async def check_references(session: AsyncSession, values: dict[str, Any], current: Encounter | None) -> None:
    """Patient, provider and location must exist in this clinic (another clinic's ids are
    as unknown as made-up ones); the provider must be active and work at the location."""
    tenant_id = require_tenant_id()
    if "patient_id" in values:
        found = await session.scalar(
            text("SELECT 1 FROM patients WHERE tenant_id = :tenant AND id = :id"),
            {"tenant": tenant_id, "id": values["patient_id"]},
        )
        if not found:
            raise field_error("patient_id", "no such patient in this clinic")
    provider_id = values.get("provider_id", current.provider_id if current else None)
    location_id = values.get("location_id", current.location_id if current else None)
    if "provider_id" in values:
        provider = await session.get(Provider, (tenant_id, provider_id))
        if provider is None:
            raise field_error("provider_id", "no such provider in this clinic")
        if not provider.active:
            raise field_error("provider_id", "this provider is inactive")
    location = await session.get(Location, (tenant_id, location_id))
    if "location_id" in values:
        if location is None:
            raise field_error("location_id", "no such location in this clinic")
        if not location.active:
            raise field_error("location_id", "this location is inactive")
    if "provider_id" in values or "location_id" in values:
        works_there = await session.scalar(
            select(ProviderLocation.provider_id).where(
                ProviderLocation.provider_id == provider_id, ProviderLocation.location_id == location_id
            )
        )
        if works_there is None:
            field = "location_id" if "location_id" in values else "provider_id"
            raise field_error(field, "the provider does not work at this location (see /api/providers)")
    if values.get("place_of_service", "") is None and location is not None:
        values["place_of_service"] = location.place_of_service


# -- changes ----------------------------------------------------------------------------


async def create_encounter(session: AsyncSession, values: dict[str, Any]) -> Encounter:
    """Add a planned encounter and its first history row (the caller audits and commits)."""
    await check_references(session, values, None)
    user_id = _user_id()
    encounter = Encounter(**values, status=lifecycle.INITIAL, created_by_user_id=user_id)
    session.add(encounter)
    await session.flush()
    session.add(
        EncounterStatusHistory(
            encounter_id=encounter.id,
            from_status=None,
            to_status=lifecycle.INITIAL,
            changed_by_user_id=user_id,
        )
    )
    await session.flush()
    return encounter


async def update_encounter(session: AsyncSession, encounter: Encounter, values: dict[str, Any]) -> list[str]:
    """Apply checked changes; returns the names of the fields that changed."""
    if encounter.status in lifecycle.TERMINAL:
        raise Conflict(detail=f"A {encounter.status} encounter can no longer be changed.")
    start = values.get("starts_at", encounter.starts_at)
    end = values.get("ends_at", encounter.ends_at)
    if end <= start:
        raise field_error("end", "must be after the start")
    await check_references(session, values, encounter)
    changed = sorted(k for k, v in values.items() if getattr(encounter, k) != v)
    for key in changed:
        setattr(encounter, key, values[key])
    if changed:
        encounter.updated_at = utcnow()
        await session.flush()
    return changed


async def change_status(
    session: AsyncSession, hooks: Any, encounter: Encounter, new_status: str, reason: str | None = None
) -> str:
    """Move ``encounter`` to ``new_status`` if the lifecycle allows it (else 409 naming the
    allowed statuses), record the history row, then tell the tenant's plugins through
    ``tessera_encounter_status_changed`` in the same transaction: a plugin that raises
    aborts the change, since the caller then never commits. Returns the old status."""
    old_status = encounter.status
    if new_status not in lifecycle.STATUSES:
        raise field_error("status", f"must be one of {', '.join(lifecycle.STATUSES)}")
    if not lifecycle.is_allowed(old_status, new_status):
        raise Conflict(
            detail=lifecycle.refusal(old_status, new_status),
            extra={"allowed": list(lifecycle.allowed_next(old_status))},
        )
    now = utcnow()
    encounter.status = new_status
    encounter.status_reason = reason
    encounter.status_changed_at = now
    encounter.updated_at = now
    session.add(
        EncounterStatusHistory(
            encounter_id=encounter.id,
            from_status=old_status,
            to_status=new_status,
            reason=reason,
            changed_by_user_id=_user_id(),
            changed_at=now,
        )
    )
    await session.flush()
    await hooks.collect(
        "tessera_encounter_status_changed",
        encounter=encounter,
        old_status=old_status,
        new_status=new_status,
        session=session,
        hooks=hooks,
    )
    return old_status


async def status_history(session: AsyncSession, encounter_id: uuid.UUID) -> list[EncounterStatusHistory]:
    return list(
        await session.scalars(
            select(EncounterStatusHistory)
            .where(EncounterStatusHistory.encounter_id == encounter_id)
            .order_by(EncounterStatusHistory.changed_at, EncounterStatusHistory.id)
        )
    )
