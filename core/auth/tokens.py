"""Personal API tokens: ``tsr_`` + 43 random characters, shown once, stored as SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.models import ApiToken

TOKEN_PREFIX = "tsr_"  # noqa: S105 - a recognisable prefix, not a secret


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_token(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    name: str,
    scopes: list[str] | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[str, ApiToken]:
    """Create a token for the current tenant; returns (the token, its row). Caller commits."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id,
        name=name.strip() or "API token",
        token_digest=token_digest(token),
        prefix=token[:10],
        scopes=list(scopes or []),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return token, row


def looks_like_token(token: str) -> bool:
    """Worth a look-up: our prefix and a sane length (anything else is refused unread)."""
    return token.startswith(TOKEN_PREFIX) and len(token) <= 100
