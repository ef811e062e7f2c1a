"""Sign-in, lockout, second factor and account changes: the logic behind the HTML pages,
the JSON API and the CLI (routes stay thin)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import func, select, text, update

from core.auth.models import Membership, PlatformOperator, User
from core.auth.passwords import hash_password, needs_rehash, verify_password
from core.auth.principal import Principal, RequestMeta
from core.auth.throttle import account_key, wait_message
from core.web.context import SiteContext

log = logging.getLogger("tessera.auth")

#: anonymous pre-sign-in sessions (they only carry the login form's CSRF token)
ANONYMOUS_LIFETIME = 2 * 3600
RECOVERY_CODE_COUNT = 10
ISSUER = "Tessera"
BAD_CREDENTIALS = "The e-mail address or password is not correct."


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def principal_for(user: User, site: SiteContext) -> Principal:
    """A principal for audit events written before a session exists."""
    return Principal(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        tenant_id=site.tenant.id if site.tenant else None,
    )


async def audit(
    db, site: SiteContext, action: str, *, principal=None, outcome="success", **event: Any
) -> None:
    """An audit event of the tenant's site; on the platform site (no tenant, no audit
    table to write to) a log line with ids only (no names, e-mail addresses or PHI)."""
    if site.is_tenant:
        from core.audit.record import record_now

        event.setdefault("resource_type", "session")
        await record_now(db, site.tenant.id, action=action, principal=principal, outcome=outcome, **event)
    else:
        who = principal.user_id if principal is not None else "unknown account"
        log.info("platform %s %s: user %s (%s)", action, outcome, who, event.get("reason") or "-")


def site_key(site: SiteContext) -> str:
    """What sessions and sign-in counters use to name a site: the tenant id or "platform"."""
    return str(site.tenant.id) if site.is_tenant else "platform"


async def throttled(db, site: SiteContext, reservation, *, user: User | None, action: str, meta=None) -> str:
    """Audit an attempt the throttle refused (nothing was checked); the person's message."""
    await audit(
        db,
        site,
        action,
        principal=principal_for(user, site) if user is not None else None,
        outcome="denied",
        reason=f"throttled_{reservation.by}",
        detail={"wait_seconds": int(reservation.wait + 0.999)},
        meta=meta,
    )
    return wait_message(reservation.wait, reservation.by)


async def failed(
    db, site: SiteContext, reservation, throttle, user: User, *, action: str, reason: str, meta=None
) -> bool:
    """Audit a wrong password or code (already counted by ``reservation``); when it is the
    attempt after which the account's waits begin, also ``locked_out``. True in that case."""
    principal = principal_for(user, site)
    await audit(db, site, action, principal=principal, outcome="failure", reason=reason, meta=meta)
    if not reservation.starts_waiting(throttle.account):
        return False
    await audit(
        db,
        site,
        "locked_out",
        principal=principal,
        outcome="denied",
        reason=f"{throttle.account.free} failed attempts",
        detail={"wait_seconds": int(throttle.account.backoff)},
        meta=meta,
    )
    return True


@dataclass
class SignIn:
    """The outcome of checking an e-mail address and password."""

    status: str  # "ok", "bad", "wait" (the throttle refused to check)
    user: User | None = None
    message: str = ""
    #: seconds to wait before the next attempt ("wait")
    wait: float = 0.0
    #: the wrong attempt after which waits begin (an unlock link is due)
    waits_begin: bool = False


async def find_user(session, email: str) -> User | None:
    email = (email or "").strip()
    if not email or len(email) > 254:
        return None
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def may_enter(session, user: User, site: SiteContext) -> bool:
    """Is ``user`` an active member of this tenant (or an operator on the platform site)?"""
    if not user.is_active:
        return False
    if site.is_tenant:
        membership = await session.scalar(select(Membership).where(Membership.user_id == user.id))
        return membership is not None and membership.is_active
    return await session.get(PlatformOperator, user.id) is not None


async def check_password(
    db,
    throttle,
    site: SiteContext,
    email: str,
    password: str,
    meta: RequestMeta,
    *,
    account: str | None = None,
) -> SignIn:
    """Check an e-mail address and password at ``site``.

    The attempt is counted by the throttle before the password is checked (``account`` is
    the counter to use: the address typed at this site, unless an unlock link gave this
    browser its own); a refused attempt checks nothing.
    """
    typed = (email or "").strip()[:254]
    account = account or throttle_account(site, typed)
    async with db.session() as session:
        user = await find_user(session, email)
        member = user is not None and await may_enter(session, user, site)
    if not member:
        user = None
    reservation = await throttle.reserve(account, meta.client_ip)
    if not reservation.allowed:
        message = await throttled(db, site, reservation, user=user, action="login_failed", meta=meta)
        return SignIn("wait", user, message, wait=reservation.wait)
    if user is None:
        verify_password(None, password or "")  # the same time as a real check
        await audit(
            db,
            site,
            "login_failed",
            outcome="failure",
            reason="unknown_account",
            detail={"email": typed} if "@" in typed else {},
            meta=meta,
        )
        return SignIn("bad", message=BAD_CREDENTIALS)
    if not verify_password(user.password_hash, password or ""):
        waits = await failed(
            db, site, reservation, throttle, user, action="login_failed", reason="wrong_password", meta=meta
        )
        return SignIn("bad", user, BAD_CREDENTIALS, waits_begin=waits)
    await throttle.succeeded(account, meta.client_ip)
    if needs_rehash(user.password_hash):
        async with db.session() as session:
            await session.execute(
                update(User).where(User.id == user.id).values(password_hash=hash_password(password))
            )
            await session.commit()
    return SignIn("ok", user)


def throttle_account(site: SiteContext, email: str) -> str:
    """The sign-in counter of the account ``email`` names at ``site``."""
    return account_key(site_key(site), email)


# -- second factor -------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, site: SiteContext) -> str:
    issuer = f"{ISSUER} ({site.tenant.name})" if site.tenant else ISSUER
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no network, no image files)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True)
    svg = out.getvalue().decode()
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code for your authenticator app" ', 1)


def _clean_code(code: str) -> str:
    return "".join(ch for ch in (code or "") if ch.isalnum()).lower()


def totp_matches(secret: str, code: str) -> int | None:
    """The time step ``code`` is valid for (this one or a neighbour), else None."""
    code = _clean_code(code)
    if not secret or len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    step = int(time.time()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def recovery_digest(code: str) -> str:
    return hashlib.sha256(_clean_code(code).encode()).hexdigest()


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)  # 10 hex characters, 40 bits
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


async def use_second_factor(db, redis, user: User, code: str) -> str | None:
    """Check a TOTP code or an unused recovery code; returns "totp"/"recovery" or None.

    A TOTP code is accepted once (replays within its window are refused); a recovery code
    is removed as it is used.
    """
    step = totp_matches(user.mfa_secret or "", code)
    if step is not None:
        first = await redis.set(f"tessera:totp-used:{user.id}:{step}", b"1", nx=True, ex=180)
        return "totp" if first else None
    cleaned = _clean_code(code)
    if len(cleaned) != 10:
        return None
    digest = recovery_digest(cleaned)
    async with db.session() as session:
        used = await session.scalar(
            text(
                "UPDATE users SET recovery_codes = recovery_codes - CAST(:digest AS text) "
                "WHERE id = :id AND jsonb_exists(recovery_codes, CAST(:digest AS text)) RETURNING id"
            ),
            {"digest": digest, "id": user.id},
        )
        await session.commit()
    return "recovery" if used else None


async def enable_mfa(db, user_id: uuid.UUID, secret: str) -> list[str]:
    """Turn the second factor on with ``secret``; returns the recovery codes (shown once)."""
    codes = new_recovery_codes()
    async with db.session() as session:
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                mfa_secret=secret,
                mfa_enabled_at=now_utc(),
                recovery_codes=[recovery_digest(c) for c in codes],
            )
        )
        await session.commit()
    return codes


async def replace_recovery_codes(db, user_id: uuid.UUID) -> list[str]:
    """New recovery codes for a user with MFA on; the old ones stop working. Shown once."""
    codes = new_recovery_codes()
    async with db.session() as session:
        await session.execute(
            update(User).where(User.id == user_id).values(recovery_codes=[recovery_digest(c) for c in codes])
        )
        await session.commit()
    return codes


async def disable_mfa(db, user_id: uuid.UUID) -> None:
    async with db.session() as session:
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(mfa_secret=None, mfa_enabled_at=None, recovery_codes=[])
        )
        await session.commit()


async def load_user(db, user_id: uuid.UUID | str) -> User | None:
    async with db.session() as session:
        return await session.get(User, uuid.UUID(str(user_id)))
