"""JSON API of the schedule's setup, under ``/api/scheduling/``: appointment types,
rooms and resources, weekly availability, time off and extra hours. Guarded by
``scheduling:setup`` (read / write); every change is audited (``setup``). Not PHI: nothing
here names a patient."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from core.plugin_api import DbSession, encounter_types, requires, site_of
from plugins.scheduling import setup
from plugins.scheduling.inputs import parse_instant, parse_uuid, raise_errors

READ = [requires("scheduling:setup", "read")]
WRITE = [requires("scheduling:setup", "write")]


def _ids(**values: str | None) -> dict[str, uuid.UUID | None]:
    """Optional id filters from a query string (422 for one that is not a UUID)."""
    out, errors = {}, []
    for name, value in values.items():
        out[name] = None if value is None else parse_uuid(value)
        if value is not None and out[name] is None:
            errors.append({"field": name, "reason": "must be an id (a UUID)"})
    raise_errors(errors)
    return out


# -- appointment types ------------------------------------------------------------------


@get("/api/scheduling/types", name="scheduling:api-types", guards=READ)
async def list_types(db_session: DbSession) -> list[dict]:
    return [setup.type_json(t) for t in await setup.list_types(db_session)]


@post("/api/scheduling/types", name="scheduling:api-create-type", guards=WRITE)
async def create_type(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    """``{name, duration_minutes, colour?, telehealth?, encounter_type?, resource_kind?}``;
    ``encounter_type`` is one of the installation's encounter types (core's and plugins')."""
    row = await setup.create_type(db_session, data, encounter_types(request))
    await db_session.commit()
    return setup.type_json(row)


@patch("/api/scheduling/types/{type_id:uuid}", name="scheduling:api-update-type", guards=WRITE)
async def update_type(
    request: Request, db_session: DbSession, type_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Change any field; ``{"active": false}`` retires the type (no new bookings)."""
    row = await setup.update_type(db_session, type_id, data, encounter_types(request))
    await db_session.commit()
    return setup.type_json(row)


# -- resources --------------------------------------------------------------------------


@get("/api/scheduling/resources", name="scheduling:api-resources", guards=READ)
async def list_resources(db_session: DbSession, location_id: FromQuery[str | None] = None) -> list[dict]:
    ids = _ids(location_id=location_id)
    return [setup.resource_json(r) for r in await setup.list_resources(db_session, ids["location_id"])]


@post("/api/scheduling/resources", name="scheduling:api-create-resource", guards=WRITE)
async def create_resource(db_session: DbSession, data: JSONBody[Any]) -> dict:
    """``{location_id, name, kind}`` — e.g. ``{"name": "Table 2", "kind": "table"}``."""
    row = await setup.create_resource(db_session, data)
    await db_session.commit()
    return setup.resource_json(row)


@patch("/api/scheduling/resources/{resource_id:uuid}", name="scheduling:api-update-resource", guards=WRITE)
async def update_resource(
    db_session: DbSession, resource_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    row = await setup.update_resource(db_session, resource_id, data)
    await db_session.commit()
    return setup.resource_json(row)


# -- weekly availability ----------------------------------------------------------------


@get("/api/scheduling/availability", name="scheduling:api-availability", guards=READ)
async def list_availability(
    db_session: DbSession,
    provider_id: FromQuery[str | None] = None,
    location_id: FromQuery[str | None] = None,
) -> list[dict]:
    ids = _ids(provider_id=provider_id, location_id=location_id)
    rows = await setup.list_templates(db_session, ids["provider_id"], ids["location_id"])
    return [setup.template_json(t) for t in rows]


@post("/api/scheduling/availability", name="scheduling:api-create-availability", guards=WRITE)
async def create_availability(db_session: DbSession, data: JSONBody[Any]) -> dict:
    """``{provider_id, location_id, weekday (0 = Monday), start_time, end_time ("HH:MM",
    wall clock at the location), valid_from?, valid_until?}``; 409 if it overlaps another
    block of the provider that weekday."""
    row = await setup.create_template(db_session, data)
    await db_session.commit()
    return setup.template_json(row)


@patch(
    "/api/scheduling/availability/{template_id:uuid}", name="scheduling:api-update-availability", guards=WRITE
)
async def update_availability(
    db_session: DbSession, template_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    row = await setup.update_template(db_session, template_id, data)
    await db_session.commit()
    return setup.template_json(row)


@delete(
    "/api/scheduling/availability/{template_id:uuid}",
    name="scheduling:api-delete-availability",
    guards=WRITE,
    status_code=204,
)
async def delete_availability(db_session: DbSession, template_id: FromPath[uuid.UUID]) -> None:
    await setup.delete_template(db_session, template_id)
    await db_session.commit()


# -- time off and extra hours -----------------------------------------------------------


@get("/api/scheduling/exceptions", name="scheduling:api-exceptions", guards=READ)
async def list_exceptions(
    request: Request,
    db_session: DbSession,
    provider_id: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
) -> list[dict]:
    """Exceptions overlapping ``since``..``until`` (date-times with offset), by start."""
    ids = _ids(provider_id=provider_id)
    bounds, errors = {}, []
    for name, value in (("since", since), ("until", until)):
        bounds[name] = None
        if value is not None:
            bounds[name], problem = parse_instant(value)
            if problem:
                errors.append({"field": name, "reason": problem})
    raise_errors(errors)
    rows = await setup.list_exceptions(db_session, ids["provider_id"], bounds["since"], bounds["until"])
    zone = site_of(request).tenant.time_zone
    return [setup.exception_json(x, zone) for x in rows]


@post("/api/scheduling/exceptions", name="scheduling:api-create-exception", guards=WRITE)
async def create_exception(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    """``{provider_id, kind: "time-off" | "extra-hours", start, end, location_id?, reason?}``"""
    row = await setup.create_exception(db_session, data)
    await db_session.commit()
    return setup.exception_json(row, site_of(request).tenant.time_zone)


@delete(
    "/api/scheduling/exceptions/{exception_id:uuid}",
    name="scheduling:api-delete-exception",
    guards=WRITE,
    status_code=204,
)
async def delete_exception(db_session: DbSession, exception_id: FromPath[uuid.UUID]) -> None:
    await setup.delete_exception(db_session, exception_id)
    await db_session.commit()


ROUTES: list = [
    list_types,
    create_type,
    update_type,
    list_resources,
    create_resource,
    update_resource,
    list_availability,
    create_availability,
    update_availability,
    delete_availability,
    list_exceptions,
    create_exception,
    delete_exception,
]
