"""Sign-in and sign-out (HTML and JSON), lockout, the platform host, cookies."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.auth.models import PlatformOperator, User
from core.auth.passwords import hash_password
from core.auth.sessions import COOKIE_NAME
from core.tenancy import tenant_scope

PASSWORD = "correct horse battery"


async def events(db, tenant, action=None):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            query = select(AuditEvent).order_by(AuditEvent.occurred_at)
            if action:
                query = query.where(AuditEvent.action == action)
            return list(await session.scalars(query))


def form_token(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


async def test_html_sign_in_sets_a_hardened_cookie_and_rotates_the_session(
    db, session_store, make_tenant, make_user, client_for
):
    tenant = await make_tenant()
    user = await make_user(tenant, roles=("clinician",))
    async with client_for(tenant.slug) as client:
        page = await client.get("/login")
        assert page.status_code == 200
        assert 'autocomplete="username"' in page.text and 'autocomplete="current-password"' in page.text
        anonymous = client.cookies.get(COOKIE_NAME)
        assert (await session_store.get(anonymous)).user_id == ""
        response = await client.post(
            "/login",
            data={
                "email": user.email.upper(),
                "password": PASSWORD,
                "_csrf": form_token(page.text),
                "next": "/x",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"] == "/x"
        set_cookie = response.headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower() and "Path=/" in set_cookie
        assert "Domain" not in set_cookie and "Secure" not in set_cookie
        signed_in = client.cookies.get(COOKIE_NAME)
        assert signed_in != anonymous
        assert await session_store.get(anonymous) is None  # the pre-sign-in id is dead
        data = await session_store.get(signed_in)
        assert data.user_id == str(user.id) and data.tenant_id == str(tenant.id)
        me = await client.get("/api/auth/me")
        assert (
            me.status_code == 200 and me.json()["email"] == user.email and me.json()["roles"] == ["clinician"]
        )
        # the signed-in layout carries the CSRF token for htmx and the sign-out form
        home = await client.get("/login", follow_redirects=True)
        assert f'"X-CSRF-Token": "{data.csrf_token}"' in home.text
    [login] = await events(db, tenant, "login")
    assert login.actor_user_id == user.id and login.outcome == "success"


async def test_cookie_is_secure_over_https(app, make_tenant, make_user):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with AsyncTestClient(app=app, base_url=f"https://{tenant.slug}.localhost") as client:
        response = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        assert response.status_code == 200
        assert "Secure" in response.headers["set-cookie"]


async def test_wrong_password_and_unknown_account_get_the_same_401_and_are_audited(
    db, make_tenant, make_user, client_for, sign_in
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with client_for(tenant.slug) as client:
        wrong = await client.post("/api/auth/login", json={"email": user.email, "password": "nope"})
        unknown = await client.post("/api/auth/login", json={"email": "who@example.test", "password": "nope"})
        garbage = await client.post("/api/auth/login", json={"email": ["x"], "password": None})
    assert wrong.status_code == unknown.status_code == garbage.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    html = await sign_in(tenant, user.email, "nope")
    assert html.sign_in_response.status_code == 401
    assert 'role="alert"' in html.sign_in_response.text
    assert "not correct" in html.sign_in_response.text
    assert html.sign_in_response.text.count(user.email) == 1  # kept in the field only
    failed = await events(db, tenant, "login_failed")
    reasons = [(e.reason, e.actor_user_id) for e in failed]
    assert ("wrong_password", user.id) in reasons and ("unknown_account", None) in reasons
    assert any(e.detail.get("email") == "who@example.test" for e in failed)


async def test_a_member_of_one_clinic_cannot_sign_in_at_another(db, make_tenant, make_user, client_for):
    a, b = await make_tenant(), await make_tenant()
    user = await make_user(a)
    async with client_for(b.slug) as client:
        response = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401
    [event] = await events(db, b, "login_failed")
    assert event.reason == "unknown_account" and event.actor_user_id is None


async def test_deactivated_member_cannot_sign_in(make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant, status="deactivated")
    async with client_for(tenant.slug) as client:
        response = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401


async def test_platform_host_admits_operators_only(db, make_tenant, make_user, client_for, sign_in, caplog):
    tenant = await make_tenant()
    member = await make_user(tenant)
    async with db.session() as session:
        operator = User(email="op-" + member.email, display_name="Op", password_hash=hash_password(PASSWORD))
        session.add(operator)
        await session.flush()
        session.add(PlatformOperator(user_id=operator.id))
        await session.commit()
    caplog.set_level("INFO", logger="tessera.auth")
    async with client_for(None) as client:
        refused = await client.post("/api/auth/login", json={"email": member.email, "password": PASSWORD})
        assert refused.status_code == 401
    client = await sign_in(None, operator.email)
    assert client.sign_in_response.status_code == 303
    me = await client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["site"] == "platform" and me.json()["roles"] == ["operator"]
    # the operator's cookie is worthless on a clinic's host
    cookie = client.cookies.get(COOKIE_NAME)
    replay = await client.get(
        f"http://{tenant.slug}.localhost/api/auth/me", headers={"cookie": f"{COOKIE_NAME}={cookie}"}
    )
    assert replay.status_code == 401
    log = caplog.text
    assert "platform login_failed" in log and "platform login success" in log
    assert member.email not in log and operator.email not in log  # ids only


async def test_sign_out_ends_the_session_and_is_audited(db, session_store, make_tenant, make_user, sign_in):
    tenant = await make_tenant()
    user = await make_user(tenant)
    client = await sign_in(tenant, user.email)
    cookie = client.cookies.get(COOKIE_NAME)
    data = await session_store.get(cookie)
    out = await client.post("/logout", data={"_csrf": data.csrf_token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    assert await session_store.get(cookie) is None
    client.cookies.set(COOKIE_NAME, cookie)  # a copy of the old cookie
    assert (await client.get("/api/auth/me")).status_code == 401
    [event] = await events(db, tenant, "logout")
    assert event.actor_user_id == user.id


async def test_json_sign_in_me_and_sign_out(session_store, make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant, roles=("biller", "front_desk"))
    async with client_for(tenant.slug) as client:
        login = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        body = login.json()
        assert body["mfa_required"] is False and body["user"]["email"] == user.email
        me = await client.get("/api/auth/me")
        assert (
            me.json()["roles"] == ["biller", "front_desk"] and me.json()["csrf_token"] == body["csrf_token"]
        )
        no_token = await client.post("/api/auth/logout")
        assert no_token.status_code == 403
        out = await client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
        assert out.status_code == 200 and out.json() == {"signed_out": True}
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_browsers_without_a_session_are_sent_to_sign_in_with_the_reason(make_tenant, client_for):
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        response = await client.get("/account/sessions", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
        page = await client.get("/login?reason=session_idle")
        assert "without activity" in page.text
        assert 'aria-live="polite"' in page.text


async def test_login_page_fills_in_the_email_from_the_switcher_link(make_tenant, client_for):
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        page = await client.get("/login", params={"email": "dana@example.test"})
    assert page.status_code == 200
    assert 'value="dana@example.test"' in page.text
