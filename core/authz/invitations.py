"""Signed links: a clinic's invitation, and the one-time set-password link.

* **Invitation links** (``/invitations/<token>``) carry the invitation's id, the tenant and
  an expiry, signed with HMAC-SHA256 under a key derived from ``TESSERA_SECRET_KEY``. The
  invitation row decides the rest: a link stops working once the invitation is accepted,
  revoked, replaced or expired. They go to the invitee's mailbox only (through
  ``core.messaging``), never into an answer to the inviting clinic.
* **Set-password links** (``/account/setup/<token>``, the first owner of a new clinic)
  carry the user, the tenant, an expiry and a fingerprint of the user's current password
  hash. Nothing is stored: the link stops working once it expires or once a password is
  set (the fingerprint no longer matches), so it is single-use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

#: how long an invitation link works (seconds)
INVITATION_SECONDS = 72 * 3600
SETUP_PATH = "/account/setup/"


class InvitationError(ValueError):
    """The link is malformed, forged, expired or already used."""


def _key(secret_key: str) -> bytes:
    if not secret_key:
        raise RuntimeError("TESSERA_SECRET_KEY is needed to sign invitation links")
    return hmac.new(secret_key.encode(), b"tessera:invitation:v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Invitation:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    expires_at: float
    fingerprint: str


def make_link_token(
    secret_key: str,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    password_hash: str | None,
    lifetime: int = INVITATION_SECONDS,
    now: float | None = None,
) -> str:
    payload = {
        "u": str(user_id),
        "t": str(tenant_id),
        "e": int((now or time.time()) + lifetime),
        "p": password_fingerprint(password_hash),
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def read_link_token(secret_key: str, token: str, *, now: float | None = None) -> Invitation:
    """The invitation in ``token`` if it is authentic and unexpired (the caller still
    checks the tenant and the password fingerprint)."""
    try:
        body, signature = token.split(".")
        expected = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
        if len(token) > 512 or not hmac.compare_digest(signature, expected):
            raise InvitationError("forged")
        payload = json.loads(_unb64(body))
        invitation = Invitation(
            user_id=uuid.UUID(payload["u"]),
            tenant_id=uuid.UUID(payload["t"]),
            expires_at=float(payload["e"]),
            fingerprint=str(payload["p"]),
        )
    except InvitationError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise InvitationError("malformed") from exc
    if invitation.expires_at < (now or time.time()):
        raise InvitationError("expired")
    return invitation


# -- invitation links ----------------------------------------------------------------------

INVITATION_PATH = "/invitations/"


def _invitation_key(secret_key: str) -> bytes:
    if not secret_key:
        raise RuntimeError("TESSERA_SECRET_KEY is needed to sign invitation links")
    return hmac.new(secret_key.encode(), b"tessera:clinic-invitation:v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class InvitationLink:
    invitation_id: uuid.UUID
    tenant_id: uuid.UUID
    expires_at: float


def make_invitation_token(
    secret_key: str, *, invitation_id: uuid.UUID, tenant_id: uuid.UUID, expires_at: float
) -> str:
    payload = {"i": str(invitation_id), "t": str(tenant_id), "e": int(expires_at)}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_invitation_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def read_invitation_token(secret_key: str, token: str, *, now: float | None = None) -> InvitationLink:
    """The invitation a link names, if the link is authentic and unexpired (the caller
    still checks the tenant and the invitation's status)."""
    try:
        body, signature = token.split(".")
        expected = _b64(hmac.new(_invitation_key(secret_key), body.encode(), hashlib.sha256).digest())
        if len(token) > 512 or not hmac.compare_digest(signature, expected):
            raise InvitationError("forged")
        payload = json.loads(_unb64(body))
        link = InvitationLink(
            invitation_id=uuid.UUID(payload["i"]),
            tenant_id=uuid.UUID(payload["t"]),
            expires_at=float(payload["e"]),
        )
    except InvitationError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise InvitationError("malformed") from exc
    if link.expires_at < (now or time.time()):
        raise InvitationError("expired")
    return link
