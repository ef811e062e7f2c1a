"""iCalendar feeds: created with a secret shown once (only its SHA-256 stored), read by a
calendar app without signing in, initials only unless show_names, the 30/180-day window,
cancelled as STATUS:CANCELLED, SEQUENCE from the appointment's version, every fetch
audited, revocation, who may manage whose feeds, the screen, and tenant isolation."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text

from core.tenancy import tenant_scope
from plugins.scheduling.models import IcsFeed
from plugins.scheduling.tests.ical_reader import parse
from plugins.scheduling.tests.sample_clinic import add_appointment, make_sample_clinic
from tests.audit_helpers import assert_audited
from tests.test_practice_api import bearer


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_sample_clinic(db, make_tenant, make_user, owner_engine)


def api(app, tenant, headers) -> AsyncTestClient:
    client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    client.headers.update(headers)
    return client


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def create(app, db, clinic, role="clinician", **body):
    body.setdefault("provider_id", str(clinic.provider_id))
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users[role])) as client:
        return await client.post("/api/scheduling/feeds", json=body)


async def test_a_feed_is_created_once_read_without_login_and_audited(app, db, clinic, client_for):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    booked = await add_appointment(db, clinic, now + dt.timedelta(days=2), patient=0)
    moved = await add_appointment(
        db, clinic, now + dt.timedelta(days=3), patient=1, status="confirmed", version=3
    )
    cancelled = await add_appointment(
        db, clinic, now + dt.timedelta(days=4), patient=2, status="cancelled", telehealth=True
    )
    no_show = await add_appointment(db, clinic, now - dt.timedelta(days=29), status="no-show")
    await add_appointment(db, clinic, now - dt.timedelta(days=31))  # before the window
    await add_appointment(db, clinic, now + dt.timedelta(days=181))  # after it
    await add_appointment(
        db, clinic, now + dt.timedelta(days=5), provider_id=clinic.provider2_id
    )  # not theirs

    created = await create(app, db, clinic, label="Sam's phone")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["label"] == "Sam's phone" and body["show_names"] is False
    assert body["provider"] == "Sam Patel, PT, DPT"
    url = body["url"]
    assert re.fullmatch(
        rf"http://{clinic.tenant.slug}\.localhost/scheduling/feeds/[A-Za-z0-9_-]{{43}}\.ics", url
    )
    token = url.rsplit("/", 1)[1].removesuffix(".ics")

    # only the digest is kept, and the URL is never listed again
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            row = await session.scalar(select(IcsFeed))
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row.__dict__)
    assert row.last_used_at is None
    await assert_audited(db, clinic.tenant, action="token_created", resource_type="scheduling:feed")
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users["clinician"])) as client:
        listed = (await client.get("/api/scheduling/feeds")).json()["items"]
    assert [f["id"] for f in listed] == [body["id"]] and "url" not in listed[0]

    # a calendar app fetches it with no session and no token header
    async with client_for(clinic.tenant.slug) as anonymous:
        response = await anonymous.get(path_of(url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert "no-store" in response.headers["cache-control"]
    calendar = parse(response.content)
    events = {e.one("UID").split("@")[0]: e for e in calendar.children}
    assert set(events) == {str(booked), str(moved), str(cancelled), str(no_show)}
    assert calendar.one("NAME") == "Sam Patel, PT, DPT"

    first = events[str(booked)]
    assert first.one("SUMMARY") == "PT follow-up \u2013 A.E."
    assert first.one("STATUS") == "TENTATIVE" and first.one("SEQUENCE") == "1"
    assert first.one("LOCATION") == "Main Clinic"
    assert first.time("DTSTART") == now + dt.timedelta(days=2)
    assert first.time("DTEND") == now + dt.timedelta(days=2, minutes=45)
    assert events[str(moved)].one("STATUS") == "CONFIRMED" and events[str(moved)].one("SEQUENCE") == "3"
    assert events[str(moved)].one("SUMMARY").endswith("Z.M.")
    gone = events[str(cancelled)]
    assert gone.one("STATUS") == "CANCELLED" and gone.one("SUMMARY").startswith("Cancelled:")
    assert gone.one("LOCATION") == "Main Clinic (telehealth)"
    assert events[str(no_show)].one("STATUS") == "CANCELLED"
    # initials only: no name of any patient anywhere in the feed
    for name in ("Ada", "Example", "Zoë", "Müller", "Smith"):
        assert name not in response.text

    event = await assert_audited(
        db,
        clinic.tenant,
        action="read",
        resource_type="scheduling:feed",
        route="GET /scheduling/feeds/{token}",
    )
    assert event.detail["events"] == 4 and event.actor_user_id is None
    assert event.resource_id == body["id"]
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            assert (await session.scalar(select(IcsFeed))).last_used_at is not None


async def configure(db, registry, clinic, **config) -> None:
    """Set the clinic's scheduling configuration through the real enabling service."""
    from core.lifecycle.plugins import enable_plugin

    async with db.session() as session:
        await enable_plugin(session, registry, clinic.tenant, "scheduling", config=config)
        await session.commit()


async def test_show_names_puts_full_names_in_events(app, db, registry, clinic, client_for):
    await add_appointment(db, clinic, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    await configure(db, registry, clinic, feed_names=True)
    created = await create(app, db, clinic, show_names=True)
    assert created.json()["show_names"] is True
    async with client_for(clinic.tenant.slug) as anonymous:
        response = await anonymous.get(path_of(created.json()["url"]))
    (event,) = parse(response.content).children
    assert event.one("SUMMARY") == "PT follow-up \u2013 Ada Example"


async def test_names_in_feeds_are_opt_in_per_clinic(app, db, registry, clinic, client_for):
    """Minimum necessary: a clinic that has not allowed names gets no named feed (422 naming
    the field), and withdrawing the permission turns existing named feeds to initials."""
    await add_appointment(db, clinic, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    refused = await create(app, db, clinic, show_names=True)
    assert refused.status_code == 422, refused.text
    assert "show_names" in refused.text and "initials" in refused.text
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users["clinician"])) as client:
        assert (await client.get("/api/scheduling/feeds")).json()["items"] == []

    await configure(db, registry, clinic, feed_names=True)
    created = await create(app, db, clinic, show_names=True)
    assert created.status_code == 201, created.text
    assert created.json()["expires_at"] is not None
    async with client_for(clinic.tenant.slug) as anonymous:
        named = await anonymous.get(path_of(created.json()["url"]))
        assert "Ada Example" in named.text

        await configure(db, registry, clinic)  # the clinic withdraws its permission
        initials_only = await anonymous.get(path_of(created.json()["url"]))
    assert initials_only.status_code == 200
    assert "Ada" not in initials_only.text and "A.E." in initials_only.text


async def test_a_feed_with_names_expires(app, db, registry, clinic, client_for, owner_engine):
    await add_appointment(db, clinic, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    await configure(db, registry, clinic, feed_names=True, feed_names_days=30)
    named = (await create(app, db, clinic, show_names=True)).json()
    plain = (await create(app, db, clinic)).json()
    created_at = dt.datetime.fromisoformat(named["created_at"])
    assert dt.datetime.fromisoformat(named["expires_at"]) == created_at + dt.timedelta(days=30)
    assert plain["expires_at"] is None
    async with owner_engine.begin() as conn:  # both feeds were made 31 days ago
        await conn.execute(
            text(
                "UPDATE scheduling_ics_feeds SET created_at = created_at - interval '31 days' "
                "WHERE tenant_id = :tenant"
            ),
            {"tenant": clinic.tenant.id},
        )
    async with client_for(clinic.tenant.slug) as anonymous:
        assert (await anonymous.get(path_of(named["url"]))).status_code == 404
        assert (await anonymous.get(path_of(plain["url"]))).status_code == 200


async def test_revoked_unknown_and_malformed_tokens_answer_404(app, db, clinic, client_for):
    created = (await create(app, db, clinic)).json()
    path = path_of(created["url"])
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users["front_desk"])) as desk:
        revoked = await desk.post(f"/api/scheduling/feeds/{created['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    await assert_audited(db, clinic.tenant, action="token_revoked", resource_type="scheduling:feed")
    async with client_for(clinic.tenant.slug) as anonymous:
        assert (await anonymous.get(path)).status_code == 404
        assert (await anonymous.get("/scheduling/feeds/" + "x" * 43 + ".ics")).status_code == 404
        assert (await anonymous.get(path.removesuffix(".ics"))).status_code == 404
        assert (await anonymous.get("/scheduling/feeds/.ics")).status_code == 404


async def test_who_may_manage_whose_feeds(app, db, clinic):
    # a clinician manages only their own provider's feeds
    other = await create(app, db, clinic, provider_id=str(clinic.provider2_id))
    assert other.status_code == 403 and "your own" in other.json()["detail"]
    # the front desk and the owner anyone's
    assert (
        await create(app, db, clinic, role="front_desk", provider_id=str(clinic.provider2_id))
    ).status_code == 201
    assert (await create(app, db, clinic, role="owner")).status_code == 201
    # a biller has no scheduling:feeds at all
    assert (await create(app, db, clinic, role="biller")).status_code == 403
    # the clinician lists only their own provider's feeds, and cannot revoke another's
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users["clinician"])) as client:
        mine = (await client.get("/api/scheduling/feeds")).json()["items"]
        assert {f["provider_id"] for f in mine} == {str(clinic.provider_id)}
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users["owner"])) as client:
        every = (await client.get("/api/scheduling/feeds")).json()["items"]
    assert len(every) == 2
    theirs = next(f for f in every if f["provider_id"] == str(clinic.provider2_id))
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users["clinician"])) as client:
        assert (await client.post(f"/api/scheduling/feeds/{theirs['id']}/revoke")).status_code == 403


async def test_bad_input_is_a_422_naming_the_field(app, db, clinic):
    response = await create(app, db, clinic, provider_id="not-an-id", label="x" * 81, show_names="yes")
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["extra"]["errors"]}
    assert fields == {"provider_id", "label", "show_names"}
    unknown = await create(app, db, clinic, colour="red")
    assert unknown.status_code == 422
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users["owner"])) as client:
        garbled = await client.post(
            "/api/scheduling/feeds", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert garbled.status_code == 400
        listed = await client.post("/api/scheduling/feeds", json=["a list"])
        assert listed.status_code == 422


async def test_the_feeds_screen_shows_the_url_once_and_keeps_input_on_errors(
    db, registry, clinic, client_as, csrf_headers
):
    async with await client_as(clinic.tenant, clinic.users["clinician"]) as client:
        headers = await csrf_headers(client)
        empty = await client.get("/scheduling/feeds")
        assert empty.status_code == 200 and "No feeds yet." in empty.text
        assert "Sam Patel" in empty.text and "Lee Chen" not in empty.text  # only their own
        # names are not offered until the clinic allows them
        assert 'name="show_names"' not in empty.text and "initials only" in empty.text
        await configure(db, registry, clinic, feed_names=True)

        refused = await client.post(
            "/scheduling/feeds",
            data={"provider_id": "", "label": "My tablet", "show_names": "on"},
            headers=headers,
        )
        assert refused.status_code == 422
        assert 'class="field-error"' in refused.text and 'value="My tablet"' in refused.text
        assert "checked" in refused.text

        made = await client.post(
            "/scheduling/feeds",
            data={"provider_id": str(clinic.provider_id), "label": "My tablet"},
            headers=headers,
        )
        assert made.status_code == 200
        url = re.search(r'value="(http://[^"]+\.ics)"', made.text).group(1)
        assert "shown only once" in made.text

        again = await client.get("/scheduling/feeds")
        assert url not in again.text and "My tablet" in again.text
        feed_id = re.search(r"/scheduling/feeds/([0-9a-f-]{36})/revoke", again.text).group(1)
        revoked = await client.post(
            f"/scheduling/feeds/{feed_id}/revoke", headers=headers, follow_redirects=False
        )
        assert revoked.status_code == 303
        assert "revoked" in (await client.get("/scheduling/feeds")).text


async def test_other_clinics_and_clinics_without_scheduling_get_404(
    app, db, clinic, make_tenant, make_user, owner_engine, client_for
):
    created = (await create(app, db, clinic)).json()
    other = await make_sample_clinic(db, make_tenant, make_user, owner_engine, name="Other PT")
    # the first clinic's token on the other clinic's host
    async with client_for(other.tenant.slug) as anonymous:
        assert (await anonymous.get(path_of(created["url"]))).status_code == 404
    async with api(app, other.tenant, await bearer(db, other.tenant, other.users["owner"])) as client:
        assert (await client.post(f"/api/scheduling/feeds/{created['id']}/revoke")).status_code == 404
        foreign = await client.post("/api/scheduling/feeds", json={"provider_id": str(clinic.provider_id)})
        assert foreign.status_code == 404
        assert (await client.get("/api/scheduling/feeds")).json()["items"] == []

    plain = await make_tenant(name="No Scheduling")
    owner = await make_user(plain, roles=("owner",))
    async with client_for(plain.slug) as anonymous:
        assert (await anonymous.get(path_of(created["url"]))).status_code == 404
    async with api(app, plain, await bearer(db, plain, owner)) as client:
        assert (await client.get("/api/scheduling/feeds")).status_code == 404
        assert (await client.get("/scheduling/feeds")).status_code == 404
