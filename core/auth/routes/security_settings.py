"""The clinic's security settings: idle sign-out, longest session, MFA required."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post, put
from litestar.exceptions import ClientException
from litestar.params import JSONBody
from litestar.response import Template
from sqlalchemy import update

from core.auth import service
from core.auth.routes.common import me, render, tenant_site
from core.authz import requires
from core.tenancy.models import Tenant
from core.web.context import SiteContext


def _settings_json(site: SiteContext) -> dict[str, Any]:
    tenant = site.tenant
    return {
        "idle_minutes": tenant.session_idle_seconds // 60,
        "max_hours": tenant.session_max_seconds // 3600,
        "mfa_required": tenant.mfa_required,
    }


def _int_in(value: Any, low: int, high: int, label: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ClientException(detail=f"{label} must be a whole number.") from None
    if not low <= number <= high:
        raise ClientException(detail=f"{label} must be between {low} and {high}.")
    return number


async def _save_settings(request: Request, idle: Any, longest: Any, mfa_required: bool) -> dict[str, Any]:
    site = tenant_site(request)
    idle_minutes = _int_in(idle, 1, 120, "Idle sign-out (minutes)")
    max_hours = _int_in(longest, 1, 24, "Longest session (hours)")
    if idle_minutes > max_hours * 60:
        raise ClientException(detail="The idle limit cannot be longer than the longest session.")
    before = _settings_json(site)
    async with request.app.state.db.session() as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == site.tenant.id)
            .values(
                session_idle_seconds=idle_minutes * 60,
                session_max_seconds=max_hours * 3600,
                mfa_required=bool(mfa_required),
            )
        )
        await session.commit()
    after = {"idle_minutes": idle_minutes, "max_hours": max_hours, "mfa_required": bool(mfa_required)}
    await service.audit(
        request.app.state.db,
        site,
        "update",
        principal=me(request),
        resource_type="tenant_settings",
        resource_id="security",
        detail={"before": before, "after": after},
    )
    return after


@get(
    "/settings/security",
    name="core:security-settings",
    guards=[requires("core:settings", "read")],
    include_in_schema=False,
)
async def security_settings_page(request: Request) -> Template:
    site = tenant_site(request)
    return await render(
        request,
        "core/auth/security_settings.html",
        page_title="Security settings",
        values=_settings_json(site),
    )


@post(
    "/settings/security",
    name="core:security-settings-save",
    guards=[requires("core:settings", "write")],
    include_in_schema=False,
)
async def security_settings_save(request: Request) -> Template:
    site = tenant_site(request)
    form = await request.form()
    values = {
        "idle_minutes": form.get("idle_minutes"),
        "max_hours": form.get("max_hours"),
        "mfa_required": form.get("mfa_required") == "on",
    }
    try:
        saved = await _save_settings(
            request, values["idle_minutes"], values["max_hours"], values["mfa_required"]
        )
    except ClientException as exc:
        return await render(
            request,
            "core/auth/security_settings.html",
            status=400,
            page_title="Security settings",
            values={**_settings_json(site), **values},
            error=exc.detail,
        )
    return await render(
        request, "core/auth/security_settings.html", page_title="Security settings", values=saved, saved=True
    )


@get(
    "/api/settings/security",
    name="core:api-security-settings",
    guards=[requires("core:settings", "read")],
    tags=["settings"],
)
async def api_security_settings(request: Request) -> dict[str, Any]:
    """Idle sign-out (minutes), longest session (hours) and whether MFA is required."""
    return _settings_json(tenant_site(request))


@put(
    "/api/settings/security",
    name="core:api-security-settings-save",
    guards=[requires("core:settings", "write")],
    tags=["settings"],
)
async def api_security_settings_save(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Change the clinic's session and MFA policy (takes effect on the next request)."""
    current = _settings_json(tenant_site(request))
    return await _save_settings(
        request,
        data.get("idle_minutes", current["idle_minutes"]),
        data.get("max_hours", current["max_hours"]),
        bool(data.get("mfa_required", current["mfa_required"])),
    )
