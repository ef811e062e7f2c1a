"""The scheduling setup screens: appointment types, rooms and resources, each provider's
weekly hours per location (a week grid) and their exceptions (time off, extra hours).

Every change goes through the same services as the JSON API (``setup``), so the rules and
the audit trail are the same. Pages need ``scheduling:setup`` read; forms ``write`` (the
front desk and the owner; clinicians see the set-up without the forms). A form that is
refused answers the page again with each problem next to its field, what was typed kept,
and 422 (or 409 for a clash with existing hours); a form that succeeds redirects (303).

    GET  /scheduling/setup                                   overview
    GET  /scheduling/setup/types            POST (add)       appointment types
    GET  /scheduling/setup/types/{id}       POST (save)      one type
    GET  /scheduling/setup/resources        POST (add)       rooms and resources
    POST /scheduling/setup/resources/{id}/active             retire / bring back
    GET  /scheduling/setup/availability?provider_id=         a provider's week and exceptions
    POST /scheduling/setup/availability/blocks               add a weekly block
    POST /scheduling/setup/availability/blocks/{id}/delete
    POST /scheduling/setup/availability/exceptions           add time off / extra hours
    POST /scheduling/setup/availability/exceptions/{id}/delete
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import (
    DbSession,
    Location,
    ProviderLocation,
    encounter_types,
    form_page,
    may,
    provider_names,
    requires,
    site_of,
)
from plugins.scheduling import setup
from plugins.scheduling.inputs import FieldErrors, errors_by_field, parse_uuid
from plugins.scheduling.models import AvailabilityException, AvailabilityTemplate

READ = requires("scheduling:setup", "read")
WRITE = requires("scheduling:setup", "write")

#: (key, label, address) of the setup sections, in the order of the sub-navigation
SECTIONS = (
    ("types", "Appointment types", "/scheduling/setup/types"),
    ("resources", "Rooms and resources", "/scheduling/setup/resources"),
    ("availability", "Working hours and time off", "/scheduling/setup/availability"),
)


# -- helpers ---------------------------------------------------------------------------------


async def _render(
    request: Request, template: str, *, section: str, status: int = 200, **context: Any
) -> Template:
    return await form_page(
        request,
        template,
        status_code=status,
        setup_sections=SECTIONS,
        setup_section=section,
        show_feeds_link=may(request, "scheduling:feeds", "read"),
        can_write=may(request, "scheduling:setup", "write"),
        **context,
    )


def _back(url: str) -> Response:
    return Redirect(url, status_code=303)


def _whole_number(raw: Any) -> Any:
    """A form's digits as an int; anything else as typed (the service names the problem)."""
    text = str(raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() else (text or None)


def _blank_none(raw: Any) -> str | None:
    text = str(raw or "").strip()
    return text or None


async def _locations(session: AsyncSession) -> list[Location]:
    return list(await session.scalars(select(Location).where(Location.active).order_by(Location.name)))


# -- overview --------------------------------------------------------------------------------


@get("/scheduling/setup", name="scheduling:setup", guards=[READ], include_in_schema=False)
async def setup_index(request: Request, db_session: DbSession) -> Template:
    return await _render(
        request,
        "scheduling/setup_index.html",
        section="",
        page_title="Scheduling setup",
        type_count=len(await setup.list_types(db_session)),
        resource_count=len(await setup.list_resources(db_session)),
        provider_count=len(await provider_names(db_session)),
    )


# -- appointment types -----------------------------------------------------------------------


def _type_form(form: Any, *, editing: bool) -> dict[str, Any]:
    data = {
        "name": str(form.get("name") or ""),
        "duration_minutes": _whole_number(form.get("duration_minutes")),
        "colour": str(form.get("colour") or "#3b82f6"),
        "telehealth": form.get("telehealth") == "on",
        "encounter_type": str(form.get("encounter_type") or ""),
        "resource_kind": _blank_none(form.get("resource_kind")),
    }
    if editing:
        data["active"] = form.get("active") == "on"
    return data


async def _types_page(
    request: Request, session: AsyncSession, *, status: int = 200, **context: Any
) -> Template:
    kinds = sorted({r.kind for r in await setup.list_resources(session) if r.active})
    return await _render(
        request,
        "scheduling/setup_types.html",
        section="types",
        status=status,
        page_title="Appointment types",
        types=[setup.type_json(t) for t in await setup.list_types(session)],
        encounter_types=encounter_types(request),
        resource_kinds=kinds,
        **context,
    )


@get("/scheduling/setup/types", name="scheduling:setup-types", guards=[READ], include_in_schema=False)
async def types_page(request: Request, db_session: DbSession) -> Template:
    return await _types_page(request, db_session, values={"duration_minutes": 30, "colour": "#3b82f6"})


@post("/scheduling/setup/types", name="scheduling:setup-type-create", guards=[WRITE], include_in_schema=False)
async def type_create(request: Request, db_session: DbSession) -> Response:
    data = _type_form(await request.form(), editing=False)
    try:
        await setup.create_type(db_session, data, encounter_types(request))
    except FieldErrors as exc:
        return await _types_page(request, db_session, values=data, errors=errors_by_field(exc), status=422)
    except setup.SetupConflict as exc:
        return await _types_page(request, db_session, values=data, errors={"name": exc.detail}, status=409)
    await db_session.commit()
    return _back("/scheduling/setup/types")


async def _type_edit_page(
    request: Request, session: AsyncSession, type_id: uuid.UUID, *, status: int = 200, **context: Any
) -> Template:
    row = next((t for t in await setup.list_types(session) if t.id == type_id), None)
    if row is None:
        raise NotFoundException(detail="There is no such appointment type in this clinic.")
    current = setup.type_json(row)
    kinds = sorted({r.kind for r in await setup.list_resources(session) if r.active})
    context.setdefault("values", current)
    return await _render(
        request,
        "scheduling/setup_type_edit.html",
        section="types",
        status=status,
        page_title=f"Appointment type: {row.name}",
        appointment_type=current,
        encounter_types=encounter_types(request),
        resource_kinds=kinds,
        **context,
    )


@get(
    "/scheduling/setup/types/{type_id:uuid}",
    name="scheduling:setup-type",
    guards=[READ],
    include_in_schema=False,
)
async def type_page(request: Request, db_session: DbSession, type_id: FromPath[uuid.UUID]) -> Template:
    return await _type_edit_page(request, db_session, type_id)


@post(
    "/scheduling/setup/types/{type_id:uuid}",
    name="scheduling:setup-type-save",
    guards=[WRITE],
    include_in_schema=False,
)
async def type_save(request: Request, db_session: DbSession, type_id: FromPath[uuid.UUID]) -> Response:
    data = _type_form(await request.form(), editing=True)
    try:
        await setup.update_type(db_session, type_id, data, encounter_types(request))
    except FieldErrors as exc:
        return await _type_edit_page(
            request, db_session, type_id, values=data, errors=errors_by_field(exc), status=422
        )
    except setup.SetupConflict as exc:
        return await _type_edit_page(
            request, db_session, type_id, values=data, errors={"name": exc.detail}, status=409
        )
    await db_session.commit()
    return _back("/scheduling/setup/types")


# -- rooms and resources ---------------------------------------------------------------------


async def _resources_page(
    request: Request, session: AsyncSession, *, status: int = 200, **context: Any
) -> Template:
    locations = await _locations(session)
    names = {loc.id: loc.name for loc in locations}
    resources = [
        {**setup.resource_json(r), "location": names.get(r.location_id, "(inactive location)")}
        for r in await setup.list_resources(session)
    ]
    resources.sort(key=lambda r: (r["location"], r["kind"], r["name"]))
    return await _render(
        request,
        "scheduling/setup_resources.html",
        section="resources",
        status=status,
        page_title="Rooms and resources",
        resources=resources,
        locations=locations,
        kinds=sorted({r["kind"] for r in resources}),
        **context,
    )


@get("/scheduling/setup/resources", name="scheduling:setup-resources", guards=[READ], include_in_schema=False)
async def resources_page(request: Request, db_session: DbSession) -> Template:
    return await _resources_page(request, db_session)


@post(
    "/scheduling/setup/resources",
    name="scheduling:setup-resource-create",
    guards=[WRITE],
    include_in_schema=False,
)
async def resource_create(request: Request, db_session: DbSession) -> Response:
    form = await request.form()
    data = {
        "location_id": _blank_none(form.get("location_id")),
        "name": str(form.get("name") or ""),
        "kind": str(form.get("kind") or ""),
    }
    try:
        await setup.create_resource(db_session, data)
    except FieldErrors as exc:
        return await _resources_page(
            request, db_session, values=data, errors=errors_by_field(exc), status=422
        )
    except setup.SetupConflict as exc:
        return await _resources_page(
            request, db_session, values=data, errors={"name": exc.detail}, status=409
        )
    await db_session.commit()
    return _back("/scheduling/setup/resources")


@post(
    "/scheduling/setup/resources/{resource_id:uuid}/active",
    name="scheduling:setup-resource-active",
    guards=[WRITE],
    include_in_schema=False,
)
async def resource_active(
    request: Request, db_session: DbSession, resource_id: FromPath[uuid.UUID]
) -> Response:
    """Retire a resource (no new bookings use it; existing ones keep it) or bring it back."""
    form = await request.form()
    await setup.update_resource(db_session, resource_id, {"active": form.get("active") == "true"})
    await db_session.commit()
    return _back("/scheduling/setup/resources")


# -- working hours and time off --------------------------------------------------------------


def _local_instant(day: Any, clock: Any, zone: str) -> tuple[str | None, str | None]:
    """A date and a wall-clock time at ``zone`` as an ISO instant with its offset, or the
    problem with them."""
    try:
        date = dt.date.fromisoformat(str(day or "").strip())
    except ValueError:
        return None, "choose a date"
    try:
        clock_time = dt.time.fromisoformat(str(clock or "").strip()) if clock else dt.time()
    except ValueError:
        return None, "use a time HH:MM"
    return dt.datetime.combine(date, clock_time, zoneinfo.ZoneInfo(zone)).isoformat(), None


async def _provider_choice(session: AsyncSession, raw: Any) -> tuple[dict, uuid.UUID | None]:
    names = dict(sorted((await provider_names(session)).items(), key=lambda item: item[1]))
    wanted = parse_uuid(raw) if raw else None
    if raw and wanted not in names:
        raise NotFoundException(detail="There is no such provider in this clinic.")
    return names, wanted or next(iter(names), None)


async def _availability_page(
    request: Request,
    session: AsyncSession,
    raw_provider: Any,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    providers, provider_id = await _provider_choice(session, raw_provider)
    time_zone = site_of(request).tenant.time_zone
    locations = await _locations(session)
    names = {loc.id: loc.name for loc in locations}
    week: list[list[dict[str, Any]]] = [[] for _ in setup.WEEKDAYS]
    exceptions: list[dict[str, Any]] = []
    workplaces: list[Location] = []
    if provider_id is not None:
        for block in await setup.list_templates(session, provider_id=provider_id):
            week[block.weekday].append(
                {**setup.template_json(block), "location": names.get(block.location_id, "?")}
            )
        now = dt.datetime.now(dt.UTC)
        for row in await setup.list_exceptions(
            session, provider_id=provider_id, since=now - dt.timedelta(days=1)
        ):
            exceptions.append(
                {
                    **setup.exception_json(row, time_zone),
                    "location": names.get(row.location_id, "everywhere") if row.location_id else "everywhere",
                }
            )
        place_ids = set(
            await session.scalars(
                select(ProviderLocation.location_id).where(ProviderLocation.provider_id == provider_id)
            )
        )
        workplaces = [loc for loc in locations if loc.id in place_ids]
    return await _render(
        request,
        "scheduling/setup_availability.html",
        section="availability",
        status=status,
        page_title="Working hours and time off",
        providers=providers,
        provider_id=provider_id,
        weekdays=setup.WEEKDAYS,
        week=week,
        exceptions=exceptions,
        workplaces=workplaces,
        time_zone=time_zone,
        **context,
    )


@get(
    "/scheduling/setup/availability",
    name="scheduling:setup-availability",
    guards=[READ],
    include_in_schema=False,
)
async def availability_page(request: Request, db_session: DbSession) -> Template:
    return await _availability_page(request, db_session, request.query_params.get("provider_id"))


def _hours_url(provider_id: Any) -> str:
    return f"/scheduling/setup/availability?provider_id={provider_id}"


@post(
    "/scheduling/setup/availability/blocks",
    name="scheduling:setup-block-create",
    guards=[WRITE],
    include_in_schema=False,
)
async def block_create(request: Request, db_session: DbSession) -> Response:
    form = await request.form()
    raw_provider = _blank_none(form.get("provider_id"))
    values = {
        "location_id": str(form.get("location_id") or ""),
        "weekday": str(form.get("weekday") or ""),
        "start_time": str(form.get("start_time") or ""),
        "end_time": str(form.get("end_time") or ""),
        "valid_from": str(form.get("valid_from") or ""),
        "valid_until": str(form.get("valid_until") or ""),
    }
    data = {
        "provider_id": raw_provider,
        "location_id": _blank_none(values["location_id"]),
        "weekday": _whole_number(values["weekday"]),
        "start_time": values["start_time"] or None,
        "end_time": values["end_time"] or None,
        "valid_from": values["valid_from"] or None,
        "valid_until": values["valid_until"] or None,
    }
    try:
        await setup.create_template(db_session, data)
    except FieldErrors as exc:
        return await _availability_page(
            request, db_session, raw_provider, values=values, errors=errors_by_field(exc), status=422
        )
    except setup.SetupConflict as exc:
        return await _availability_page(
            request, db_session, raw_provider, values=values, error=exc.detail, status=409
        )
    await db_session.commit()
    return _back(_hours_url(raw_provider))


@post(
    "/scheduling/setup/availability/blocks/{template_id:uuid}/delete",
    name="scheduling:setup-block-delete",
    guards=[WRITE],
    include_in_schema=False,
)
async def block_delete(request: Request, db_session: DbSession, template_id: FromPath[uuid.UUID]) -> Response:
    provider_id = await db_session.scalar(
        select(AvailabilityTemplate.provider_id).where(AvailabilityTemplate.id == template_id)
    )
    await setup.delete_template(db_session, template_id)  # 404 for an unknown id
    await db_session.commit()
    return _back(_hours_url(provider_id))


@post(
    "/scheduling/setup/availability/exceptions",
    name="scheduling:setup-exception-create",
    guards=[WRITE],
    include_in_schema=False,
)
async def exception_create(request: Request, db_session: DbSession) -> Response:
    form = await request.form()
    raw_provider = _blank_none(form.get("provider_id"))
    values = {
        key: str(form.get(key) or "")
        for key in ("kind", "location_id", "start_date", "start_time", "end_date", "end_time", "reason")
    }
    zone = site_of(request).tenant.time_zone
    errors: dict[str, str] = {}
    start, problem = _local_instant(values["start_date"], values["start_time"], zone)
    if problem:
        errors["start"] = problem
    # an end without a time is the end of that day (time off "until Friday" includes Friday)
    end_day = values["end_date"]
    if end_day and not values["end_time"]:
        try:
            end_day = (dt.date.fromisoformat(end_day) + dt.timedelta(days=1)).isoformat()
        except ValueError:
            pass
    end, problem = _local_instant(end_day, values["end_time"], zone)
    if problem:
        errors["end"] = problem
    if not errors:
        try:
            await setup.create_exception(
                db_session,
                {
                    "provider_id": raw_provider,
                    "location_id": _blank_none(values["location_id"]),
                    "kind": values["kind"] or None,
                    "start": start,
                    "end": end,
                    "reason": _blank_none(values["reason"]),
                },
            )
        except FieldErrors as exc:
            errors = errors_by_field(exc)
    if errors:
        return await _availability_page(
            request, db_session, raw_provider, values=values, errors=errors, status=422
        )
    await db_session.commit()
    return _back(_hours_url(raw_provider))


@post(
    "/scheduling/setup/availability/exceptions/{exception_id:uuid}/delete",
    name="scheduling:setup-exception-delete",
    guards=[WRITE],
    include_in_schema=False,
)
async def exception_delete(
    request: Request, db_session: DbSession, exception_id: FromPath[uuid.UUID]
) -> Response:
    provider_id = await db_session.scalar(
        select(AvailabilityException.provider_id).where(AvailabilityException.id == exception_id)
    )
    await setup.delete_exception(db_session, exception_id)  # 404 for an unknown id
    await db_session.commit()
    return _back(_hours_url(provider_id))


ROUTES = [
    setup_index,
    types_page,
    type_create,
    type_page,
    type_save,
    resources_page,
    resource_create,
    resource_active,
    availability_page,
    block_create,
    block_delete,
    exception_create,
    exception_delete,
]
