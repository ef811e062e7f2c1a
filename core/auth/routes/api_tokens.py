"""Personal API tokens: list, create (shown once) and revoke."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy import select

from core.auth import service
from core.auth.guards import requires_session
from core.auth.models import ApiToken
from core.auth.routes.common import me, render, tenant_site
from core.auth.tokens import create_token


def _token_json(row: ApiToken) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes or []),
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "usable": row.is_usable,
    }


async def _my_tokens(request: Request) -> list[ApiToken]:
    async with request.app.state.db.session() as session:
        rows = await session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == me(request).user_id)
            .order_by(ApiToken.created_at.desc())
        )
        return list(rows)


def _parse_expiry(days: Any = None, when: Any = None) -> dt.datetime | None:
    if when not in (None, ""):
        try:
            moment = dt.datetime.fromisoformat(str(when))
        except ValueError:
            raise ClientException(detail="expires_at must be an ISO date or date-time.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        if moment <= service.now_utc():
            raise ClientException(detail="The expiry must be in the future.")
        return moment
    if days in (None, ""):
        return None
    try:
        count = int(str(days))
    except ValueError:
        raise ClientException(detail="Expiry must be a whole number of days.") from None
    if not 1 <= count <= 3650:
        raise ClientException(detail="Expiry must be between 1 and 3650 days.")
    return service.now_utc() + dt.timedelta(days=count)


async def _create_token(request: Request, name: str, scopes: list[str], expires_at) -> tuple[str, ApiToken]:
    known = {permission.object for permission in request.app.state.permissions}
    unknown = [s for s in scopes if s not in known]
    if unknown:
        raise ClientException(detail=f"Unknown permission scope: {', '.join(unknown)}.")
    name = name.strip()[:100]
    if not name:
        raise ClientException(detail="Give the token a name, so you recognise it later.")
    principal = me(request)
    async with request.app.state.db.session() as session:
        token, row = await create_token(
            session, user_id=principal.user_id, name=name, scopes=sorted(set(scopes)), expires_at=expires_at
        )
        await session.commit()
    await service.audit(
        request.app.state.db,
        tenant_site(request),
        "token_created",
        principal=principal,
        resource_type="api_token",
        resource_id=row.id,
        detail={"scopes": row.scopes},
    )
    return token, row


async def _revoke_token(request: Request, token_id: uuid.UUID) -> None:
    principal = me(request)
    async with request.app.state.db.session() as session:
        row = await session.scalar(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == principal.user_id)
        )
        if row is None:
            raise NotFoundException(detail="There is no such token of yours.")
        if row.revoked_at is None:
            row.revoked_at = service.now_utc()
        await session.commit()
    await service.audit(
        request.app.state.db,
        tenant_site(request),
        "token_revoked",
        principal=principal,
        resource_type="api_token",
        resource_id=token_id,
    )


async def _tokens_page(request: Request, *, status: int = 200, **context) -> Template:
    return await render(
        request,
        "core/auth/tokens.html",
        status=status,
        page_title="API tokens",
        tokens=await _my_tokens(request),
        permissions=sorted(request.app.state.permissions, key=lambda p: p.object),
        **context,
    )


@get("/account/tokens", name="core:tokens", guards=[requires_session], include_in_schema=False)
async def tokens_page(request: Request) -> Template:
    tenant_site(request)
    return await _tokens_page(request)


@post("/account/tokens", name="core:tokens-create", guards=[requires_session], include_in_schema=False)
async def tokens_create(request: Request) -> Template:
    tenant_site(request)
    form = await request.form()
    try:
        token, row = await _create_token(
            request,
            str(form.get("name") or ""),
            [str(s) for s in form.getall("scope", [])],
            _parse_expiry(days=form.get("expires_days")),
        )
    except ClientException as exc:
        return await _tokens_page(request, status=400, error=exc.detail)
    return await _tokens_page(request, new_token=token, new_row=row)


@post(
    "/account/tokens/{token_id:uuid}/revoke",
    name="core:tokens-revoke",
    guards=[requires_session],
    include_in_schema=False,
)
async def tokens_revoke(request: Request, token_id: FromPath[uuid.UUID]) -> Response:
    tenant_site(request)
    await _revoke_token(request, token_id)
    return Redirect("/account/tokens", status_code=303)


@get("/api/account/tokens", name="core:api-tokens", guards=[requires_session], tags=["account"])
async def api_tokens(request: Request) -> list[dict[str, Any]]:
    """The signed-in user's API tokens at this clinic (never the tokens themselves)."""
    tenant_site(request)
    return [_token_json(row) for row in await _my_tokens(request)]


@post(
    "/api/account/tokens",
    name="core:api-tokens-create",
    guards=[requires_session],
    tags=["account"],
    status_code=201,
)
async def api_tokens_create(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Create a personal token: ``name``, optional ``scopes`` (permission objects) and
    ``expires_at`` or ``expires_in_days``. The token is in this answer only."""
    tenant_site(request)
    scopes = data.get("scopes") or []
    if not isinstance(scopes, list):
        raise ClientException(detail="scopes must be a list of permission objects.")
    token, row = await _create_token(
        request,
        str(data.get("name") or ""),
        [str(s) for s in scopes],
        _parse_expiry(days=data.get("expires_in_days"), when=data.get("expires_at")),
    )
    return {**_token_json(row), "token": token}


@delete(
    "/api/account/tokens/{token_id:uuid}",
    name="core:api-tokens-revoke",
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_tokens_revoke(request: Request, token_id: FromPath[uuid.UUID]) -> dict[str, Any]:
    """Revoke a token at once."""
    tenant_site(request)
    await _revoke_token(request, token_id)
    return {"revoked": True}
