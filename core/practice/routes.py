"""JSON API of locations and providers (``core:practice``). Listed in core's builtin plugin."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core.auth.models import User
from core.authz.guards import requires
from core.plugin_api import DbSession
from core.practice import services
from core.practice.models import Location, Provider, ProviderLocation
from core.web.context import site_of
from core.web.inputs import field_error, parse_uuid

READ = [requires("core:practice", "read")]
WRITE = [requires("core:practice", "write")]


def _tenant_tz(request: Request) -> str:
    return site_of(request).tenant.time_zone


def _active_filter(value: str | None) -> bool | None:
    if value is None or value == "all":
        return None
    if value in ("true", "false"):
        return value == "true"
    raise field_error("active", "must be true, false or all")


# -- locations --------------------------------------------------------------------------


@get("/api/locations", name="core:api-locations", guards=READ)
async def list_locations(
    request: Request, db_session: DbSession, active: FromQuery[str | None] = None
) -> dict:
    """The clinic's locations, by name (``?active=true|false`` to filter)."""
    query = select(Location).order_by(Location.name, Location.id)
    if (wanted := _active_filter(active)) is not None:
        query = query.where(Location.active.is_(wanted))
    tz = _tenant_tz(request)
    return {"items": [services.location_json(loc, tz) for loc in await db_session.scalars(query)]}


@post("/api/locations", name="core:api-create-location", guards=WRITE)
async def create_location(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    location = await services.create_location(db_session, services.read_location(data))
    await db_session.commit()
    return services.location_json(location, _tenant_tz(request))


@get("/api/locations/{location_id:uuid}", name="core:api-location", guards=READ)
async def show_location(request: Request, db_session: DbSession, location_id: FromPath[uuid.UUID]) -> dict:
    return services.location_json(await services.get_location(db_session, location_id), _tenant_tz(request))


@patch("/api/locations/{location_id:uuid}", name="core:api-update-location", guards=WRITE)
async def update_location(
    request: Request,
    db_session: DbSession,
    location_id: FromPath[uuid.UUID],
    data: JSONBody[Any],
) -> dict:
    location = await services.get_location(db_session, location_id)
    await services.update_location(db_session, location, services.read_location(data, location))
    await db_session.commit()
    return services.location_json(location, _tenant_tz(request))


# -- providers --------------------------------------------------------------------------


@get("/api/providers", name="core:api-providers", guards=READ)
async def list_providers(
    db_session: DbSession, active: FromQuery[str | None] = None, location_id: FromQuery[str | None] = None
) -> dict:
    """The clinic's providers by name (``?active=``, ``?location_id=`` to filter)."""
    query = select(Provider, User).join(User, User.id == Provider.user_id).order_by(User.display_name)
    if (wanted := _active_filter(active)) is not None:
        query = query.where(Provider.active.is_(wanted))
    if location_id is not None:
        parsed = parse_uuid(location_id)
        if parsed is None:
            raise field_error("location_id", "must be an id (a UUID)")
        query = query.where(
            Provider.id.in_(
                select(ProviderLocation.provider_id).where(ProviderLocation.location_id == parsed)
            )
        )
    rows = (await db_session.execute(query)).all()
    links: dict[uuid.UUID, list[uuid.UUID]] = {}
    for provider_id, loc_id in await db_session.execute(
        select(ProviderLocation.provider_id, ProviderLocation.location_id).order_by(
            ProviderLocation.location_id
        )
    ):
        links.setdefault(provider_id, []).append(loc_id)
    return {"items": [services.provider_json(p, u, links.get(p.id, [])) for p, u in rows]}


async def _provider_out(db_session: DbSession, provider: Provider) -> dict:
    user = await db_session.get(User, provider.user_id)
    return services.provider_json(
        provider, user, await services.provider_location_ids(db_session, provider.id)
    )


@post("/api/providers", name="core:api-create-provider", guards=WRITE)
async def create_provider(db_session: DbSession, data: JSONBody[Any]) -> dict:
    values = services.read_provider(data)
    await services.check_provider_refs(db_session, values)
    provider = await services.create_provider(db_session, values)
    await db_session.commit()
    return await _provider_out(db_session, provider)


@get("/api/providers/{provider_id:uuid}", name="core:api-provider", guards=READ)
async def show_provider(db_session: DbSession, provider_id: FromPath[uuid.UUID]) -> dict:
    return await _provider_out(db_session, await services.get_provider(db_session, provider_id))


@patch("/api/providers/{provider_id:uuid}", name="core:api-update-provider", guards=WRITE)
async def update_provider(
    db_session: DbSession, provider_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    provider = await services.get_provider(db_session, provider_id)
    values = services.read_provider(data, provider)
    await services.check_provider_refs(db_session, values, provider_id=provider.id)
    await services.update_provider(db_session, provider, values)
    await db_session.commit()
    return await _provider_out(db_session, provider)


ROUTES = [
    list_locations,
    create_location,
    show_location,
    update_location,
    list_providers,
    create_provider,
    show_provider,
    update_provider,
]
