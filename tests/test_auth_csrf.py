"""CSRF: unsafe requests made with a session cookie need the session's token."""

from __future__ import annotations

from sqlalchemy import select

from core.audit.models import AuditEvent
from core.auth.sessions import COOKIE_NAME
from core.auth.tokens import create_token
from core.tenancy import tenant_scope


async def events(db, tenant, action):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_missing_and_forged_tokens_are_403_and_audited(
    db, session_store, make_tenant, make_user, client_as
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with await client_as(tenant, user) as client:
        data = await session_store.get(client.cookies.get(COOKIE_NAME))
        missing = await client.post("/api/account/sessions/revoke-others")
        forged = await client.post("/api/account/sessions/revoke-others", headers={"X-CSRF-Token": "forged"})
        page = await client.post(
            "/account/sessions/revoke-others", data={"_csrf": "forged"}, headers={"accept": "text/html"}
        )
        assert missing.status_code == forged.status_code == page.status_code == 403
        assert "did not come from this site" in missing.json()["detail"]
        assert "Reload the page" in page.text and "<html" in page.text
        # the real token, as htmx sends it (header) and as a plain form sends it (field)
        ok_header = await client.post(
            "/api/account/sessions/revoke-others", headers={"X-CSRF-Token": data.csrf_token}
        )
        ok_form = await client.post(
            "/account/sessions/revoke-others", data={"_csrf": data.csrf_token}, follow_redirects=False
        )
        ok_multipart = await client.post(
            "/account/sessions/revoke-others",
            files={"_csrf": (None, data.csrf_token), "other": (None, "x")},
            follow_redirects=False,
        )
        assert ok_header.status_code == 200
        assert ok_form.status_code == ok_multipart.status_code == 303
    rejected = await events(db, tenant, "csrf_rejected")
    assert sorted(e.reason for e in rejected) == ["csrf_mismatch", "csrf_mismatch", "csrf_missing"]
    assert all(e.actor_user_id == user.id and e.outcome == "denied" for e in rejected)
    assert rejected[0].resource_id.endswith("/revoke-others")


async def test_a_token_from_another_session_is_refused(session_store, make_tenant, make_user, client_as):
    tenant = await make_tenant()
    user = await make_user(tenant)
    _, other = await session_store.create(user_id=user.id, tenant_id=tenant.id)
    async with await client_as(tenant, user) as client:
        response = await client.post(
            "/api/account/sessions/revoke-others", headers={"X-CSRF-Token": other.csrf_token}
        )
    assert response.status_code == 403


async def test_bearer_requests_are_exempt(db, make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant, roles=("owner",))
    with tenant_scope(tenant.id):
        async with db.session() as session:
            token, _ = await create_token(session, user_id=user.id, name="ci")
            await session.commit()
    async with client_for(tenant.slug) as client:
        response = await client.put(
            "/api/settings/security", json={"idle_minutes": 20}, headers={"authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200 and response.json()["idle_minutes"] == 20


async def test_sign_in_form_posted_without_a_session_is_refused(db, make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with client_for(tenant.slug) as client:
        # as a cross-site form would: no cookie (SameSite=Lax withholds it), no token
        response = await client.post(
            "/login", data={"email": user.email, "password": "correct horse battery"}, follow_redirects=False
        )
        assert response.status_code == 403 and "expired" in response.text
        assert COOKIE_NAME in response.headers["set-cookie"]  # a fresh form to try again with
        # a cookie for a real anonymous session, but a forged token
        forged = await client.post(
            "/login", data={"email": user.email, "password": "correct horse battery", "_csrf": "x"}
        )
        assert forged.status_code == 403
    reasons = sorted(e.reason for e in await events(db, tenant, "csrf_rejected"))
    assert reasons == ["csrf_mismatch", "csrf_no_session"]


async def test_htmx_pages_carry_the_token_on_body(session_store, make_tenant, make_user, client_as):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with await client_as(tenant, user) as client:
        data = await session_store.get(client.cookies.get(COOKIE_NAME))
        page = await client.get("/account/sessions")
    assert page.status_code == 200
    assert f'hx-headers=\'{{"X-CSRF-Token": "{data.csrf_token}"}}\'' in page.text
    assert f'name="_csrf" value="{data.csrf_token}"' in page.text
    # the idle sign-out hint: the period on the page, the script as a file (no inline script)
    assert 'data-idle-seconds="900"' in page.text and "/static/core/tessera.js" in page.text
