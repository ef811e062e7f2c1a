"""Unlock links: the account holder's way in while someone else keeps failing to sign in.

When an account's sign-in counter at a clinic reaches its allowance (core/auth/throttle.py),
the account holder is e-mailed (through ``core.messaging``, at most once per counter
window) a link to ``/account/unlock/<token>`` on that clinic's host. The token is
HMAC-SHA256-signed under a key derived from ``TESSERA_SECRET_KEY`` (its own key, so it
cannot be confused with any other signed link) and carries the user, the clinic, an expiry
(``LIFETIME``) and a random nonce; the nonce is also kept in Redis until the expiry, and
opening the link (POST) takes it out, so each link works once.

Opening it does not sign anyone in and does not reset the shared counter (that would hand
whoever is guessing a fresh allowance): it gives *this browser's* pre-sign-in session a
sign-in counter of its own for that account at that clinic, valid ``LIFETIME`` seconds,
so the holder can sign in (password and second factor, each still counted on the new
counter) however many attempts others make.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from core.auth.throttle import WINDOW

UNLOCK_PATH = "/account/unlock/"
#: how long an unlock link, and the browser's own counter it gives, work (seconds)
LIFETIME = 3600
_NONCE = "tessera:signin:unlock-nonce:"
_OFFERED = "tessera:signin:unlock-offered:"

EMAIL_TEXT = """Hello {name},

Someone, perhaps you, tried several times without success to sign in to your account at
{clinic}. To protect it, sign-ins to it there now have to wait between attempts.

If it was you and you want to sign in now, open this link in your browser within an hour
and then sign in as usual:

{link}

The link works once. It does not sign you in and does not change your password. If it
was not you, your account is safe as long as your password is; consider changing it.
"""


class UnlockError(ValueError):
    """The link is malformed, forged, expired, used, or for another clinic."""


@dataclass(frozen=True)
class UnlockLink:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    nonce: str
    expires_at: float


def _key(secret_key: str) -> bytes:
    if not secret_key:
        raise RuntimeError("TESSERA_SECRET_KEY is needed to sign unlock links")
    return hmac.new(secret_key.encode(), b"tessera:signin-unlock:v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(
    secret_key: str, *, user_id: uuid.UUID, tenant_id: uuid.UUID, nonce: str, expires_at: float
) -> str:
    payload = {"u": str(user_id), "t": str(tenant_id), "n": nonce, "e": int(expires_at)}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def read_token(secret_key: str, token: str, *, tenant_id: uuid.UUID, now: float | None = None) -> UnlockLink:
    """The link in ``token`` if it is authentic, unexpired and for this clinic."""
    body, _, signature = (token or "").partition(".")
    expected = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    if not body or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise UnlockError("forged")
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        link = UnlockLink(
            uuid.UUID(payload["u"]), uuid.UUID(payload["t"]), str(payload["n"]), float(payload["e"])
        )
    except (ValueError, KeyError, TypeError):
        raise UnlockError("malformed") from None
    if link.tenant_id != tenant_id:
        raise UnlockError("other_clinic")
    if link.expires_at <= (now or time.time()):
        raise UnlockError("expired")
    return link


async def new_link(
    redis, secret_key: str, *, user_id: uuid.UUID, tenant_id: uuid.UUID, account: str
) -> str | None:
    """A token for a new unlock link for the counter ``account``, or None when one was
    already sent in this counter window (one e-mail per window, however many attempts)."""
    if not await redis.set(f"{_OFFERED}{account}", b"1", nx=True, ex=WINDOW):
        return None
    nonce = secrets.token_urlsafe(16)
    expires_at = time.time() + LIFETIME
    await redis.set(f"{_NONCE}{nonce}", account.encode(), ex=LIFETIME)
    return make_token(secret_key, user_id=user_id, tenant_id=tenant_id, nonce=nonce, expires_at=expires_at)


async def is_unused(redis, link: UnlockLink) -> bool:
    return bool(await redis.exists(f"{_NONCE}{link.nonce}"))


async def use(redis, link: UnlockLink) -> str | None:
    """Take the link's nonce (once): the account counter it unlocks, or None when used."""
    raw = await redis.getdel(f"{_NONCE}{link.nonce}")
    return raw.decode() if isinstance(raw, bytes) else raw
