"""HTML routes of the settings area and the tenant switcher, collected by core's builtin
plugin.

    /settings                     index: the sections the caller may open
    /settings/profile             clinic name and time zone          core:settings
    /settings/locations[/{id}]    list, add, edit locations          core:practice
    /settings/providers[/{id}]    list, add, edit providers          core:practice
    /settings/plugins             enable / disable / configure       core:settings
    /account/clinics[/menu]       the user's other clinics           signed in
    /api/account/clinics          the same as JSON                   signed in

Users and roles (``/users``) and session/MFA policy (``/settings/security``) live with
their own areas; the index links to them. Every change is audited in the transaction that
makes it (resource types ``tenant_settings``, ``location``, ``provider``,
``tenant_plugin``). Forms post back and redirect (303) on success; a refused form is
answered with the page, its inline errors and a 4xx (which htmx swaps in).
"""

from __future__ import annotations

import json
import uuid
import zoneinfo
from functools import cache
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select, update

from core.audit.record import record
from core.auth.guards import requires_login
from core.auth.models import Membership, User
from core.authz.guards import requires
from core.plugin_api import DbSession
from core.practice import services as practice
from core.practice.codes import PLACE_OF_SERVICE, time_zone_problem
from core.practice.models import Location, Provider, ProviderLocation
from core.tenancy.models import Tenant
from core.tenant_settings.clinics import other_clinics
from core.web.context import site_of
from core.web.inputs import InputErrors, errors_by_field
from core.web.render import form_page, page

READ_SETTINGS = requires("core:settings", "read")
WRITE_SETTINGS = requires("core:settings", "write")
READ_PRACTICE = requires("core:practice", "read")
WRITE_PRACTICE = requires("core:practice", "write")

#: (key, label, address, permission) of each section, in the order the sub-navigation shows
SECTIONS = (
    ("profile", "Clinic profile", "/settings/profile", "core:settings"),
    ("locations", "Locations", "/settings/locations", "core:practice"),
    ("providers", "Providers", "/settings/providers", "core:practice"),
    ("plugins", "Plugins", "/settings/plugins", "core:settings"),
    ("users", "Users and roles", "/users", "core:users"),
    ("security", "Security (sessions and two-factor sign-in)", "/settings/security", "core:settings"),
)


@cache
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def _allowed(request: Request, obj: str, action: str) -> bool:
    principal = request.scope["state"]["principal"]
    return request.app.state.authz.allowed(principal, site_of(request).tenant.id, obj, action)


async def _render(
    request: Request, template: str, *, section: str, status: int = 200, **context: Any
) -> Template:
    sections = [
        {"key": key, "label": label, "href": href}
        for key, label, href, obj in SECTIONS
        if _allowed(request, obj, "read")
    ]
    return await form_page(
        request, template, status_code=status, settings_sections=sections, settings_section=section, **context
    )


def _see_other(location: str) -> Response:
    return Redirect(location, status_code=303)


# -- index -------------------------------------------------------------------------------


@get("/settings", name="core:settings", guards=[READ_SETTINGS], include_in_schema=False)
async def settings_index(request: Request) -> Template:
    return await _render(request, "core/settings/index.html", section="", page_title="Settings")


# -- clinic profile ----------------------------------------------------------------------


async def _profile_page(request: Request, *, values=None, errors=None, saved=False, status=200) -> Template:
    tenant = site_of(request).tenant
    return await _render(
        request,
        "core/settings/profile.html",
        section="profile",
        status=status,
        page_title="Clinic profile",
        values=values or {"name": tenant.name, "time_zone": tenant.time_zone},
        errors=errors or {},
        saved=saved,
        can_write=_allowed(request, "core:settings", "write"),
        time_zones=time_zone_names(),
    )


@get("/settings/profile", name="core:settings-profile", guards=[READ_SETTINGS], include_in_schema=False)
async def profile_page(request: Request) -> Template:
    return await _profile_page(request, saved=request.query_params.get("saved") == "1")


@post(
    "/settings/profile", name="core:settings-profile-save", guards=[WRITE_SETTINGS], include_in_schema=False
)
async def profile_save(request: Request, db_session: DbSession) -> Response:
    form = await request.form()
    values = {
        "name": str(form.get("name") or "").strip(),
        "time_zone": str(form.get("time_zone") or "").strip(),
    }
    errors = {}
    if not values["name"]:
        errors["name"] = "The clinic needs a name."
    elif len(values["name"]) > 200:
        errors["name"] = "Use at most 200 characters."
    if problem := time_zone_problem(values["time_zone"]):
        errors["time_zone"] = problem[0].upper() + problem[1:] + "."
    if errors:
        return await _profile_page(request, values=values, errors=errors, status=422)
    tenant = site_of(request).tenant
    before = {"name": tenant.name, "time_zone": tenant.time_zone}
    await db_session.execute(update(Tenant).where(Tenant.id == tenant.id).values(**values))
    await record(
        db_session,
        action="update",
        resource_type="tenant_settings",
        resource_id="profile",
        detail={"before": before, "after": values},
    )
    await db_session.commit()
    return _see_other("/settings/profile?saved=1")


# -- locations ---------------------------------------------------------------------------

LOCATION_FORM_FIELDS = (*practice.LOCATION_TEXT_FIELDS, "time_zone", "place_of_service")


def _location_form(form, *, editing: bool) -> dict[str, Any]:
    data: dict[str, Any] = {key: str(form.get(key) or "") for key in LOCATION_FORM_FIELDS}
    if editing:
        data["active"] = form.get("active") == "on"
    return data


async def _locations_page(
    request: Request, db_session: DbSession, *, values=None, errors=None, status=200
) -> Template:
    tz = site_of(request).tenant.time_zone
    locations = [
        practice.location_json(loc, tz)
        for loc in await db_session.scalars(select(Location).order_by(Location.name, Location.id))
    ]
    return await _render(
        request,
        "core/settings/locations.html",
        section="locations",
        status=status,
        page_title="Locations",
        locations=locations,
        values=values or {"place_of_service": "11"},
        errors=errors or {},
        can_write=_allowed(request, "core:practice", "write"),
        places=PLACE_OF_SERVICE,
        time_zones=time_zone_names(),
        tenant_time_zone=tz,
    )


@get("/settings/locations", name="core:settings-locations", guards=[READ_PRACTICE], include_in_schema=False)
async def locations_page(request: Request, db_session: DbSession) -> Template:
    return await _locations_page(request, db_session)


@post(
    "/settings/locations",
    name="core:settings-locations-create",
    guards=[WRITE_PRACTICE],
    include_in_schema=False,
)
async def location_create(request: Request, db_session: DbSession) -> Response:
    data = _location_form(await request.form(), editing=False)
    try:
        values = practice.read_location(data)
    except InputErrors as exc:
        return await _locations_page(
            request, db_session, values=data, errors=errors_by_field(exc), status=422
        )
    await practice.create_location(db_session, values)
    await db_session.commit()
    return _see_other("/settings/locations")


async def _location_edit_page(
    request: Request, location: Location, *, values=None, errors=None, status=200
) -> Template:
    tz = site_of(request).tenant.time_zone
    current = practice.location_json(location, tz)
    return await _render(
        request,
        "core/settings/location_edit.html",
        section="locations",
        status=status,
        page_title=f"Location: {location.name}",
        location=current,
        values=values or {k: (current[k] or "") for k in LOCATION_FORM_FIELDS} | {"active": location.active},
        errors=errors or {},
        can_write=_allowed(request, "core:practice", "write"),
        places=PLACE_OF_SERVICE,
        time_zones=time_zone_names(),
        tenant_time_zone=tz,
    )


@get(
    "/settings/locations/{location_id:uuid}",
    name="core:settings-location",
    guards=[READ_PRACTICE],
    include_in_schema=False,
)
async def location_page(
    request: Request, db_session: DbSession, location_id: FromPath[uuid.UUID]
) -> Template:
    return await _location_edit_page(request, await practice.get_location(db_session, location_id))


@post(
    "/settings/locations/{location_id:uuid}",
    name="core:settings-location-save",
    guards=[WRITE_PRACTICE],
    include_in_schema=False,
)
async def location_save(
    request: Request, db_session: DbSession, location_id: FromPath[uuid.UUID]
) -> Response:
    location = await practice.get_location(db_session, location_id)
    data = _location_form(await request.form(), editing=True)
    try:
        values = practice.read_location(data, location)
    except InputErrors as exc:
        return await _location_edit_page(
            request, location, values=data, errors=errors_by_field(exc), status=422
        )
    await practice.update_location(db_session, location, values)
    await db_session.commit()
    return _see_other("/settings/locations")


# -- providers ---------------------------------------------------------------------------


def _provider_form(form, *, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "credentials": str(form.get("credentials") or ""),
        "npi": str(form.get("npi") or ""),
        "taxonomy_code": str(form.get("taxonomy_code") or ""),
        "location_ids": [str(v) for v in form.getall("location_ids", [])],
    }
    if creating:
        data["user_id"] = str(form.get("user_id") or "") or None
    else:
        data["active"] = form.get("active") == "on"
    return data


async def _provider_rows(db_session: DbSession) -> list[dict[str, Any]]:
    rows = (
        await db_session.execute(
            select(Provider, User).join(User, User.id == Provider.user_id).order_by(User.display_name)
        )
    ).all()
    links: dict[uuid.UUID, list[uuid.UUID]] = {}
    for provider_id, location_id in await db_session.execute(
        select(ProviderLocation.provider_id, ProviderLocation.location_id)
    ):
        links.setdefault(provider_id, []).append(location_id)
    return [practice.provider_json(p, u, links.get(p.id, [])) for p, u in rows]


async def _locations_by_id(db_session: DbSession) -> dict[str, Location]:
    rows = await db_session.scalars(select(Location).order_by(Location.name, Location.id))
    return {str(loc.id): loc for loc in rows}


async def _providers_page(
    request: Request, db_session: DbSession, *, values=None, errors=None, error=None, status=200
) -> Template:
    providers = await _provider_rows(db_session)
    taken = {p["user_id"] for p in providers}
    candidates = [
        {"id": str(user.id), "label": f"{user.display_name} ({user.email})"}
        for user in await db_session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.status == "active")
            .order_by(User.display_name, User.email)
        )
        if str(user.id) not in taken
    ]
    return await _render(
        request,
        "core/settings/providers.html",
        section="providers",
        status=status,
        page_title="Providers",
        providers=providers,
        candidates=candidates,
        locations=await _locations_by_id(db_session),
        values=values or {"location_ids": []},
        errors=errors or {},
        error=error,
        can_write=_allowed(request, "core:practice", "write"),
    )


@get("/settings/providers", name="core:settings-providers", guards=[READ_PRACTICE], include_in_schema=False)
async def providers_page(request: Request, db_session: DbSession) -> Template:
    return await _providers_page(request, db_session)


@post(
    "/settings/providers",
    name="core:settings-providers-create",
    guards=[WRITE_PRACTICE],
    include_in_schema=False,
)
async def provider_create(request: Request, db_session: DbSession) -> Response:
    data = _provider_form(await request.form(), creating=True)
    try:
        values = practice.read_provider(data)
        await practice.check_provider_refs(db_session, values)
    except InputErrors as exc:
        return await _providers_page(
            request, db_session, values=data, errors=errors_by_field(exc), status=422
        )
    except practice.Conflict as exc:
        return await _providers_page(request, db_session, values=data, error=exc.detail, status=409)
    try:
        await practice.create_provider(db_session, values)
    except practice.Conflict as exc:  # a concurrent request took the user or the NPI
        await db_session.rollback()
        return await _providers_page(request, db_session, values=data, error=exc.detail, status=409)
    await db_session.commit()
    return _see_other("/settings/providers")


async def _provider_edit_page(
    request: Request,
    db_session: DbSession,
    provider: Provider,
    *,
    values=None,
    errors=None,
    error=None,
    status=200,
) -> Template:
    user = await db_session.get(User, provider.user_id)
    current = practice.provider_json(
        provider, user, await practice.provider_location_ids(db_session, provider.id)
    )
    return await _render(
        request,
        "core/settings/provider_edit.html",
        section="providers",
        status=status,
        page_title=f"Provider: {user.display_name}",
        provider=current,
        values=values
        or {
            "credentials": current["credentials"] or "",
            "npi": current["npi"] or "",
            "taxonomy_code": current["taxonomy_code"] or "",
            "location_ids": current["location_ids"],
            "active": current["active"],
        },
        locations=await _locations_by_id(db_session),
        errors=errors or {},
        error=error,
        can_write=_allowed(request, "core:practice", "write"),
    )


@get(
    "/settings/providers/{provider_id:uuid}",
    name="core:settings-provider",
    guards=[READ_PRACTICE],
    include_in_schema=False,
)
async def provider_page(
    request: Request, db_session: DbSession, provider_id: FromPath[uuid.UUID]
) -> Template:
    return await _provider_edit_page(
        request, db_session, await practice.get_provider(db_session, provider_id)
    )


@post(
    "/settings/providers/{provider_id:uuid}",
    name="core:settings-provider-save",
    guards=[WRITE_PRACTICE],
    include_in_schema=False,
)
async def provider_save(
    request: Request, db_session: DbSession, provider_id: FromPath[uuid.UUID]
) -> Response:
    provider = await practice.get_provider(db_session, provider_id)
    data = _provider_form(await request.form(), creating=False)
    try:
        values = practice.read_provider(data, provider)
        await practice.check_provider_refs(db_session, values, provider_id=provider.id)
    except InputErrors as exc:
        return await _provider_edit_page(
            request, db_session, provider, values=data, errors=errors_by_field(exc), status=422
        )
    except practice.Conflict as exc:
        return await _provider_edit_page(
            request, db_session, provider, values=data, error=exc.detail, status=409
        )
    try:
        await practice.update_provider(db_session, provider, values)
    except practice.Conflict as exc:
        await db_session.rollback()
        provider = await practice.get_provider(db_session, provider_id)
        return await _provider_edit_page(
            request, db_session, provider, values=data, error=exc.detail, status=409
        )
    await db_session.commit()
    return _see_other("/settings/providers")


# -- plugins -----------------------------------------------------------------------------


def _plugin_rows(request: Request) -> list[dict[str, Any]]:
    site = site_of(request)
    registry = request.app.state.registry
    rows = []
    for manifest in registry.optional():
        enabled = manifest.name in site.enabled_plugins
        config = dict(site.plugin_configs.get(manifest.name, {})) if enabled else {}
        schema = manifest.config_schema or {}
        rows.append(
            {
                "name": manifest.name,
                "title": manifest.title,
                "version": manifest.version,
                "description": manifest.description,
                "requires": [
                    {
                        "name": needed,
                        "title": registry.manifest(needed).title,
                        "enabled": needed in site.enabled_plugins,
                    }
                    for needed in manifest.requires
                ],
                "enabled": enabled,
                "configurable": bool(schema.get("properties")) or schema.get("type") not in (None, "object"),
                "config_text": json.dumps(config, indent=2, sort_keys=True) if config else "",
                "schema_text": json.dumps(schema, indent=2, sort_keys=True) if schema else "",
            }
        )
    return rows


async def _plugins_page(
    request: Request,
    *,
    failed: str | None = None,
    error: str | None = None,
    config_text: str = "",
    status=200,
) -> Template:
    rows = _plugin_rows(request)
    for row in rows:
        if row["name"] == failed:
            row["error"] = error
            row["config_text"] = config_text
    done = request.query_params.get("done")
    changed = request.query_params.get("plugin")
    notice = None
    if done in ("enabled", "disabled", "configured") and changed in {r["name"] for r in rows}:
        title = next(r["title"] for r in rows if r["name"] == changed)
        notice = f"{title} is {done}."
    return await _render(
        request,
        "core/settings/plugins.html",
        section="plugins",
        status=status,
        page_title="Plugins",
        plugins=rows,
        notice=notice,
        can_write=_allowed(request, "core:settings", "write"),
    )


def _optional_plugin(request: Request, name: str) -> str:
    registry = request.app.state.registry
    if name not in registry.plugins or registry.is_builtin(name):
        raise NotFoundException(detail=f"No plugin named {name!r} is installed on this platform.")
    return name


def _parse_config(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientException(
            detail=f"The configuration is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            status_code=422,
        ) from None
    if not isinstance(value, dict):
        raise ClientException(
            detail='The configuration must be a JSON object, e.g. {"greeting": "Hello"}.', status_code=422
        )
    return value


async def _tenant_row(db_session: DbSession, request: Request) -> Tenant:
    return await db_session.get(Tenant, site_of(request).tenant.id)


@get("/settings/plugins", name="core:settings-plugins", guards=[READ_SETTINGS], include_in_schema=False)
async def plugins_page(request: Request) -> Template:
    return await _plugins_page(request)


@post(
    "/settings/plugins/{name:str}/enable",
    name="core:settings-plugin-enable",
    guards=[WRITE_SETTINGS],
    include_in_schema=False,
)
async def plugin_enable(request: Request, db_session: DbSession, name: FromPath[str]) -> Response:
    """Enable a plugin, or save the configuration of an enabled one (its setup runs again;
    setup hooks are idempotent)."""
    from core.lifecycle.errors import TenantError
    from core.lifecycle.plugins import enable_plugin

    name = _optional_plugin(request, name)
    form = await request.form()
    config_text = str(form.get("config") or "")
    was_enabled = name in site_of(request).enabled_plugins
    try:
        config = _parse_config(config_text)
        await enable_plugin(
            db_session, request.app.state.registry, await _tenant_row(db_session, request), name, config
        )
    except (ClientException, TenantError) as exc:
        await db_session.rollback()
        message = exc.detail if isinstance(exc, ClientException) else str(exc)
        status = 422 if isinstance(exc, ClientException) or "configuration" in message else 409
        return await _plugins_page(
            request, failed=name, error=message, config_text=config_text, status=status
        )
    await record(
        db_session,
        action="update" if was_enabled else "create",
        resource_type="tenant_plugin",
        resource_id=name,
        detail={"enabled": True, "config_keys": sorted(config or {})},
    )
    await db_session.commit()
    done = "configured" if was_enabled else "enabled"
    return _see_other(f"/settings/plugins?done={done}&plugin={name}")


@post(
    "/settings/plugins/{name:str}/disable",
    name="core:settings-plugin-disable",
    guards=[WRITE_SETTINGS],
    include_in_schema=False,
)
async def plugin_disable(request: Request, db_session: DbSession, name: FromPath[str]) -> Response:
    from core.lifecycle.errors import TenantError
    from core.lifecycle.plugins import disable_plugin

    name = _optional_plugin(request, name)
    try:
        await disable_plugin(
            db_session, request.app.state.registry, await _tenant_row(db_session, request), name
        )
    except TenantError as exc:
        await db_session.rollback()
        return await _plugins_page(request, failed=name, error=str(exc), status=409)
    await record(
        db_session,
        action="update",
        resource_type="tenant_plugin",
        resource_id=name,
        detail={"enabled": False},
    )
    await db_session.commit()
    return _see_other(f"/settings/plugins?done=disabled&plugin={name}")


# -- tenant switcher ---------------------------------------------------------------------


async def _my_other_clinics(request: Request):
    site = site_of(request)
    principal = request.scope["state"]["principal"]
    if not site.is_tenant or principal is None:
        raise NotFoundException()
    settings = request.app.state.settings
    return await other_clinics(
        request.app.state.db,
        user_id=principal.user_id,
        email=principal.email,
        current_tenant_id=site.tenant.id,
        scheme=request.url.scheme,
        base_domain=settings.base_domain,
        port=request.url.port,
    )


@get("/account/clinics", name="core:clinics", guards=[requires_login], include_in_schema=False)
async def clinics_page(request: Request) -> Template:
    return await page(
        request,
        "core/settings/clinics.html",
        page_title="Your clinics",
        clinics=await _my_other_clinics(request),
    )


@get("/account/clinics/menu", name="core:clinics-menu", guards=[requires_login], include_in_schema=False)
async def clinics_menu(request: Request) -> Template:
    """The header's switcher (loaded by htmx); empty for a user of one clinic. base.html
    asks for it only once the second-factor steps are done, so it never sends the browser
    to sign in from the sign-in pages."""
    return Template(
        template_name="core/settings/_switcher.html", context={"clinics": await _my_other_clinics(request)}
    )


@get("/api/account/clinics", name="core:api-clinics", guards=[requires_login], tags=["account"])
async def clinics_api(request: Request) -> dict[str, Any]:
    """The caller's other clinics (active memberships), each with its sign-in address. A
    session belongs to one clinic: switching means signing in there."""
    return {
        "items": [
            {"slug": c.slug, "name": c.name, "sign_in_url": c.url} for c in await _my_other_clinics(request)
        ]
    }


ROUTES: list = [
    settings_index,
    profile_page,
    profile_save,
    locations_page,
    location_create,
    location_page,
    location_save,
    providers_page,
    provider_create,
    provider_page,
    provider_save,
    plugins_page,
    plugin_enable,
    plugin_disable,
    clinics_page,
    clinics_menu,
    clinics_api,
]
