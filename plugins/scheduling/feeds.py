"""iCalendar feeds: a provider's appointments in their own calendar app, read-only, behind
a secret URL that can be revoked.

The URL's token is the only credential (calendar apps cannot sign in), so it is treated
like a password: 32 random bytes, shown once when the feed is created, stored only as its
SHA-256. The feed route is public; the tenant comes from the Host like every request, and
the digest is looked up in that tenant's scope, so a token of one clinic answers 404 on
another's host, as does an unknown or revoked one. Events name the patient by initials
(a calendar on a phone is outside the clinic's control), cover 30 days back to 180 days
ahead, and every fetch is audited.

Full names are opt-in twice (minimum necessary, docs/security.md): the clinic allows them
(scheduling setting ``feed_names``), and a feed is created with ``show_names``. Such a
feed expires ``feed_names_days`` (default 90) after it was made and then answers 404 like
a revoked one; if the clinic withdraws ``feed_names``, existing feeds fall back to
initials at once.

Who manages feeds (``scheduling:feeds``): a clinician their own provider's feeds; the
owner and the front desk anyone's.

    GET  /scheduling/feeds                          the screen: list, create, revoke
    POST /scheduling/feeds                          create (the URL is shown once)
    POST /scheduling/feeds/{feed_id}/revoke         revoke
    GET  /api/scheduling/feeds                      list (JSON)
    POST /api/scheduling/feeds                      create -> {..., "url"} (once)
    POST /api/scheduling/feeds/{feed_id}/revoke     revoke
    GET  /scheduling/feeds/{token}.ics              the feed itself (public, audited)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import (
    DbSession,
    Location,
    Patient,
    Provider,
    may,
    page,
    phi_route,
    plugin_config,
    provider_names,
    public,
    record,
    request_principal,
    requires,
    utcnow,
)
from plugins.scheduling.ics import Event, calendar
from plugins.scheduling.inputs import FieldErrors, Reader
from plugins.scheduling.models import Appointment, AppointmentType, IcsFeed

READ = requires("scheduling:feeds", "read")
WRITE = requires("scheduling:feeds", "write")

#: what a feed shows, relative to the moment it is fetched
FEED_PAST = dt.timedelta(days=30)
FEED_AHEAD = dt.timedelta(days=180)
# scheduling:feeds "manage" (owner, front desk) manages every provider's feeds; anyone else
# with scheduling:feeds only their own
#: how long a feed carrying full names lives unless the clinic sets ``feed_names_days``
NAMED_FEED_DAYS = 90
#: RFC 5545 section 3.8.1.11 status of an event, by appointment status. A no-show frees
#: the time like a cancellation, so the calendar shows it as cancelled too.
ICS_STATUS = {
    "booked": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "arrived": "CONFIRMED",
    "completed": "CONFIRMED",
    "cancelled": "CANCELLED",
    "no-show": "CANCELLED",
}
UID_DOMAIN = "tessera-scheduling"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def initials(given: str, family: str) -> str:
    """ "Ada Example" -> "A.E." (first letter of each part of the name)."""
    return "".join(f"{part[0].upper()}." for part in (given, family) if part)


# -- names in feeds: the clinic's opt-in and the lifetime ------------------------------------


def names_allowed(config: dict[str, Any]) -> bool:
    """Whether the clinic allows feeds that carry patients' full names."""
    return config.get("feed_names") is True


def named_feed_lifetime(config: dict[str, Any]) -> dt.timedelta:
    return dt.timedelta(days=int(config.get("feed_names_days") or NAMED_FEED_DAYS))


def feed_expires_at(feed: IcsFeed, config: dict[str, Any]) -> dt.datetime | None:
    """When a feed stops answering: only feeds with full names expire."""
    return feed.created_at + named_feed_lifetime(config) if feed.show_names else None


def shows_names(feed: IcsFeed, config: dict[str, Any]) -> bool:
    """Names go out only while both the feed and the clinic say so."""
    return feed.show_names and names_allowed(config)


# -- who may manage which provider's feeds -----------------------------------------------


def _principal(request: Request):
    return request_principal(request)


def manages_every_feed(request: Request) -> bool:
    return may(request, "scheduling:feeds", "manage")


async def manageable_providers(session: AsyncSession, request: Request) -> dict[uuid.UUID, str]:
    """Provider id -> name of the providers whose feeds the caller manages."""
    query = select(Provider.id).where(Provider.active)
    if not manages_every_feed(request):
        query = query.where(Provider.user_id == _principal(request).user_id)
    ids = list(await session.scalars(query))
    names = await provider_names(session, ids) if ids else {}
    return dict(sorted(names.items(), key=lambda item: item[1]))


async def _check_may_manage(session: AsyncSession, request: Request, provider_id: uuid.UUID) -> Provider:
    """The provider, if the caller may manage its feeds: another clinic's (or no) provider
    is 404, someone else's provider for a clinician 403."""
    provider = await session.scalar(select(Provider).where(Provider.id == provider_id))
    if provider is None:
        raise NotFoundException(detail="No such provider in this clinic.")
    if not manages_every_feed(request) and provider.user_id != _principal(request).user_id:
        raise PermissionDeniedException(
            detail="You may manage only your own calendar feeds; the front desk or the owner can "
            "manage other providers' feeds."
        )
    return provider


# -- services ------------------------------------------------------------------------------


async def create_feed(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    label: str | None,
    show_names: bool,
    created_by: uuid.UUID | None,
) -> tuple[IcsFeed, str]:
    """A new feed and its token (returned only here; the database keeps the digest)."""
    token = secrets.token_urlsafe(32)
    feed = IcsFeed(
        provider_id=provider_id,
        token_digest=token_digest(token),
        label=label,
        show_names=show_names,
        created_by_user_id=created_by,
    )
    session.add(feed)
    await session.flush()
    await record(
        session,
        action="token_created",
        resource_type="scheduling:feed",
        resource_id=feed.id,
        detail={"provider_id": str(provider_id), "show_names": show_names},
    )
    return feed, token


async def revoke_feed(session: AsyncSession, feed: IcsFeed) -> None:
    if feed.revoked_at is None:
        feed.revoked_at = utcnow()
        await session.flush()
        await record(
            session,
            action="token_revoked",
            resource_type="scheduling:feed",
            resource_id=feed.id,
            detail={"provider_id": str(feed.provider_id)},
        )


async def feeds_of(session: AsyncSession, provider_ids) -> list[IcsFeed]:
    ids = list(provider_ids)
    if not ids:
        return []
    return list(
        await session.scalars(
            select(IcsFeed).where(IcsFeed.provider_id.in_(ids)).order_by(IcsFeed.created_at.desc())
        )
    )


async def live_feed(session: AsyncSession, token: str) -> IcsFeed | None:
    """The unrevoked feed of ``token`` in the current tenant, if any."""
    return await session.scalar(
        select(IcsFeed).where(IcsFeed.token_digest == token_digest(token), IcsFeed.revoked_at.is_(None))
    )


async def feed_events(
    session: AsyncSession, feed: IcsFeed, now: dt.datetime, *, names: bool = False
) -> list[Event]:
    """The provider's appointments from ``now - FEED_PAST`` to ``now + FEED_AHEAD``, one
    query joining what each event names."""
    rows = await session.execute(
        select(Appointment, Patient.given_name, Patient.family_name, AppointmentType.name, Location.name)
        .join(Patient, Patient.id == Appointment.patient_id)
        .join(AppointmentType, AppointmentType.id == Appointment.type_id)
        .join(Location, Location.id == Appointment.location_id)
        .where(
            Appointment.provider_id == feed.provider_id,
            Appointment.starts_at >= now - FEED_PAST,
            Appointment.starts_at < now + FEED_AHEAD,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    events = []
    for appointment, given, family, type_name, location_name in rows:
        who = f"{given} {family}" if names else initials(given, family)
        summary = f"{type_name} \u2013 {who}"
        if appointment.status == "no-show":
            summary = f"No-show: {summary}"
        elif appointment.status == "cancelled":
            summary = f"Cancelled: {summary}"
        location = f"{location_name} (telehealth)" if appointment.telehealth else location_name
        events.append(
            Event(
                uid=f"{appointment.id}@{UID_DOMAIN}",
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                summary=summary,
                stamp=appointment.updated_at,
                status=ICS_STATUS[appointment.status],
                sequence=appointment.version,
                location=location,
            )
        )
    return events


def feed_json(
    feed: IcsFeed, provider_name: str | None = None, url: str | None = None, *, config: dict[str, Any]
) -> dict[str, Any]:
    expires = feed_expires_at(feed, config)
    body: dict[str, Any] = {
        "id": str(feed.id),
        "provider_id": str(feed.provider_id),
        "provider": provider_name,
        "label": feed.label,
        "show_names": feed.show_names,
        "created_at": feed.created_at.isoformat(),
        "revoked_at": feed.revoked_at.isoformat() if feed.revoked_at else None,
        "last_used_at": feed.last_used_at.isoformat() if feed.last_used_at else None,
        "expires_at": expires.isoformat() if expires else None,
    }
    if url is not None:
        body["url"] = url
    return body


def feed_url(request: Request, token: str) -> str:
    """The secret address, on the host the clinic's site was reached at."""
    base = str(request.base_url).rstrip("/")
    return f"{base}/scheduling/feeds/{token}.ics"


NAMES_REFUSED = (
    "this clinic does not allow patients' names in calendar feeds (the owner can allow them "
    "in the scheduling settings, feed_names); leave it off and the feed shows initials"
)


def _read_feed_input(data: Any, config: dict[str, Any]) -> tuple[uuid.UUID, str | None, bool]:
    reader = Reader(data, allowed={"provider_id", "label", "show_names"})
    provider_id = reader.uuid("provider_id", required=True)
    label = reader.text("label", max_length=80)
    show_names = reader.boolean("show_names", default=False)
    if show_names and not names_allowed(config):
        reader.error("show_names", NAMES_REFUSED)
    reader.raise_if_any()
    return provider_id, label, bool(show_names)


async def _owned_feed(session: AsyncSession, request: Request, feed_id: uuid.UUID) -> IcsFeed:
    feed = await session.scalar(select(IcsFeed).where(IcsFeed.id == feed_id))
    if feed is None:
        raise NotFoundException(detail="No such calendar feed in this clinic.")
    await _check_may_manage(session, request, feed.provider_id)
    return feed


# -- JSON API ------------------------------------------------------------------------------


@get("/api/scheduling/feeds", name="scheduling:api-feeds", guards=[READ])
async def list_feeds_api(request: Request, db_session: DbSession) -> dict[str, Any]:
    """The feeds of the providers the caller manages (never their URLs: only the digest
    is stored)."""
    names = await manageable_providers(db_session, request)
    config = plugin_config(request, "scheduling")
    return {
        "items": [
            feed_json(f, names.get(f.provider_id), config=config) for f in await feeds_of(db_session, names)
        ]
    }


@post("/api/scheduling/feeds", name="scheduling:api-feed-create", guards=[WRITE], status_code=201)
async def create_feed_api(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict[str, Any]:
    """``{provider_id, label?, show_names?}``: create a feed; the answer's ``url`` is the
    only time the secret is shown."""
    config = plugin_config(request, "scheduling")
    provider_id, label, show_names = _read_feed_input(data, config)
    await _check_may_manage(db_session, request, provider_id)
    new_feed, token = await create_feed(
        db_session,
        provider_id=provider_id,
        label=label,
        show_names=show_names,
        created_by=_principal(request).user_id,
    )
    names = await provider_names(db_session, [provider_id])
    body = feed_json(new_feed, names.get(provider_id), feed_url(request, token), config=config)
    await db_session.commit()
    return body


@post(
    "/api/scheduling/feeds/{feed_id:uuid}/revoke",
    name="scheduling:api-feed-revoke",
    guards=[WRITE],
    status_code=200,
)
async def revoke_feed_api(
    request: Request, db_session: DbSession, feed_id: FromPath[uuid.UUID]
) -> dict[str, Any]:
    target = await _owned_feed(db_session, request, feed_id)
    await revoke_feed(db_session, target)
    body = feed_json(target, config=plugin_config(request, "scheduling"))
    await db_session.commit()
    return body


# -- the feed --------------------------------------------------------------------------------


@phi_route
@get(
    "/scheduling/feeds/{token:str}",
    name="scheduling:feed",
    guards=[public("calendar feed: the secret token in the URL is the credential")],
    include_in_schema=False,
)
async def calendar_feed(request: Request, db_session: DbSession, token: FromPath[str]) -> Response:
    """The feed as ``text/calendar``. Unknown, revoked, expired and other clinics' tokens
    all answer the same 404, so the answer tells nothing about which tokens exist."""
    secret = token.removesuffix(".ics")
    if secret == token or not secret:
        raise NotFoundException(detail="No such calendar feed.")
    found = await live_feed(db_session, secret)
    if found is None:
        raise NotFoundException(detail="No such calendar feed.")
    now = utcnow()
    config = plugin_config(request, "scheduling")
    expires = feed_expires_at(found, config)
    if expires is not None and expires <= now:
        raise NotFoundException(detail="No such calendar feed.")
    names_shown = shows_names(found, config)
    events = await feed_events(db_session, found, now, names=names_shown)
    names = await provider_names(db_session, [found.provider_id])
    await db_session.execute(update(IcsFeed).where(IcsFeed.id == found.id).values(last_used_at=now))
    await record(
        db_session,
        action="read",
        resource_type="scheduling:feed",
        resource_id=found.id,
        detail={"events": len(events), "provider_id": str(found.provider_id), "show_names": names_shown},
    )
    await db_session.commit()
    body = calendar(events, name=names.get(found.provider_id, "Appointments"))
    return Response(
        content=body.encode("utf-8"),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="appointments.ics"',
        },
    )


# -- the screen ------------------------------------------------------------------------------


async def _feeds_page(
    request: Request,
    db_session: AsyncSession,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> Template:
    names = await manageable_providers(db_session, request)
    config = plugin_config(request, "scheduling")
    feeds = [feed_json(f, names.get(f.provider_id), config=config) for f in await feeds_of(db_session, names)]
    response = await page(
        request,
        "scheduling/feeds.html",
        page_title="Calendar feeds",
        providers=names,
        feeds=feeds,
        values=values or {},
        errors=errors or {},
        created=created,
        manages_all=manages_every_feed(request),
        names_allowed=names_allowed(config),
        names_days=named_feed_lifetime(config).days,
    )
    response.status_code = status
    return response


@get("/scheduling/feeds", name="scheduling:feeds", guards=[READ], include_in_schema=False)
async def feeds_page(request: Request, db_session: DbSession) -> Template:
    return await _feeds_page(request, db_session)


@post("/scheduling/feeds", name="scheduling:feed-create", guards=[WRITE], include_in_schema=False)
async def create_feed_form(request: Request, db_session: DbSession) -> Template:
    form = await request.form()
    values = {
        "provider_id": str(form.get("provider_id") or ""),
        "label": str(form.get("label") or ""),
        "show_names": form.get("show_names") == "on",
    }
    config = plugin_config(request, "scheduling")
    try:
        provider_id, label, show_names = _read_feed_input(
            {
                "provider_id": values["provider_id"] or None,
                "label": values["label"],
                "show_names": values["show_names"],
            },
            config,
        )
    except FieldErrors as exc:  # shown next to the fields, what was typed kept
        errors = {e["field"]: e["reason"] for e in exc.extra or []}
        return await _feeds_page(request, db_session, values=values, errors=errors, status=422)
    names = await manageable_providers(db_session, request)
    if provider_id not in names:
        return await _feeds_page(
            request,
            db_session,
            values=values,
            errors={"provider_id": "choose one of the providers listed"},
            status=422,
        )
    new_feed, token = await create_feed(
        db_session,
        provider_id=provider_id,
        label=label,
        show_names=show_names,
        created_by=_principal(request).user_id,
    )
    created = feed_json(new_feed, names[provider_id], feed_url(request, token), config=config)
    await db_session.commit()
    return await _feeds_page(request, db_session, created=created)


@post(
    "/scheduling/feeds/{feed_id:uuid}/revoke",
    name="scheduling:feed-revoke",
    guards=[WRITE],
    include_in_schema=False,
)
async def revoke_feed_form(request: Request, db_session: DbSession, feed_id: FromPath[uuid.UUID]) -> Response:
    target = await _owned_feed(db_session, request, feed_id)
    await revoke_feed(db_session, target)
    await db_session.commit()
    return Redirect("/scheduling/feeds", status_code=303)


ROUTES = [
    list_feeds_api,
    create_feed_api,
    revoke_feed_api,
    calendar_feed,
    feeds_page,
    create_feed_form,
    revoke_feed_form,
]
