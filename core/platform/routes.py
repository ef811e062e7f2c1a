"""HTTP routes of the platform-operator area (HTML under ``/platform/``, JSON under
``/api/platform/``), all guarded by ``requires_operator``: a platform operator on the base
domain. On a clinic's host they answer 404; a signed-in non-operator gets 401/403.

* ``/platform/tenants``: every tenant, and the form creating one from a preset with its
  first owner (a new owner gets a one-time set-password link, shown once).
* ``/platform/tenants/{slug}``: enable, reconfigure and disable plugins; suspend, resume.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.authz.guards import requires_operator
from core.authz.invitations import SETUP_PATH, make_link_token
from core.messaging.sending import send_email_later
from core.platform import service
from core.platform.service import PlatformError
from core.tenancy.context import tenant_scope
from core.web.render import page

DbSession = NamedDependency[AsyncSession]
GUARDS = [requires_operator]


def _http_error(exc: PlatformError):
    if exc.status == 404:
        return NotFoundException(detail=exc.message)
    return ClientException(detail=exc.message, status_code=exc.status)


def tenant_url(request: Request, slug: str) -> str:
    """The clinic's own address, on the scheme and port this request came in on."""
    base = request.app.state.settings.base_domain
    port = request.url.port
    default = {"http": 80, "https": 443}.get(request.url.scheme)
    suffix = f":{port}" if port and port != default else ""
    return f"{request.url.scheme}://{slug}.{base}{suffix}"


SETUP_TEXT = """Hello {name},

A clinic was set up for you on Tessera: {clinic}, at {url}

You are its first owner. Choose your password here (the link works for 72 hours, once):
{link}
"""


async def _send_setup_link(
    request: Request, db_session: AsyncSession, created: service.CreatedTenant
) -> None:
    """E-mail a new first owner their set-password link (in the creating transaction,
    through the outbox); the link is never part of the answer."""
    if not created.owner_is_new:
        return
    token = make_link_token(
        request.app.state.settings.secret_key,
        user_id=created.owner.user_id,
        tenant_id=created.tenant.id,
        password_hash=None,
    )
    url = tenant_url(request, created.tenant.slug)
    with tenant_scope(created.tenant.id):
        await send_email_later(
            db_session,
            to=created.owner.email,
            subject=f"Your clinic {created.tenant.name} on Tessera",
            text=SETUP_TEXT.format(
                name=created.owner.name, clinic=created.tenant.name, url=url, link=url + SETUP_PATH + token
            ),
            purpose="core.owner_setup",
        )


def _created_json(request: Request, created: service.CreatedTenant) -> dict[str, Any]:
    return {
        "tenant": created.tenant.as_json(),
        "url": tenant_url(request, created.tenant.slug),
        "plugins": {
            "enabled": created.enabled,
            "not_installed": created.not_installed,
            "failed": created.failed,
        },
        "owner": {
            **created.owner.as_json(),
            "new_user": created.owner_is_new,
            # the set-password link went to the owner's mailbox, never into this answer
            "setup_link_emailed": created.owner_is_new,
        },
    }


# -- HTML ------------------------------------------------------------------------------


async def _tenants_page(
    request: Request,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    response = await page(
        request,
        "core/platform/tenants.html",
        page_title="Tenants",
        tenants=await service.tenant_rows(request.app.state.db),
        presets=service.preset_choices(),
        error=error,
        form=form or {"time_zone": "UTC", "preset": "minimal"},
    )
    response.status_code = status_code
    return response


async def _tenant_page(
    request: Request,
    db_session: AsyncSession,
    slug: str,
    *,
    error: str | None = None,
    error_plugin: str | None = None,
    config_drafts: dict[str, str] | None = None,
    created: dict[str, Any] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    try:
        tenant = await service.find_tenant(db_session, slug)
    except PlatformError as exc:
        raise _http_error(exc) from None
    states = await service.plugin_states(db_session, request.app.state.registry, tenant)
    response = await page(
        request,
        "core/platform/tenant.html",
        page_title=tenant.name,
        t=tenant,
        url=tenant_url(request, tenant.slug),
        plugins=states,
        drafts={s.name: json.dumps(s.config, indent=2) for s in states} | (config_drafts or {}),
        error=error,
        error_plugin=error_plugin,
        created=created,
        notice=notice,
    )
    response.status_code = status_code
    return response


@get("/platform/tenants", name="platform:tenants", guards=GUARDS, include_in_schema=False)
async def tenants_page(request: Request) -> Template:
    return await _tenants_page(request)


@post(
    "/platform/tenants",
    name="platform:tenants-create",
    guards=GUARDS,
    include_in_schema=False,
    status_code=200,
)
async def create_from_form(request: Request, db_session: DbSession) -> Template:
    form = await request.form()
    fields = ("slug", "name", "preset", "time_zone", "owner_email", "owner_name")
    values = {f: str(form.get(f) or "") for f in fields}
    try:
        created = await service.create_with_owner(db_session, request.app.state.registry, **values)
    except PlatformError as exc:
        await db_session.rollback()
        return await _tenants_page(request, error=exc.message, form=values, status_code=exc.status)
    await _send_setup_link(request, db_session, created)
    await db_session.commit()
    return await _tenant_page(
        request, db_session, created.tenant.slug, created=_created_json(request, created), status_code=201
    )


@get("/platform/tenants/{slug:str}", name="platform:tenant", guards=GUARDS, include_in_schema=False)
async def tenant_page(request: Request, db_session: DbSession, slug: FromPath[str]) -> Template:
    return await _tenant_page(request, db_session, slug)


def _parse_config(raw: str) -> dict[str, Any]:
    raw = raw.strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PlatformError(
            f"the configuration is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            status=400,
        ) from None
    if not isinstance(value, dict):
        raise PlatformError('the configuration must be a JSON object, e.g. {} or {"key": "value"}')
    return value


@post(
    "/platform/tenants/{slug:str}/plugins/{plugin:str}",
    name="platform:tenant-plugin",
    guards=GUARDS,
    include_in_schema=False,
)
async def plugin_from_form(
    request: Request, db_session: DbSession, slug: FromPath[str], plugin: FromPath[str]
) -> Response:
    """One form per plugin: ``action=enable`` (with ``config`` as JSON) or ``action=disable``."""
    form = await request.form()
    action = form.get("action")
    raw_config = str(form.get("config") or "")
    try:
        tenant = await service.find_tenant(db_session, slug)
        if action == "enable":
            await service.enable(
                db_session, request.app.state.registry, tenant, plugin, _parse_config(raw_config)
            )
        elif action == "disable":
            await service.disable(db_session, request.app.state.registry, tenant, plugin)
        else:
            raise PlatformError("choose enable or disable", status=400)
    except PlatformError as exc:
        if exc.status == 404:
            raise _http_error(exc) from None
        return await _tenant_page(
            request,
            db_session,
            slug,
            error=f"{plugin}: {exc.message}",
            error_plugin=plugin,
            config_drafts={plugin: raw_config},
            status_code=exc.status,
        )
    await db_session.commit()
    return Response(content=b"", status_code=303, headers={"Location": f"/platform/tenants/{slug}"})


@post(
    "/platform/tenants/{slug:str}/status",
    name="platform:tenant-status",
    guards=GUARDS,
    include_in_schema=False,
)
async def status_from_form(request: Request, db_session: DbSession, slug: FromPath[str]) -> Response:
    form = await request.form()
    try:
        tenant = await service.find_tenant(db_session, slug)
        await service.change_status(db_session, tenant, form.get("status"))
    except PlatformError as exc:
        if exc.status == 404:
            raise _http_error(exc) from None
        return await _tenant_page(request, db_session, slug, error=exc.message, status_code=exc.status)
    await db_session.commit()
    return Response(content=b"", status_code=303, headers={"Location": f"/platform/tenants/{slug}"})


# -- JSON ------------------------------------------------------------------------------


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ClientException(detail="send a JSON object", status_code=400)
    return data


@get("/api/platform/tenants", name="platform:api-tenants", guards=GUARDS)
async def list_tenants_api(request: Request) -> list[dict]:
    """Every tenant: slug, name, preset, status, enabled plugins, created."""
    return [row.as_json() for row in await service.tenant_rows(request.app.state.db)]


@post("/api/platform/tenants", name="platform:api-tenants-create", guards=GUARDS)
async def create_tenant_api(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    """Create a tenant from a preset with its first owner.

    Body: ``slug``, ``name``, ``preset``, ``owner_email``, ``owner_name``, optional
    ``time_zone`` (IANA, default UTC). The answer lists the preset's plugins that were
    enabled, not installed or failed; a new owner's set-password link is e-mailed to them.
    """
    body = _object(data)
    try:
        created = await service.create_with_owner(
            db_session,
            request.app.state.registry,
            slug=body.get("slug"),
            name=body.get("name"),
            preset=body.get("preset") or "minimal",
            time_zone=body.get("time_zone"),
            owner_email=body.get("owner_email"),
            owner_name=body.get("owner_name"),
        )
    except PlatformError as exc:
        raise _http_error(exc) from None
    await _send_setup_link(request, db_session, created)
    await db_session.commit()
    return _created_json(request, created)


@get("/api/platform/tenants/{slug:str}", name="platform:api-tenant", guards=GUARDS)
async def tenant_api(request: Request, db_session: DbSession, slug: FromPath[str]) -> dict:
    """One tenant, with every installed plugin's state and configuration for it."""
    try:
        tenant = await service.find_tenant(db_session, slug)
    except PlatformError as exc:
        raise _http_error(exc) from None
    return await service.tenant_detail(db_session, request.app.state.registry, tenant)


@patch("/api/platform/tenants/{slug:str}", name="platform:api-tenant-status", guards=GUARDS)
async def tenant_status_api(
    request: Request, db_session: DbSession, slug: FromPath[str], data: JSONBody[Any]
) -> dict:
    """Suspend (``{"status": "suspended"}``: its hosts answer 404 and its jobs wait) or
    resume (``{"status": "active"}``) a tenant."""
    body = _object(data)
    try:
        tenant = await service.find_tenant(db_session, slug)
        await service.change_status(db_session, tenant, body.get("status"))
    except PlatformError as exc:
        raise _http_error(exc) from None
    await db_session.commit()
    return await service.tenant_detail(db_session, request.app.state.registry, tenant)


@put(
    "/api/platform/tenants/{slug:str}/plugins/{plugin:str}", name="platform:api-plugin-enable", guards=GUARDS
)
async def enable_plugin_api(
    request: Request, db_session: DbSession, slug: FromPath[str], plugin: FromPath[str], data: JSONBody[Any]
) -> dict:
    """Enable a plugin for the tenant, or change its configuration: body ``{"config": {...}}``
    (validated against the plugin's schema; 422 says which field is wrong)."""
    body = _object(data)
    try:
        tenant = await service.find_tenant(db_session, slug)
        await service.enable(db_session, request.app.state.registry, tenant, plugin, body.get("config"))
    except PlatformError as exc:
        raise _http_error(exc) from None
    await db_session.commit()
    return await service.tenant_detail(db_session, request.app.state.registry, tenant)


@delete(
    "/api/platform/tenants/{slug:str}/plugins/{plugin:str}",
    name="platform:api-plugin-disable",
    guards=GUARDS,
    status_code=200,
)
async def disable_plugin_api(
    request: Request, db_session: DbSession, slug: FromPath[str], plugin: FromPath[str]
) -> dict:
    """Disable a plugin for the tenant (its data is kept)."""
    try:
        tenant = await service.find_tenant(db_session, slug)
        await service.disable(db_session, request.app.state.registry, tenant, plugin)
    except PlatformError as exc:
        raise _http_error(exc) from None
    await db_session.commit()
    return await service.tenant_detail(db_session, request.app.state.registry, tenant)


ROUTES: list = [
    tenants_page,
    create_from_form,
    tenant_page,
    plugin_from_form,
    status_from_form,
    list_tenants_api,
    create_tenant_api,
    tenant_api,
    tenant_status_api,
    enable_plugin_api,
    disable_plugin_api,
]
