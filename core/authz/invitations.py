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

import hashlib
import time
import uuid
from dataclasses import dataclass

from core.web.signed import SignatureError, sign_token, unsign_token

#: how long an invitation link works (seconds)
INVITATION_SECONDS = 72 * 3600
SETUP_PATH = "/account/setup/"
#: what each kind of link is signed for (core.web.signed derives a key per purpose)
SETUP_PURPOSE = "invitation"
INVITATION_PURPOSE = "clinic-invitation"


class InvitationError(ValueError):
    """The link is malformed, forged, expired or already used."""


def _payload(secret_key: str, purpose: str, token: str, fields: dict) -> dict:
    try:
        return unsign_token(secret_key, purpose, token, fields=fields)
    except SignatureError as exc:
        raise InvitationError(exc.reason) from None


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
    return sign_token(secret_key, SETUP_PURPOSE, payload)


def read_link_token(secret_key: str, token: str, *, now: float | None = None) -> Invitation:
    """The invitation in ``token`` if it is authentic and unexpired (the caller still
    checks the tenant and the password fingerprint)."""
    p = _payload(secret_key, SETUP_PURPOSE, token, {"u": uuid.UUID, "t": uuid.UUID, "e": float, "p": str})
    invitation = Invitation(user_id=p["u"], tenant_id=p["t"], expires_at=p["e"], fingerprint=p["p"])
    if invitation.expires_at < (now or time.time()):
        raise InvitationError("expired")
    return invitation


# -- invitation links ----------------------------------------------------------------------

INVITATION_PATH = "/invitations/"


@dataclass(frozen=True)
class InvitationLink:
    invitation_id: uuid.UUID
    tenant_id: uuid.UUID
    expires_at: float


def make_invitation_token(
    secret_key: str, *, invitation_id: uuid.UUID, tenant_id: uuid.UUID, expires_at: float
) -> str:
    payload = {"i": str(invitation_id), "t": str(tenant_id), "e": int(expires_at)}
    return sign_token(secret_key, INVITATION_PURPOSE, payload)


def read_invitation_token(secret_key: str, token: str, *, now: float | None = None) -> InvitationLink:
    """The invitation a link names, if the link is authentic and unexpired (the caller
    still checks the tenant and the invitation's status)."""
    p = _payload(secret_key, INVITATION_PURPOSE, token, {"i": uuid.UUID, "t": uuid.UUID, "e": float})
    link = InvitationLink(invitation_id=p["i"], tenant_id=p["t"], expires_at=p["e"])
    if link.expires_at < (now or time.time()):
        raise InvitationError("expired")
    return link
