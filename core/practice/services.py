"""Locations and providers: reading request bodies into rows, and the rows back to JSON."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.exceptions import ClientException, NotFoundException
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import record
from core.auth.models import Membership, User
from core.practice.codes import (
    DEFAULT_PLACE_OF_SERVICE,
    PLACE_OF_SERVICE,
    npi_problem,
    place_of_service_problem,
    taxonomy_problem,
    time_zone_problem,
)
from core.practice.models import Location, Provider, ProviderLocation
from core.web.inputs import Reader, field_error

LOCATION_TEXT_FIELDS = {
    "name": 200,
    "address_line1": 200,
    "address_line2": 200,
    "city": 100,
    "state": 40,
    "postal_code": 20,
    "phone": 40,
}
LOCATION_FIELDS = {*LOCATION_TEXT_FIELDS, "time_zone", "place_of_service", "active"}
PROVIDER_FIELDS = {"user_id", "credentials", "npi", "taxonomy_code", "active", "location_ids"}


class Conflict(ClientException):
    status_code = 409


# -- locations --------------------------------------------------------------------------


def location_json(location: Location, tenant_time_zone: str) -> dict[str, Any]:
    return {
        "id": str(location.id),
        "name": location.name,
        "address_line1": location.address_line1,
        "address_line2": location.address_line2,
        "city": location.city,
        "state": location.state,
        "postal_code": location.postal_code,
        "phone": location.phone,
        "time_zone": location.time_zone,
        "effective_time_zone": location.time_zone or tenant_time_zone,
        "place_of_service": location.place_of_service,
        "place_of_service_name": PLACE_OF_SERVICE.get(location.place_of_service),
        "active": location.active,
    }


def read_location(data: Any, location: Location | None = None) -> dict[str, Any]:
    """Checked values of a location body (``location`` given: a partial update)."""
    creating = location is None
    reader = Reader(data, allowed=LOCATION_FIELDS)
    values: dict[str, Any] = {}
    for key, max_length in LOCATION_TEXT_FIELDS.items():
        if creating or reader.has(key):
            values[key] = reader.text(key, required=key == "name", max_length=max_length)
    if reader.has("time_zone"):
        time_zone = reader.text("time_zone", max_length=64)
        problem = time_zone_problem(time_zone) if time_zone else None
        if problem:
            reader.error("time_zone", problem)
        values["time_zone"] = time_zone
    if creating or reader.has("place_of_service"):
        code = reader.text("place_of_service", max_length=2)
        if code is None and creating:
            code = DEFAULT_PLACE_OF_SERVICE
        elif code is None:
            reader.error("place_of_service", "required (a place-of-service code such as 11)")
        elif problem := place_of_service_problem(code):
            reader.error("place_of_service", problem)
        values["place_of_service"] = code
    if reader.has("active"):
        active = reader.boolean("active")
        if active is None:
            reader.error("active", "must be true or false")
        else:
            values["active"] = active
    reader.raise_if_any()
    return values


async def get_location(session: AsyncSession, location_id: uuid.UUID) -> Location:
    location = await session.get(Location, (_tenant(), location_id))
    if location is None:
        raise NotFoundException(detail="There is no such location in this clinic.")
    return location


# -- providers --------------------------------------------------------------------------


def provider_json(provider: Provider, user: User, location_ids: list[uuid.UUID]) -> dict[str, Any]:
    return {
        "id": str(provider.id),
        "user_id": str(provider.user_id),
        "display_name": user.display_name,
        "email": user.email,
        "credentials": provider.credentials,
        "npi": provider.npi,
        "taxonomy_code": provider.taxonomy_code,
        "active": provider.active,
        "location_ids": [str(i) for i in location_ids],
    }


def read_provider(data: Any, provider: Provider | None = None) -> dict[str, Any]:
    creating = provider is None
    allowed = PROVIDER_FIELDS if creating else PROVIDER_FIELDS - {"user_id"}
    reader = Reader(data, allowed=allowed)
    if not creating and isinstance(data, dict) and "user_id" in data:
        reader.errors = [e for e in reader.errors if e["field"] != "user_id"]
        reader.error("user_id", "a provider record stays with its user; create another one instead")
    values: dict[str, Any] = {}
    if creating:
        values["user_id"] = reader.uuid("user_id", required=True)
    if creating or reader.has("credentials"):
        values["credentials"] = reader.text("credentials", max_length=100)
    if creating or reader.has("npi"):
        npi = reader.text("npi", max_length=20)
        problem = npi_problem(npi) if npi else None
        if problem:
            reader.error("npi", problem)
        values["npi"] = npi
    if creating or reader.has("taxonomy_code"):
        code = reader.text("taxonomy_code", max_length=20)
        code = code.upper() if code else None
        problem = taxonomy_problem(code) if code else None
        if problem:
            reader.error("taxonomy_code", problem)
        values["taxonomy_code"] = code
    if reader.has("active"):
        active = reader.boolean("active")
        if active is None:
            reader.error("active", "must be true or false")
        else:
            values["active"] = active
    if creating or reader.has("location_ids"):
        ids = reader.uuid_list("location_ids")
        if reader.has("location_ids") and reader.data["location_ids"] is None:
            ids = []
        values["location_ids"] = ids or []
    reader.raise_if_any()
    return values


async def check_provider_refs(session: AsyncSession, values: dict[str, Any], provider_id=None) -> None:
    """Refuse references that do not exist in this clinic (400) and duplicates (409)."""
    if "user_id" in values:
        member = await session.get(Membership, (_tenant(), values["user_id"]))
        if member is None or not member.is_active:
            raise field_error("user_id", "not an active member of this clinic")
        taken = await session.scalar(select(Provider.id).where(Provider.user_id == values["user_id"]))
        if taken is not None:
            raise Conflict(detail=f"This user already has a provider record ({taken}); edit that one.")
    if values.get("npi"):
        query = select(Provider.id).where(Provider.npi == values["npi"])
        if provider_id is not None:
            query = query.where(Provider.id != provider_id)
        if await session.scalar(query) is not None:
            raise Conflict(detail="Another provider of this clinic already has this NPI.")
    wanted = values.get("location_ids") or []
    if wanted:
        found = set(await session.scalars(select(Location.id).where(Location.id.in_(wanted))))
        missing = [str(i) for i in wanted if i not in found]
        if missing:
            raise field_error("location_ids", f"no such location in this clinic: {', '.join(missing)}")


async def set_provider_locations(
    session: AsyncSession, provider: Provider, location_ids: list[uuid.UUID]
) -> None:
    await session.execute(delete(ProviderLocation).where(ProviderLocation.provider_id == provider.id))
    for location_id in location_ids:
        session.add(ProviderLocation(provider_id=provider.id, location_id=location_id))
    await session.flush()


async def provider_location_ids(session: AsyncSession, provider_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(ProviderLocation.location_id)
            .where(ProviderLocation.provider_id == provider_id)
            .order_by(ProviderLocation.location_id)
        )
    )


async def get_provider(session: AsyncSession, provider_id: uuid.UUID) -> Provider:
    provider = await session.get(Provider, (_tenant(), provider_id))
    if provider is None:
        raise NotFoundException(detail="There is no such provider in this clinic.")
    return provider


async def provider_names(
    session: AsyncSession, provider_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, str]:
    """How each provider of the clinic is named on screens and in messages: the user's
    display name, then the credentials ("Pat Therapist, PT, DPT"). The name lives on the
    user, which plugins do not read directly; ``provider_ids`` None means every provider."""
    query = select(Provider.id, User.display_name, User.email, Provider.credentials).join(
        User, User.id == Provider.user_id
    )
    if provider_ids is not None:
        query = query.where(Provider.id.in_(list(provider_ids)))
    names = {}
    for provider_id, display_name, email, credentials in await session.execute(query):
        name = display_name or email
        names[provider_id] = f"{name}, {credentials}" if credentials else name
    return names


def _tenant() -> uuid.UUID:
    from core.tenancy.context import require_tenant_id

    return require_tenant_id()


# -- writes (shared by the JSON API and the settings screens) ---------------------------


async def create_location(session: AsyncSession, values: dict[str, Any]) -> Location:
    """Add a location from checked ``values`` (see ``read_location``), audited."""
    location = Location(**values)
    session.add(location)
    await session.flush()
    await record(session, action="create", resource_type="location", resource_id=location.id)
    return location


async def update_location(session: AsyncSession, location: Location, values: dict[str, Any]) -> None:
    """Apply checked ``values``; the audit event names the fields that changed (not values)."""
    changed = sorted(k for k, v in values.items() if getattr(location, k) != v)
    for key, value in values.items():
        setattr(location, key, value)
    await session.flush()
    await record(
        session,
        action="update",
        resource_type="location",
        resource_id=location.id,
        detail={"fields": changed},
    )


async def create_provider(session: AsyncSession, values: dict[str, Any]) -> Provider:
    """Add a provider from checked ``values`` (``read_provider`` + ``check_provider_refs``);
    raises Conflict when a concurrent request took the user or the NPI (roll back then)."""
    values = dict(values)
    location_ids = values.pop("location_ids")
    provider = Provider(**values)
    session.add(provider)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(detail="This user or NPI already has a provider record.") from None
    await set_provider_locations(session, provider, location_ids)
    await record(session, action="create", resource_type="provider", resource_id=provider.id)
    return provider


async def update_provider(session: AsyncSession, provider: Provider, values: dict[str, Any]) -> None:
    """Apply checked ``values``; raises Conflict on a duplicate NPI (roll back then)."""
    values = dict(values)
    location_ids = values.pop("location_ids", None)
    changed = sorted(k for k, v in values.items() if getattr(provider, k) != v)
    for key, value in values.items():
        setattr(provider, key, value)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(detail="Another provider of this clinic already has this NPI.") from None
    if location_ids is not None:
        await set_provider_locations(session, provider, location_ids)
        changed.append("location_ids")
    await record(
        session,
        action="update",
        resource_type="provider",
        resource_id=provider.id,
        detail={"fields": changed},
    )
