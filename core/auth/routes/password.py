"""Changing the password (needs the current one; ends the user's other sessions)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import ClientException
from litestar.params import JSONBody
from litestar.response import Template
from sqlalchemy import update

from core.auth import service
from core.auth.guards import requires_session
from core.auth.passwords import WeakPasswordError, check_strength, hash_password, verify_password
from core.auth.routes.common import counted_attempt, current_site, me, render


async def _change_password(request: Request, current: str, new: str, confirm: str | None) -> str | None:
    """Change the signed-in user's password and end their other sessions; an error message
    for the person, or None when done."""
    db = request.app.state.db
    site = current_site(request)
    principal = me(request)
    user = await service.load_user(db, principal.user_id)
    attempt = await counted_attempt(request, site, user, action="password_changed")
    if attempt.refusal:
        return attempt.refusal
    if not verify_password(user.password_hash, current):
        await attempt.failed(reason="wrong_current_password")
        return "The current password is not correct."
    await attempt.succeeded()
    if confirm is not None and new != confirm:
        return "The new password and its confirmation differ."
    if new == current:
        return "Choose a password different from the current one."
    try:
        check_strength(new, email=user.email)
    except WeakPasswordError as exc:
        return f"The new password is too weak: {exc}."
    async with db.session() as session:
        from core.auth.models import User

        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_hash=hash_password(new), password_changed_at=service.now_utc())
        )
        await session.commit()
    ended = await request.app.state.sessions.delete_all_for_user(user.id, keep=principal.session_id)
    await service.audit(
        db,
        site,
        "password_changed",
        principal=principal,
        resource_type="user",
        resource_id=user.id,
        detail={"other_sessions_ended": ended},
    )
    return None


@get("/account/password", name="core:password", guards=[requires_session], include_in_schema=False)
async def password_page(request: Request) -> Template:
    return await render(request, "core/auth/password.html", page_title="Change password")


@post("/account/password", name="core:password-submit", guards=[requires_session], include_in_schema=False)
async def password_submit(request: Request) -> Template:
    form = await request.form()
    error = await _change_password(
        request,
        str(form.get("current_password") or ""),
        str(form.get("new_password") or ""),
        str(form.get("confirm_password") or ""),
    )
    if error:
        return await render(
            request, "core/auth/password.html", status=400, page_title="Change password", error=error
        )
    return await render(request, "core/auth/password.html", page_title="Change password", done=True)


@post(
    "/api/account/password",
    name="core:api-password",
    opt={"throttled": True},
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_password(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Change the password (needs the current one); every other session of the user ends."""
    error = await _change_password(
        request, str(data.get("current_password") or ""), str(data.get("new_password") or ""), None
    )
    if error:
        raise ClientException(detail=error)
    return {"password_changed": True}
