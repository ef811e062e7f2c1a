"""JSON API of encounters (``core:encounters``). Encounters are PHI: every handler is
marked ``opt={"phi": True}`` and audits each read or change, with the patient, in the
same transaction as the access."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.audit.lookup import find_or_404
from core.audit.record import record
from core.authz.guards import requires
from core.encounters import services
from core.encounters import status as lifecycle
from core.encounters.models import Encounter
from core.plugin_api import DbSession
from core.web.context import site_of
from core.web.inputs import Reader, field_error, raise_errors
from core.web.listing import fetch_page, filter_listing

READ = [requires("core:encounters", "read")]
WRITE = [requires("core:encounters", "write")]
PHI = {"phi": True}
RESOURCE = "core:encounters"


def _tenant_tz(request: Request) -> str:
    return site_of(request).tenant.time_zone


async def _one_json(request: Request, db_session: DbSession, encounter: Encounter) -> dict[str, Any]:
    zones = await services.time_zones(db_session, {encounter.location_id}, _tenant_tz(request))
    out = services.encounter_json(
        encounter, zones.get(encounter.location_id, _tenant_tz(request)), request.app.state.encounter_types
    )
    out["status_history"] = [
        services.history_json(h) for h in await services.status_history(db_session, encounter.id)
    ]
    return out


async def _find(db_session: DbSession, encounter_id: uuid.UUID, *, for_update: bool = False) -> Encounter:
    return await find_or_404(
        db_session, Encounter, encounter_id, resource_type=RESOURCE, noun="encounter", for_update=for_update
    )


@get("/api/encounters", name="core:api-encounters", guards=READ, opt=PHI)
async def list_encounters(
    request: Request,
    db_session: DbSession,
    patient_id: FromQuery[str | None] = None,
    provider_id: FromQuery[str | None] = None,
    location_id: FromQuery[str | None] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    limit: FromQuery[str | None] = None,
    offset: FromQuery[str | None] = None,
) -> dict:
    """Encounters by start time; filters combine. ``from``/``to`` select the encounters
    overlapping that window and take a date-time with offset or a date (whole days in the
    clinic's time zone); ``status`` may list several, comma-separated. Paginated with
    ``limit`` (1-200, default 50) and ``offset``; ``total`` counts every match."""
    tz = _tenant_tz(request)
    listing = filter_listing(
        select(Encounter),
        ids=(
            ("patient_id", patient_id, Encounter.patient_id),
            ("provider_id", provider_id, Encounter.provider_id),
            ("location_id", location_id, Encounter.location_id),
        ),
        window=(from_, to),
        starts_at=Encounter.starts_at,
        ends_at=Encounter.ends_at,
        time_zone=tz,
        status=status,
        status_column=Encounter.status,
        statuses=lifecycle.STATUSES,
        limit=limit,
        offset=offset,
    )
    raise_errors(listing.errors)

    rows, total = await fetch_page(db_session, listing, Encounter.starts_at, Encounter.id)
    zones = await services.time_zones(db_session, {e.location_id for e in rows}, tz)
    by_patient: dict[uuid.UUID, list[str]] = defaultdict(list)
    for encounter in rows:
        by_patient[encounter.patient_id].append(str(encounter.id))
    for patient, ids in by_patient.items():
        await record(
            db_session,
            action="read",
            resource_type=RESOURCE,
            resource_id=ids[0] if len(ids) == 1 else None,
            patient_id=patient,
            detail={"encounter_ids": ids, "via": "list"},
        )
    await db_session.commit()
    return {
        "items": [
            services.encounter_json(e, zones.get(e.location_id, tz), request.app.state.encounter_types)
            for e in rows
        ],
        "total": total,
        "limit": listing.limit,
        "offset": listing.offset,
    }


@post("/api/encounters", name="core:api-create-encounter", guards=WRITE, opt=PHI)
async def create_encounter(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    values = services.read_encounter(data, creating=True, types=request.app.state.encounter_types)
    try:
        encounter = await services.create_encounter(db_session, values)
    except IntegrityError:  # the patient, provider or location vanished meanwhile
        raise field_error("patient_id", "the patient, provider or location no longer exists") from None
    await record(
        db_session,
        action="create",
        resource_type=RESOURCE,
        resource_id=encounter.id,
        patient_id=encounter.patient_id,
    )
    out = await _one_json(
        request, db_session, encounter
    )  # built before the commit: a failure commits nothing
    await db_session.commit()
    return out


@get("/api/encounters/{encounter_id:uuid}", name="core:api-encounter", guards=READ, opt=PHI)
async def show_encounter(request: Request, db_session: DbSession, encounter_id: FromPath[uuid.UUID]) -> dict:
    encounter = await _find(db_session, encounter_id)
    out = await _one_json(request, db_session, encounter)
    await record(
        db_session,
        action="read",
        resource_type=RESOURCE,
        resource_id=encounter.id,
        patient_id=encounter.patient_id,
    )
    await db_session.commit()
    return out


@patch("/api/encounters/{encounter_id:uuid}", name="core:api-update-encounter", guards=WRITE, opt=PHI)
async def update_encounter(
    request: Request, db_session: DbSession, encounter_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    values = services.read_encounter(data, creating=False, types=request.app.state.encounter_types)
    encounter = await _find(db_session, encounter_id, for_update=True)
    changed = await services.update_encounter(db_session, encounter, values)
    await record(
        db_session,
        action="update",
        resource_type=RESOURCE,
        resource_id=encounter.id,
        patient_id=encounter.patient_id,
        detail={"fields": changed},
    )
    out = await _one_json(
        request, db_session, encounter
    )  # built before the commit: a failure commits nothing
    await db_session.commit()
    return out


@post(
    "/api/encounters/{encounter_id:uuid}/status",
    name="core:api-encounter-status",
    guards=WRITE,
    opt=PHI,
    status_code=200,
)
async def set_encounter_status(
    request: Request, db_session: DbSession, encounter_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Move the encounter along its lifecycle (``{"status", "reason"}``); an illegal move
    answers 409 naming the statuses it may take next."""
    reader = Reader(data, allowed={"status", "reason"})
    new_status = reader.text("status", required=True, max_length=32)
    reason = reader.text("reason", max_length=1000)
    reader.raise_if_any()
    encounter = await _find(db_session, encounter_id, for_update=True)
    old_status = await services.change_status(
        db_session, site_of(request).hooks, encounter, new_status, reason
    )
    await record(
        db_session,
        action="update",
        resource_type=RESOURCE,
        resource_id=encounter.id,
        patient_id=encounter.patient_id,
        reason=reason,
        detail={"status": [old_status, new_status]},
    )
    out = await _one_json(
        request, db_session, encounter
    )  # built before the commit: a failure commits nothing
    await db_session.commit()
    return out


ROUTES = [list_encounters, create_encounter, show_encounter, update_encounter, set_encounter_status]
