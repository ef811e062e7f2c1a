"""The account pages: password change, sessions, API tokens; the clinic's security settings."""

from __future__ import annotations

import re
import time

from sqlalchemy import select

from core.audit.models import AuditEvent
from core.auth.sessions import COOKIE_NAME
from core.auth.tokens import create_token
from core.tenancy import tenant_scope

PASSWORD = "correct horse battery"


async def events(db, tenant, action):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_password_change_ends_every_other_session(
    db, session_store, make_tenant, make_user, client_as, csrf_headers
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    other_id, _ = await session_store.create(user_id=user.id, tenant_id=tenant.id, mfa_verified=True)
    async with await client_as(tenant, user) as client:
        headers = await csrf_headers(client)
        mine = client.cookies.get(COOKIE_NAME)
        wrong = await client.post(
            "/api/account/password",
            json={"current_password": "nope", "new_password": "x" * 20},
            headers=headers,
        )
        weak = await client.post(
            "/api/account/password",
            json={"current_password": PASSWORD, "new_password": "short"},
            headers=headers,
        )
        assert wrong.status_code == weak.status_code == 400
        assert "not correct" in wrong.json()["detail"] and "at least 12" in weak.json()["detail"]
        assert await session_store.get(other_id) is not None
        page = await client.post(
            "/account/password",
            data={
                "_csrf": headers["X-CSRF-Token"],
                "current_password": PASSWORD,
                "new_password": "a much better passphrase",
                "confirm_password": "a much better passphrase",
            },
        )
        assert page.status_code == 200 and "was changed" in page.text
        assert await session_store.get(other_id) is None
        assert await session_store.get(mine) is not None
        assert (await client.get("/api/auth/me")).status_code == 200
        # the old password no longer signs in, the new one does
        old = await client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}, headers=headers
        )
        assert old.status_code == 401
        new = await client.post(
            "/api/auth/login",
            json={"email": user.email, "password": "a much better passphrase"},
            headers=headers,
        )
        assert new.status_code == 200
    changed = await events(db, tenant, "password_changed")
    assert sorted(e.outcome for e in changed) == ["failure", "success"]
    assert next(e for e in changed if e.outcome == "success").detail == {"other_sessions_ended": 1}


async def test_sessions_are_listed_and_can_be_revoked(
    db, session_store, make_tenant, make_user, client_as, csrf_headers
):
    tenant, elsewhere = await make_tenant(), await make_tenant()
    user = await make_user(tenant)
    other_id, _ = await session_store.create(
        user_id=user.id, tenant_id=tenant.id, mfa_verified=True, client_ip="203.0.113.9", user_agent="Firefox"
    )
    await session_store.create(user_id=user.id, tenant_id=elsewhere.id)  # another clinic's: not listed
    stranger = await make_user(tenant)
    stranger_id, _ = await session_store.create(user_id=stranger.id, tenant_id=tenant.id)
    async with await client_as(tenant, user) as client:
        headers = await csrf_headers(client)
        listed = (await client.get("/api/account/sessions")).json()
        assert len(listed) == 2 and sorted(s["current"] for s in listed) == [False, True]
        other = next(s for s in listed if not s["current"])
        assert other["client_ip"] == "203.0.113.9" and other["user_agent"] == "Firefox"
        page = await client.get("/account/sessions")
        assert "This session" in page.text and "203.0.113.9" in page.text
        # someone else's session is not yours to end
        theirs = session_store.digest(stranger_id)
        assert (await client.delete(f"/api/account/sessions/{theirs}", headers=headers)).status_code == 404
        assert await session_store.get(stranger_id) is not None
        gone = await client.delete(f"/api/account/sessions/{other['id']}", headers=headers)
        assert gone.status_code == 200 and gone.json() == {"revoked": 1}
        assert await session_store.get(other_id) is None
    async with await client_as(tenant, user) as replay:
        replay.cookies.set(COOKIE_NAME, other_id)
        assert (await replay.get("/api/auth/me")).status_code == 401
    [event] = await events(db, tenant, "session_revoked")
    assert event.actor_user_id == user.id


async def test_absolute_session_lifetime_is_enforced(db, session_store, make_tenant, make_user, client_as):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with await client_as(tenant, user) as client:
        session_id = client.cookies.get(COOKIE_NAME)
        data = await session_store.get(session_id)
        data.created_at = time.time() - 43201  # the default longest session is 12 hours
        await session_store.save(session_id, data)
        response = await client.get("/api/auth/me")
    assert response.status_code == 401 and "maximum length" in response.json()["detail"]
    [event] = await events(db, tenant, "session_rejected")
    assert event.reason == "session_expired"


async def test_api_tokens_created_shown_once_used_and_revoked(
    db, make_tenant, make_user, client_as, client_for, csrf_headers
):
    tenant = await make_tenant()
    user = await make_user(tenant, roles=("auditor",))
    async with await client_as(tenant, user) as client:
        headers = await csrf_headers(client)
        unknown = await client.post(
            "/api/account/tokens", json={"name": "x", "scopes": ["nope:nothing"]}, headers=headers
        )
        assert unknown.status_code == 400 and "Unknown permission scope" in unknown.json()["detail"]
        created = await client.post(
            "/api/account/tokens",
            json={"name": "reports", "scopes": ["core:audit"], "expires_in_days": 30},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        assert created.json()["scopes"] == ["core:audit"] and created.json()["expires_at"]
        listed = (await client.get("/api/account/tokens")).json()
        assert [t["name"] for t in listed] == ["reports"] and "token" not in listed[0]
        page = await client.post(
            "/account/tokens",
            data={"_csrf": headers["X-CSRF-Token"], "name": "html one", "scope": "core:audit"},
        )
        html_token = re.search(r'id="new-token" type="text" readonly value="([^"]+)"', page.text).group(1)
        assert (await client.get("/account/tokens")).text.count(html_token) == 0  # shown once
        token_id = created.json()["id"]
        bearer = {"authorization": f"Bearer {token}"}
        me = await client.get("/api/auth/me", headers=bearer)
        assert (
            me.status_code == 200
            and me.json()["via"] == "token"
            and me.json()["token_scopes"] == ["core:audit"]
        )
        # a token cannot make more tokens (nor escape its scopes that way)
        refused = await client.post("/api/account/tokens", json={"name": "more"}, headers=bearer)
        assert refused.status_code == 403
        revoked = await client.delete(f"/api/account/tokens/{token_id}", headers=headers)
        assert revoked.status_code == 200
        after = await client.get("/api/auth/me", headers=bearer)
        assert after.status_code == 401 and "revoked" in after.json()["detail"]
    assert len(await events(db, tenant, "token_created")) == 2
    assert len(await events(db, tenant, "token_revoked")) == 1


async def test_someone_elses_token_cannot_be_revoked(db, make_tenant, make_user, client_as, csrf_headers):
    tenant = await make_tenant()
    owner_of_token, other = await make_user(tenant), await make_user(tenant)
    with tenant_scope(tenant.id):
        async with db.session() as session:
            _, row = await create_token(session, user_id=owner_of_token.id, name="theirs")
            await session.commit()
    async with await client_as(tenant, other) as client:
        response = await client.delete(f"/api/account/tokens/{row.id}", headers=await csrf_headers(client))
    assert response.status_code == 404


async def test_security_settings_owner_only_validated_and_effective(
    db, session_store, make_tenant, make_user, client_as, csrf_headers
):
    tenant = await make_tenant()
    owner, clinician = await make_user(tenant, roles=("owner",)), await make_user(tenant)
    async with await client_as(tenant, clinician) as client:
        assert (await client.get("/api/settings/security")).status_code == 403
        denied = await client.put(
            "/api/settings/security", json={"idle_minutes": 60}, headers=await csrf_headers(client)
        )
        assert denied.status_code == 403
    async with await client_as(tenant, owner) as client:
        headers = await csrf_headers(client)
        page = await client.get("/settings/security")
        assert page.status_code == 200 and 'value="15"' in page.text and 'for="idle-minutes"' in page.text
        bad = await client.post(
            "/settings/security",
            data={"_csrf": headers["X-CSRF-Token"], "idle_minutes": "0", "max_hours": "8"},
        )
        assert bad.status_code == 400 and "between 1 and 120" in bad.text
        bad_json = await client.put("/api/settings/security", json={"max_hours": "lots"}, headers=headers)
        assert bad_json.status_code == 400
        saved = await client.post(
            "/settings/security",
            data={"_csrf": headers["X-CSRF-Token"], "idle_minutes": "1", "max_hours": "8"},
        )
        assert saved.status_code == 200 and "Saved" in saved.text
        assert (await client.get("/api/settings/security")).json() == {
            "idle_minutes": 1,
            "max_hours": 8,
            "mfa_required": False,
        }
        # the new idle limit applies at once
        session_id = client.cookies.get(COOKIE_NAME)
        data = await session_store.get(session_id)
        data.last_seen = time.time() - 61
        await session_store.save(session_id, data)
        assert (await client.get("/api/settings/security")).status_code == 401
    [event] = await events(db, tenant, "update")
    assert event.resource_type == "tenant_settings" and event.detail["after"]["idle_minutes"] == 1


async def test_platform_has_no_tokens_or_clinic_settings(db, make_user, client_as, make_tenant):
    from core.auth.models import PlatformOperator

    tenant = await make_tenant()
    user = await make_user(tenant)
    async with db.session() as session:
        session.add(PlatformOperator(user_id=user.id))
        await session.commit()
    async with await client_as(None, user) as client:
        assert (await client.get("/api/account/tokens")).status_code == 404
        assert (await client.get("/api/settings/security")).status_code == 404
        assert (await client.get("/api/account/sessions")).status_code == 200
