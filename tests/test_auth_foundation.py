"""The authentication middleware: sessions and tokens become a principal, bound to one site."""

from __future__ import annotations

import time

from sqlalchemy import select

from core.audit.models import AuditEvent
from core.auth.sessions import COOKIE_NAME
from core.auth.tokens import create_token
from core.tenancy import tenant_scope


async def _events(db, tenant, action):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_session_becomes_a_principal_on_its_own_site_only(
    db, make_tenant, make_user, client_as, client_for
):
    a, b = await make_tenant(plugins=("sample",)), await make_tenant(plugins=("sample",))
    user = await make_user(a, roles=("front_desk",))
    async with await client_as(a, user) as client:
        me = await client.get("/api/sample/whoami")
        assert me.status_code == 200, me.text
        assert me.json() == {"email": user.email, "roles": ["front_desk"], "via": "session"}
        cookie = client.cookies.get(COOKIE_NAME)
    # the same cookie replayed on another clinic's host
    async with client_for(b.slug) as other:
        other.cookies.set(COOKIE_NAME, cookie)
        replay = await other.get("/api/sample/whoami")
    assert replay.status_code == 401
    assert replay.json()["detail"] == "This session belongs to another site. Please sign in here."
    [event] = await _events(db, b, "session_rejected")
    assert event.outcome == "denied" and event.reason == "session_other_site"


async def test_no_credentials_is_401_and_browsers_go_to_sign_in(make_tenant, client_for):
    tenant = await make_tenant(plugins=("sample",))
    async with client_for(tenant.slug) as client:
        api = await client.get("/api/sample/whoami")
        page = await client.get("/api/sample/whoami", headers={"accept": "text/html"}, follow_redirects=False)
    assert api.status_code == 401 and api.json()["detail"] == "Please sign in."
    # /api paths answer JSON even to browsers
    assert page.status_code == 401


async def test_idle_session_is_ended_and_audited(db, session_store, make_tenant, make_user, client_as):
    tenant = await make_tenant(plugins=("sample",))
    user = await make_user(tenant)
    client = await client_as(tenant, user)
    async with client:
        session_id = client.cookies.get(COOKIE_NAME)
        data = await session_store.get(session_id)
        data.last_seen = time.time() - 901  # the default idle limit is 900 s
        await session_store.save(session_id, data)
        response = await client.get("/api/sample/whoami")
        assert response.status_code == 401
        assert "without activity" in response.json()["detail"]
        assert await session_store.get(session_id) is None
    [event] = await _events(db, tenant, "session_rejected")
    assert event.reason == "session_idle" and event.actor_type == "anonymous"


async def test_bearer_token_works_on_its_tenant_only_and_revocation_is_immediate(
    db, make_tenant, make_user, client_for
):
    a, b = await make_tenant(plugins=("sample",)), await make_tenant(plugins=("sample",))
    user = await make_user(a, roles=("biller",))
    with tenant_scope(a.id):
        async with db.session() as session:
            token, row = await create_token(session, user_id=user.id, name="ci")
            await session.commit()
    auth = {"authorization": f"Bearer {token}"}
    async with client_for(a.slug) as client:
        me = await client.get("/api/sample/whoami", headers=auth)
        assert me.status_code == 200 and me.json()["via"] == "token"
    async with client_for(b.slug) as client:
        other = await client.get("/api/sample/whoami", headers=auth)
        assert other.status_code == 401 and "not valid for this clinic" in other.json()["detail"]
    with tenant_scope(a.id):
        async with db.session() as session:
            stored = await session.get(type(row), (a.id, row.id))
            assert stored.token_digest != token.encode() and stored.last_used_at is not None
            stored.revoked_at = stored.created_at
            await session.commit()
    async with client_for(a.slug) as client:
        revoked = await client.get("/api/sample/whoami", headers=auth)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert [e.reason for e in await _events(db, b, "token_rejected")] == ["token_invalid"]
    assert [e.reason for e in await _events(db, a, "token_rejected")] == ["token_revoked"]


async def test_deactivated_membership_ends_access(db, make_tenant, make_user, client_as):
    tenant = await make_tenant(plugins=("sample",))
    user = await make_user(tenant, status="deactivated")
    async with await client_as(tenant, user) as client:
        response = await client.get("/api/sample/whoami")
    assert response.status_code == 401 and "not active here" in response.json()["detail"]
