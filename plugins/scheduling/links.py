"""Signed patient links: "confirm" and "cancel" in a reminder work without signing in.

A link is ``/scheduling/link/<purpose>/<token>``; the token is the capability:

* **signed**: HMAC-SHA256 (RFC 2104) over the payload (tenant, appointment, appointment
  version, purpose, expiry, nonce) with a key derived from ``TESSERA_SECRET_KEY``, compared
  in constant time. Nothing about the appointment can be changed without the key.
* **expiring**: at the appointment's start (nobody confirms a visit that has begun).
* **single-purpose**: the purpose is signed and must match the path, so a confirm link
  cannot cancel.
* **single-use**: using it stores its nonce in ``scheduling_link_uses`` (unique per
  clinic), so the second click is told it was already used.
* **for one appointment time**: the version is signed; a reschedule bumps the
  appointment's version, and every link made for the old time stops working.
* **for one clinic**: the tenant is signed and must match the site the link is opened on.

``GET`` only shows what the link would do and a button: mail scanners and link previews
fetch links, and a fetch must not cancel a visit. ``POST`` does it. Anonymous POSTs carry
no session, so the CSRF middleware lets them through (it guards ambient authority, and
there is none: the token is the authority); a browser that happens to hold a staff
session on this clinic sends the page's ``_csrf`` field like any form.

Every view, use and refusal is audited in the clinic (actor: anonymous, ``detail.via``
"patient link"); refusals answer a 4xx page saying what to do, never a 500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath  # type: ignore[attr-defined]
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.plugin_api import (
    DbSession,
    Location,
    SignatureError,
    app_settings,
    location_time_zone,
    page,
    phi_route,
    provider_names,
    public,
    record,
    sign_token,
    site_of,
    unsign_token,
    urlsafe_b64,
    utcnow,
)
from plugins.scheduling.models import HOLDING, Appointment, AppointmentType, LinkUse

PURPOSES = ("confirm", "cancel")
PATH = "/scheduling/link/{purpose:str}/{token:str}"
RESOURCE_TYPE = "appointment"
VIA = "patient link"
#: what a patient's cancellation through a link records as the reason
CANCEL_REASON = "cancelled by the patient with the link in a reminder"
#: tokens longer than this are refused unread
MAX_TOKEN = 600
#: what the links are signed for (the kernel derives this purpose's own key)
PURPOSE = "scheduling-link"


class LinkRefusedError(Exception):
    """The link cannot be used. ``reason`` is audited; ``message`` is shown to the patient."""

    def __init__(self, reason: str, message: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.status = status


#: what a token's payload holds: tenant, appointment, version, purpose, expiry, nonce
CLAIM_FIELDS = {"t": uuid.UUID, "a": uuid.UUID, "v": int, "p": str, "e": int, "n": str}


@dataclass(frozen=True)
class LinkClaim:
    tenant_id: uuid.UUID
    appointment_id: uuid.UUID
    version: int
    purpose: str
    expires_at: int
    nonce: str


def link_nonce(seed: str, purpose: str) -> str:
    """A nonce derived from ``seed`` (a reminder's id): the same reminder sent twice after a
    crash carries the same links, and its confirm and cancel links differ."""
    return urlsafe_b64(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:16])


def make_token(
    secret_key: str,
    *,
    tenant_id: uuid.UUID,
    appointment_id: uuid.UUID,
    version: int,
    purpose: str,
    expires_at: dt.datetime,
    nonce: str,
) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    payload = {
        "t": str(tenant_id),
        "a": str(appointment_id),
        "v": int(version),
        "p": purpose,
        "e": int(expires_at.timestamp()),
        "n": nonce,
    }
    return sign_token(secret_key, PURPOSE, payload)


def link_path(token: str, purpose: str) -> str:
    return f"/scheduling/link/{purpose}/{token}"


def link_url(site_url: str, **claim: Any) -> str:
    """The absolute link (``site_url`` is the clinic's address, e.g. from
    ``settings.site_url(slug)``); keyword arguments as for ``make_token`` plus
    ``secret_key``."""
    return site_url.rstrip("/") + link_path(make_token(**claim), claim["purpose"])


INVALID = "This link is not valid. Please use the link in your latest reminder, or call the clinic."


def read_token(secret_key: str, token: str, *, now: float | None = None) -> LinkClaim:
    """The claim in ``token`` if it is authentic and unexpired, else ``LinkRefusedError``."""
    try:
        p = unsign_token(secret_key, PURPOSE, token, max_length=MAX_TOKEN, fields=CLAIM_FIELDS)
    except SignatureError as exc:
        raise LinkRefusedError(f"link_{exc.reason}", INVALID, 400) from None
    claim = LinkClaim(
        tenant_id=p["t"],
        appointment_id=p["a"],
        version=p["v"],
        purpose=p["p"],
        expires_at=p["e"],
        nonce=p["n"],
    )
    current = now if now is not None else dt.datetime.now(dt.UTC).timestamp()
    if claim.expires_at <= current:
        raise LinkRefusedError(
            "link_expired",
            "This link has expired: the appointment time has come. Please call the clinic.",
            410,
        )
    return claim


# -- the pages ---------------------------------------------------------------------------


async def _appointment_for(
    request: Request, db_session, purpose: str, token: str
) -> tuple[LinkClaim, Appointment]:
    """Check the link against this site and the appointment as it is now."""
    if purpose not in PURPOSES:
        raise NotFoundException(detail="There is no such page.")
    site = site_of(request)
    claim = read_token(app_settings(request).secret_key, token)
    if claim.tenant_id != site.tenant.id:
        raise LinkRefusedError("link_other_clinic", "This link is not for this clinic's site.", 404)
    if claim.purpose != purpose:
        raise LinkRefusedError(
            "link_wrong_purpose", f"This link cannot be used to {purpose} the appointment.", 400
        )
    appointment = await db_session.scalar(
        select(Appointment).where(Appointment.id == claim.appointment_id).with_for_update()
    )
    if appointment is None:
        raise LinkRefusedError("link_unknown_appointment", INVALID, 404)
    if await db_session.scalar(select(LinkUse.id).where(LinkUse.nonce == claim.nonce)) is not None:
        raise LinkRefusedError("link_used", "This link has already been used; nothing more to do.", 409)
    if appointment.version != claim.version:
        raise LinkRefusedError(
            "link_old_time",
            "This appointment has been moved since this link was sent. "
            "Please use the link in your latest reminder, or call the clinic.",
            410,
        )
    if appointment.status not in HOLDING:
        raise LinkRefusedError(
            "link_not_holding", f"This appointment is {appointment.status}; there is nothing to do.", 409
        )
    if appointment.status in ("arrived", "completed"):
        raise LinkRefusedError("link_visit_started", "This visit has already started.", 409)
    return claim, appointment


async def _describe(db_session, appointment: Appointment) -> dict[str, Any]:
    """What the patient sees: when, where and with whom (no names of the patient)."""
    location = await db_session.get(Location, (appointment.tenant_id, appointment.location_id))
    zone = await location_time_zone(db_session, appointment.location_id)
    kind = await db_session.get(AppointmentType, (appointment.tenant_id, appointment.type_id))
    names = await provider_names(db_session, [appointment.provider_id])
    local = appointment.starts_at.astimezone(zoneinfo.ZoneInfo(zone))
    return {
        "when": local.strftime("%A %-d %B %Y at %H:%M") + f" ({zone})",
        "location": location.name if location else "",
        "provider": names.get(appointment.provider_id, ""),
        "kind": kind.name if kind else "",
        "status": appointment.status,
    }


async def _audit(
    db_session, *, action: str, appointment: Appointment | None, purpose: str, outcome: str, reason=None
):
    await record(
        db_session,
        action=action,
        resource_type=RESOURCE_TYPE,
        resource_id=appointment.id if appointment else None,
        patient_id=appointment.patient_id if appointment else None,
        outcome=outcome,
        reason=reason,
        detail={"via": VIA, "purpose": purpose},
    )


async def _refused(request: Request, db_session, refused: LinkRefusedError, purpose: str) -> Template:
    await db_session.rollback()
    await _audit(
        db_session,
        action="denied",
        appointment=None,
        purpose=purpose,
        outcome="denied",
        reason=refused.reason,
    )
    await db_session.commit()
    response = await page(
        request, "scheduling/link_refused.html", page_title="Link not usable", message=refused.message
    )
    response.status_code = refused.status
    return response


@phi_route
@get(
    PATH,
    name="scheduling:link",
    guards=[public("patient confirm/cancel link from a reminder")],
    include_in_schema=False,
)
async def link_page(
    request: Request, db_session: DbSession, purpose: FromPath[str], token: FromPath[str]
) -> Template:
    """Show what the link will do, with a button (a GET never changes anything)."""
    try:
        _, appointment = await _appointment_for(request, db_session, purpose, token)
    except LinkRefusedError as refused:
        return await _refused(request, db_session, refused, purpose)
    shown = await _describe(db_session, appointment)
    await _audit(db_session, action="read", appointment=appointment, purpose=purpose, outcome="success")
    await db_session.commit()
    return await page(
        request,
        "scheduling/link_action.html",
        page_title="Confirm your appointment" if purpose == "confirm" else "Cancel your appointment",
        purpose=purpose,
        appointment=shown,
        clinic=site_of(request).tenant.name,
        done=False,
    )


@phi_route
@post(
    PATH,
    name="scheduling:link-use",
    guards=[public("patient confirm/cancel link from a reminder")],
    include_in_schema=False,
    status_code=200,
)
async def use_link(
    request: Request, db_session: DbSession, purpose: FromPath[str], token: FromPath[str]
) -> Template:
    """Confirm or cancel; the link is spent in the same transaction."""
    from plugins.scheduling import booking

    hooks = site_of(request).hooks
    try:
        claim, appointment = await _appointment_for(request, db_session, purpose, token)
        db_session.add(
            LinkUse(appointment_id=appointment.id, nonce=claim.nonce, purpose=purpose, used_at=utcnow())
        )
        try:
            await db_session.flush()
        except IntegrityError:  # the same link used twice at the same moment
            raise LinkRefusedError(
                "link_used", "This link has already been used; nothing more to do.", 409
            ) from None
        if purpose == "confirm":
            await booking.confirm(db_session, hooks, appointment)
        else:
            await booking.cancel(db_session, hooks, appointment, CANCEL_REASON)
    except LinkRefusedError as refused:
        return await _refused(request, db_session, refused, purpose)
    await _audit(db_session, action="update", appointment=appointment, purpose=purpose, outcome="success")
    shown = await _describe(db_session, appointment)
    await db_session.commit()
    return await page(
        request,
        "scheduling/link_action.html",
        page_title="Appointment confirmed" if purpose == "confirm" else "Appointment cancelled",
        purpose=purpose,
        appointment=shown,
        clinic=site_of(request).tenant.name,
        done=True,
    )


ROUTES: list = [link_page, use_link]
