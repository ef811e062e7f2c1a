"""Emergency access ("break the glass"): offered on a refused breakable read, granted to a
clinician's session for an hour after a reason, audited when granted and at every use."""

from __future__ import annotations

import time

from sqlalchemy import select

from core.audit.models import AuditEvent
from core.auth.sessions import COOKIE_NAME
from core.auth.tokens import create_token
from core.tenancy import tenant_scope


async def _signed_in(client_as, session_store, tenant, user):
    client = await client_as(tenant, user)
    client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
    return client


async def _events(db, tenant, **where):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            query = select(AuditEvent).order_by(AuditEvent.occurred_at)
            for key, value in where.items():
                query = query.where(getattr(AuditEvent, key) == value)
            return list(await session.scalars(query))


async def test_a_clinician_breaks_the_glass_and_every_use_is_flagged(
    db, make_tenant, make_user, client_as, session_store
):
    tenant = await make_tenant(plugins=("sample",))
    clinician = await make_user(tenant, roles=("clinician",))
    async with await _signed_in(client_as, session_store, tenant, clinician) as client:
        refused = await client.get("/api/sample/sealed")
        assert refused.status_code == 403
        offer = refused.json()["extra"]["break_glass"]
        assert offer == {
            "object": "sample:sealed",
            "action": "read",
            "url": "/api/break-glass",
            "reason_min_length": 10,
        }

        short = await client.post("/api/break-glass", json={"object": "sample:sealed", "reason": "urgent"})
        assert short.status_code == 422 and "at least 10 characters" in short.json()["detail"]
        unknown = await client.post("/api/break-glass", json={"object": "core:users", "reason": "x" * 20})
        assert unknown.status_code == 422
        have = await client.post("/api/break-glass", json={"object": "sample:notes", "reason": "x" * 20})
        assert have.status_code == 409  # already allowed: nothing to break

        reason = "Patient unconscious in the ED, need history"
        granted = await client.post("/api/break-glass", json={"object": "sample:sealed", "reason": reason})
        assert granted.status_code == 201, granted.text
        assert 3500 < granted.json()["expires_at"] - time.time() <= 3600
        assert (await client.get("/api/sample/sealed")).json() == {"record": "sealed"}
        assert (await client.get("/sample/sealed")).status_code == 200
        # only read is granted
        session = await session_store.get(client.cookies.get(COOKIE_NAME))
        assert set(session.break_glass) == {"sample:sealed"}

    [grant] = await _events(db, tenant, action="break_glass")
    assert grant.reason == reason and grant.emergency and grant.outcome == "success"
    assert grant.resource_type == "sample:sealed" and grant.actor_user_id == clinician.id
    uses = await _events(db, tenant, action="read", emergency=True)
    assert [u.resource_id for u in uses] == ["GET /api/sample/sealed", "GET /sample/sealed"]
    # the refusal before the grant was audited too
    denied = await _events(db, tenant, action="denied", resource_type="sample:sealed")
    assert len(denied) == 1


async def test_the_grant_expires(make_tenant, make_user, client_as, session_store):
    tenant = await make_tenant(plugins=("sample",))
    clinician = await make_user(tenant, roles=("clinician",))
    async with await _signed_in(client_as, session_store, tenant, clinician) as client:
        reason = "Emergency transfer, chart needed now"
        assert (
            await client.post("/api/break-glass", json={"object": "sample:sealed", "reason": reason})
        ).status_code == 201
        session_id = client.cookies.get(COOKIE_NAME)
        data = await session_store.get(session_id)
        data.break_glass["sample:sealed"] = time.time() - 1
        await session_store.save(session_id, data)
        assert (await client.get("/api/sample/sealed")).status_code == 403


async def test_the_html_403_offers_the_form_and_the_form_grants(
    db, make_tenant, make_user, client_as, session_store
):
    tenant = await make_tenant(plugins=("sample",))
    clinician = await make_user(tenant, roles=("clinician",))
    async with await _signed_in(client_as, session_store, tenant, clinician) as client:
        page = await client.get("/sample/sealed", headers={"accept": "text/html"})
        assert page.status_code == 403
        assert 'action="/break-glass"' in page.text and 'value="sample:sealed"' in page.text
        assert 'name="_csrf"' in page.text
        blank = await client.post(
            "/break-glass", data={"object": "sample:sealed", "reason": " ", "next": "/sample/sealed"}
        )
        assert blank.status_code == 422 and "at least 10 characters" in blank.text
        done = await client.post(
            "/break-glass",
            data={
                "object": "sample:sealed",
                "reason": "Overdose, need allergy list",
                "next": "/sample/sealed",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/sample/sealed"
        assert (await client.get("/sample/sealed")).status_code == 200
        # an open redirect is not possible
        evil = await client.post(
            "/break-glass",
            data={
                "object": "sample:sealed",
                "reason": "Overdose, need allergy list",
                "next": "//evil.example",
            },
            follow_redirects=False,
        )
        assert evil.headers["location"] == "/"


async def test_only_clinical_roles_may_break_the_glass(db, make_tenant, make_user, client_as, session_store):
    tenant = await make_tenant(plugins=("sample",))
    desk = await make_user(tenant, roles=("front_desk",))
    async with await _signed_in(client_as, session_store, tenant, desk) as client:
        refused = await client.get("/api/sample/sealed")
        assert refused.status_code == 403 and "extra" not in refused.json()  # no offer
        attempt = await client.post(
            "/api/break-glass", json={"object": "sample:sealed", "reason": "I just want to look at it"}
        )
        assert attempt.status_code == 403 and "clinical staff" in attempt.json()["detail"]
        assert (await client.get("/api/sample/sealed")).status_code == 403
    [event] = await _events(db, tenant, action="break_glass")
    assert event.outcome == "denied"


async def test_api_tokens_cannot_break_the_glass(db, make_tenant, make_user, client_for):
    tenant = await make_tenant(plugins=("sample",))
    clinician = await make_user(tenant, roles=("clinician",))
    with tenant_scope(tenant.id):
        async with db.session() as session:
            token, _ = await create_token(session, user_id=clinician.id, name="script")
            await session.commit()
    async with client_for(tenant.slug) as client:
        client.headers["authorization"] = f"Bearer {token}"
        refused = await client.get("/api/sample/sealed")
        assert refused.status_code == 403 and "extra" not in refused.json()
        attempt = await client.post("/api/break-glass", json={"object": "sample:sealed", "reason": "x" * 30})
        assert attempt.status_code == 403


async def test_losing_the_clinical_role_ends_the_grant(db, make_tenant, make_user, client_as, session_store):
    from core.auth.models import Membership

    tenant = await make_tenant(plugins=("sample",))
    clinician = await make_user(tenant, roles=("clinician",))
    async with await _signed_in(client_as, session_store, tenant, clinician) as client:
        reason = "Code blue on ward 3, need record"
        assert (
            await client.post("/api/break-glass", json={"object": "sample:sealed", "reason": reason})
        ).status_code == 201
        with tenant_scope(tenant.id):
            async with db.session() as session:
                row = await session.get(Membership, (tenant.id, clinician.id))
                row.roles = ["front_desk"]
                await session.commit()
        assert (await client.get("/api/sample/sealed")).status_code == 403
