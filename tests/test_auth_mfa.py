"""TOTP second factor: enrolment, the sign-in step, recovery codes, the clinic's policy."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select, update

from core.audit.models import AuditEvent
from core.auth.models import User
from core.auth.service import enable_mfa
from core.auth.sessions import COOKIE_NAME
from core.tenancy import tenant_scope
from core.tenancy.models import Tenant

PASSWORD = "correct horse battery"


async def events(db, tenant, action):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def csrf(session_store, client):
    return (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token


def code_for(secret: str, offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + offset * totp.interval)


async def test_enrolment_shows_qr_and_secret_needs_a_code_and_gives_recovery_codes(
    db, session_store, make_tenant, make_user, sign_in
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    client = await sign_in(tenant, user.email)
    page = await client.get("/account/mfa")
    assert page.status_code == 200 and "<svg" in page.text and 'aria-label="QR code' in page.text
    secret = re.search(r'<code id="mfa-secret">([A-Z2-7]+)</code>', page.text).group(1)
    token = await csrf(session_store, client)
    wrong = await client.post("/account/mfa", data={"_csrf": token, "code": "000000"})
    assert wrong.status_code == 400 and "not correct" in wrong.text
    done = await client.post("/account/mfa", data={"_csrf": token, "code": code_for(secret)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", done.text)
    assert len(codes) == 10 == len(set(codes))
    async with db.session() as session:
        stored = await session.get(User, user.id)
        assert stored.mfa_enabled_at is not None and stored.mfa_secret == secret
        assert len(stored.recovery_codes) == 10 and codes[0] not in str(stored.recovery_codes)
    again = await client.get("/account/mfa")
    assert "is on for your account" in again.text and "mfa-secret" not in again.text
    assert (await client.get("/api/auth/me")).status_code == 200  # this session counts as verified
    [enrolled] = await events(db, tenant, "mfa_enrolled")
    assert enrolled.actor_user_id == user.id
    assert [e.reason for e in await events(db, tenant, "mfa_failed")] == ["wrong_enrolment_code"]


async def test_sign_in_with_mfa_asks_for_a_code_and_refuses_replays(
    db, session_store, make_tenant, make_user, sign_in
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    secret = pyotp.random_base32()
    await enable_mfa(db, user.id, secret)
    client = await sign_in(tenant, user.email, next_path="/account/sessions")
    assert client.sign_in_response.headers["location"] == "/mfa?next=%2Faccount%2Fsessions"
    pending = await client.get("/api/auth/me")
    assert pending.status_code == 401 and pending.json()["extra"]["reason"] == "mfa_required"
    browser = await client.get("/account/sessions", follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"].startswith("/mfa?")
    form = await client.get("/mfa?next=/account/sessions")
    assert 'autocomplete="one-time-code"' in form.text
    token = await csrf(session_store, client)
    code = code_for(secret)
    bad = await client.post("/mfa", data={"_csrf": token, "code": "123"})
    assert bad.status_code == 401 and 'role="alert"' in bad.text
    ok = await client.post(
        "/mfa", data={"_csrf": token, "code": code, "next": "/account/sessions"}, follow_redirects=False
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account/sessions"
    assert (await client.get("/api/auth/me")).status_code == 200
    # the same code cannot be used for a second sign-in
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD}, headers={"X-CSRF-Token": token}
    )
    assert login.status_code == 200 and login.json()["mfa_required"] is True
    replay = await client.post(
        "/api/auth/mfa", json={"code": code}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
    )
    assert replay.status_code == 401
    assert len(await events(db, tenant, "mfa_failed")) == 2


async def test_recovery_codes_work_once(db, make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant)
    codes = await enable_mfa(db, user.id, pyotp.random_base32())
    async with client_for(tenant.slug) as client:
        headers = {}
        for attempt, expected in ((codes[3].upper(), 200), (codes[3], 401)):
            login = await client.post(
                "/api/auth/login", json={"email": user.email, "password": PASSWORD}, headers=headers
            )
            headers = {"X-CSRF-Token": login.json()["csrf_token"]}
            response = await client.post("/api/auth/mfa", json={"code": attempt}, headers=headers)
            assert response.status_code == expected, response.text
    async with db.session() as session:
        assert len((await session.get(User, user.id)).recovery_codes) == 9


async def test_five_wrong_codes_make_the_account_wait(db, session_store, make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant)
    await enable_mfa(db, user.id, pyotp.random_base32())
    async with client_for(tenant.slug) as client:
        login = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        headers = {"X-CSRF-Token": login.json()["csrf_token"]}
        statuses = [
            (await client.post("/api/auth/mfa", json={"code": "000000"}, headers=headers)).status_code
            for _ in range(6)
        ]
        assert statuses == [401, 401, 401, 401, 401, 429]
        again = await client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}, headers=headers
        )
        assert again.status_code == 429 and "Wait" in again.json()["detail"]
    assert len(await events(db, tenant, "locked_out")) == 1


async def test_clinic_requiring_mfa_sends_members_to_enrolment(
    db, session_store, make_tenant, make_user, client_as
):
    tenant = await make_tenant()
    async with db.session() as session:
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(mfa_required=True))
        await session.commit()
    user = await make_user(tenant)
    async with await client_as(tenant, user, mfa_verified=False) as client:
        api = await client.get("/api/auth/me")
        assert api.status_code == 403 and api.json()["extra"]["reason"] == "mfa_enrolment_required"
        browser = await client.get("/account/sessions", follow_redirects=False)
        assert (
            browser.status_code == 303
            and browser.headers["location"] == "/account/mfa?next=%2Faccount%2Fsessions"
        )
        htmx = await client.get("/account/sessions", headers={"hx-request": "true"})
        assert htmx.headers["hx-redirect"].startswith("/account/mfa")
        page = await client.get("/account/mfa")
        assert page.status_code == 200 and "requires two-factor" in page.text
        headers = {"X-CSRF-Token": await csrf(session_store, client)}
        setup = await client.post("/api/account/mfa/setup", headers=headers)
        assert setup.status_code == 200 and setup.json()["otpauth_uri"].startswith("otpauth://totp/")
        confirm = await client.post(
            "/api/account/mfa/confirm", json={"code": code_for(setup.json()["secret"])}, headers=headers
        )
        assert confirm.status_code == 200 and len(confirm.json()["recovery_codes"]) == 10
        assert (await client.get("/api/auth/me")).status_code == 200


async def _enrolled_client(db, session_store, tenant, user, sign_in):
    """A signed-in client whose user has just enrolled; returns (client, secret, csrf token)."""
    client = await sign_in(tenant, user.email)
    page = await client.get("/account/mfa")
    secret = re.search(r'<code id="mfa-secret">([A-Z2-7]+)</code>', page.text).group(1)
    token = await csrf(session_store, client)
    done = await client.post("/account/mfa", data={"_csrf": token, "code": code_for(secret)})
    assert done.status_code == 200
    return client, secret, token


async def test_new_recovery_codes_replace_the_old_ones(db, session_store, make_tenant, make_user, sign_in):
    tenant = await make_tenant()
    user = await make_user(tenant)
    client, _, token = await _enrolled_client(db, session_store, tenant, user, sign_in)
    async with db.session() as session:
        old = list((await session.get(User, user.id)).recovery_codes)
    wrong = await client.post("/account/mfa/recovery-codes", data={"_csrf": token, "password": "nope"})
    assert wrong.status_code == 400 and "password is not correct" in wrong.text
    fresh = await client.post("/account/mfa/recovery-codes", data={"_csrf": token, "password": PASSWORD})
    assert fresh.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", fresh.text)
    assert len(codes) == 10
    async with db.session() as session:
        now = (await session.get(User, user.id)).recovery_codes
    assert len(now) == 10 and not set(now) & set(old)
    [changed] = await events(db, tenant, "mfa_changed")
    assert changed.detail == {"change": "new_recovery_codes"} and changed.actor_user_id == user.id


async def test_turning_mfa_off_needs_password_and_code_and_is_refused_where_required(
    db, session_store, make_tenant, make_user, sign_in
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    client, secret, token = await _enrolled_client(db, session_store, tenant, user, sign_in)
    headers = {"X-CSRF-Token": token}
    bad_code = await client.post(
        "/api/account/mfa/off", json={"password": PASSWORD, "code": "000000"}, headers=headers
    )
    assert bad_code.status_code == 400 and "code is not correct" in bad_code.json()["detail"]

    async with db.session() as session:
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(mfa_required=True))
        await session.commit()
    required = await client.post(
        "/api/account/mfa/off", json={"password": PASSWORD, "code": code_for(secret, 1)}, headers=headers
    )
    assert required.status_code == 409 and "requires two-factor" in required.json()["detail"]
    async with db.session() as session:
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(mfa_required=False))
        await session.commit()

    off = await client.post(
        "/api/account/mfa/off", json={"password": PASSWORD, "code": code_for(secret, -1)}, headers=headers
    )
    assert off.status_code == 200 and off.json() == {"mfa_enrolled": False}
    async with db.session() as session:
        stored = await session.get(User, user.id)
        assert stored.mfa_enabled_at is None and stored.mfa_secret is None and stored.recovery_codes == []
    assert [e.detail for e in await events(db, tenant, "mfa_changed")] == [{"change": "turned_off"}]


async def test_wrong_enrolment_codes_do_not_count_towards_the_sign_in_throttle(
    db, session_store, make_tenant, make_user, sign_in
):
    # Seen to fail before: five wrong enrolment codes locked the account (403 at sign-in).
    tenant = await make_tenant()
    user = await make_user(tenant)
    client = await sign_in(tenant, user.email)
    await client.get("/account/mfa")
    token = await csrf(session_store, client)
    for _ in range(6):
        wrong = await client.post("/account/mfa", data={"_csrf": token, "code": "000000"})
        assert wrong.status_code == 400 and "not correct" in wrong.text
    again = await client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD}, headers={"X-CSRF-Token": token}
    )
    assert again.status_code == 200, again.text
    failed = await events(db, tenant, "mfa_failed")
    assert [e.reason for e in failed] == ["wrong_enrolment_code"] * 6  # still audited
    assert await events(db, tenant, "locked_out") == []


async def test_the_session_id_changes_when_the_second_factor_is_passed(
    db, session_store, make_tenant, make_user, client_for, sign_in
):
    # Seen to fail before: the cookie set by the password step stayed the session's id.
    tenant = await make_tenant()
    user = await make_user(tenant)
    secret = pyotp.random_base32()
    await enable_mfa(db, user.id, secret)
    async with client_for(tenant.slug) as client:
        login = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        pending = client.cookies.get(COOKIE_NAME)
        done = await client.post(
            "/api/auth/mfa",
            json={"code": code_for(secret)},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
        )
        assert done.status_code == 200, done.text
        verified = client.cookies.get(COOKIE_NAME)
        assert verified != pending
        assert await session_store.get(pending) is None  # a copy of the old cookie is worthless
        data = await session_store.get(verified)
        assert data.mfa_verified and data.user_id == str(user.id)
        assert (await client.get("/api/auth/me")).status_code == 200
    browser = await sign_in(tenant, user.email, next_path="/account/sessions")
    pending = browser.cookies.get(COOKIE_NAME)
    token = await csrf(session_store, browser)
    ok = await browser.post(
        "/mfa",
        data={"_csrf": token, "code": code_for(secret, 1), "next": "/account/sessions"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account/sessions"
    assert browser.cookies.get(COOKIE_NAME) != pending and await session_store.get(pending) is None
    assert (await browser.get("/account/sessions")).status_code == 200


async def test_enrolment_moves_the_session_to_a_new_id(db, session_store, make_tenant, make_user, sign_in):
    tenant = await make_tenant()
    user = await make_user(tenant)
    client = await sign_in(tenant, user.email)
    before = client.cookies.get(COOKIE_NAME)
    _, _, _ = await _enrolled_client_from(client, session_store)
    assert client.cookies.get(COOKIE_NAME) != before and await session_store.get(before) is None
    assert (await client.get("/api/auth/me")).status_code == 200


async def _enrolled_client_from(client, session_store):
    page = await client.get("/account/mfa")
    secret = re.search(r'<code id="mfa-secret">([A-Z2-7]+)</code>', page.text).group(1)
    token = await csrf(session_store, client)
    done = await client.post("/account/mfa", data={"_csrf": token, "code": code_for(secret)})
    assert done.status_code == 200
    return client, secret, token


async def test_json_sign_in_replaces_the_pre_sign_in_session(
    session_store, make_tenant, make_user, client_for
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with client_for(tenant.slug) as client:
        await client.get("/login")
        anonymous = client.cookies.get(COOKIE_NAME)
        token = await csrf(session_store, client)
        login = await client.post(
            "/api/auth/login",
            json={"email": user.email, "password": PASSWORD},
            headers={"X-CSRF-Token": token},
        )
        assert login.status_code == 200
        assert client.cookies.get(COOKIE_NAME) != anonymous and await session_store.get(anonymous) is None
