"""Sign-in throttling: per (account, site) and per client address, counted in Redis before
the password or code is checked, with growing waits instead of an account-wide lock."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pyotp
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from core.app import create_app
from core.audit.models import AuditEvent
from core.auth.service import enable_mfa
from core.auth.throttle import account_key
from core.tenancy import tenant_scope

PASSWORD = "correct horse battery"


async def events(db, tenant, action):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.occurred_at)
            return list(await session.scalars(query))


async def join(db, tenant, user, roles=("biller",)):
    """Give an existing user a membership in another clinic too."""
    from core.auth.models import Membership

    async with db.session() as session:
        with tenant_scope(tenant.id):
            session.add(Membership(user_id=user.id, roles=list(roles)))
            await session.commit()


@pytest.fixture
async def redis(settings):
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


def counter(tenant, email) -> str:
    return account_key(str(tenant.id), email)


async def wait_is_over(redis, key):
    """Stand-in for the clock moving on: the counter's current wait has passed."""
    assert await redis.hget(key, "next_at") is not None
    await redis.hset(key, "next_at", str(time.time() - 1))


def waits(response, seconds: int) -> bool:
    """A 429 whose Retry-After is ``seconds`` counted from when the wait began (the failed
    check that started it, which took a moment, came first)."""
    return response.status_code == 429 and seconds - 5 <= int(response.headers["retry-after"]) <= seconds


def login(client, email, password, **kwargs):
    return client.post("/api/auth/login", json={"email": email, "password": password}, **kwargs)


async def test_failures_at_one_clinic_do_not_lock_the_account_at_another(
    db, make_tenant, make_user, client_for
):
    a, b = await make_tenant(), await make_tenant()
    user = await make_user(b, roles=("owner",))
    await join(db, a, user)
    async with client_for(a.slug) as client:
        statuses = [(await login(client, user.email, "wrong")).status_code for _ in range(7)]
        at_a = await login(client, user.email, PASSWORD)
    async with client_for(b.slug) as client:
        at_b = await login(client, user.email, PASSWORD)
    # Seen to fail before: 403 "This account is locked for 15 more minutes" at clinic B.
    assert at_b.status_code == 200, at_b.text
    assert statuses == [401] * 5 + [429, 429]
    assert at_a.status_code == 429  # at clinic A even the right password has to wait
    assert [e.reason for e in await events(db, a, "locked_out")] == ["5 failed attempts"]
    assert await events(db, b, "locked_out") == []


async def test_waits_double_with_each_attempt_and_success_clears_them(
    db, redis, make_tenant, make_user, client_for
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    key = counter(tenant, user.email)
    async with client_for(tenant.slug) as client:
        for _ in range(5):
            assert (await login(client, user.email, "wrong")).status_code == 401
        waiting = await login(client, user.email, PASSWORD)
        assert waits(waiting, 30)
        assert waiting.json()["extra"] == {
            "reason": "throttled",
            "retry_after": int(waiting.headers["retry-after"]),
        }
        assert "Wait 2" in waiting.json()["detail"] or "Wait 30 seconds" in waiting.json()["detail"]
        await wait_is_over(redis, key)
        assert (await login(client, user.email, "wrong")).status_code == 401  # checked
        second = await login(client, user.email, PASSWORD)
        assert waits(second, 60)
        await wait_is_over(redis, key)
        assert (await login(client, user.email, "wrong")).status_code == 401
        assert waits(await login(client, user.email, PASSWORD), 120)
        await wait_is_over(redis, key)
        assert (await login(client, user.email, PASSWORD)).status_code == 200
    assert not await redis.exists(key)  # forgotten after the success
    refused = await events(db, tenant, "login_failed")
    assert {e.reason for e in refused} == {"wrong_password", "throttled_account"}
    assert all(e.actor_user_id == user.id for e in refused)


async def test_waits_stop_growing_at_the_maximum(redis, make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant)
    key = counter(tenant, user.email)
    async with client_for(tenant.slug) as client:
        for attempt in range(12):
            if attempt > 5:
                await wait_is_over(redis, key)
            await login(client, user.email, "wrong")
        await wait_is_over(redis, key)
        await login(client, user.email, "wrong")
        waiting = await login(client, user.email, "wrong")
    assert waits(waiting, 900)
    assert "Wait 15 minutes" in waiting.json()["detail"]


async def test_an_unknown_address_is_answered_like_a_known_one(make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with client_for(tenant.slug) as client:
        known = [await login(client, user.email, "wrong") for _ in range(6)]
        unknown = [await login(client, "nobody@example.test", "wrong") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 5 + [429]
    same = [re.sub(r"\d+", "N", r.text) for r in (known[-1], unknown[-1])]
    assert same[0] == same[1] and "Wait N seconds" in same[0]


async def test_one_client_address_is_throttled_across_accounts_and_clinics(
    settings, registry, db, make_tenant, make_user
):
    app = create_app(settings.with_(signin_address_free_attempts=8), registry=registry)
    a, b = await make_tenant(), await make_tenant()
    users = [await make_user(a) for _ in range(4)] + [await make_user(b) for _ in range(4)]
    victim = await make_user(b)

    def client(slug, address):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url=f"http://{slug}.localhost")

    async with client(a.slug, "203.0.113.7") as at_a, client(b.slug, "203.0.113.7") as at_b:
        for user in users:
            http = at_a if user in users[:4] else at_b
            assert (await login(http, user.email, "wrong")).status_code == 401
        refused = await login(at_b, victim.email, PASSWORD)
        assert refused.status_code == 429 and "e-mailed" not in refused.json()["detail"]
    async with client(b.slug, "198.51.100.2") as elsewhere:
        assert (await login(elsewhere, victim.email, PASSWORD)).status_code == 200
    [event] = [e for e in await events(db, b, "login_failed") if e.reason == "throttled_address"]
    assert event.client_ip == "203.0.113.7"
    await app.state.redis.aclose()
    await app.state.db.dispose()


@pytest.fixture
async def concurrent_client(settings, registry):
    """A client whose requests really run at the same time (the Litestar test client runs
    one request at a time in a thread of its own). Argon2 holds the event loop while it
    checks a password, so on a busy machine a request may wait long for a pooled
    connection: the pool timeout is raised, the pool is not."""
    app = create_app(settings.with_(db_pool_timeout=600.0), registry=registry)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
        yield client
    await app.state.redis.aclose()
    await app.state.db.dispose()


async def test_thirty_concurrent_wrong_passwords_check_only_five(
    db, make_tenant, make_user, concurrent_client
):
    # Seen to fail before the attempts were counted ahead of the password check: all 30
    # read the account as not locked, 30 passwords were checked and answered 401.
    tenant = await make_tenant()
    user = await make_user(tenant)
    host = {"host": f"{tenant.slug}.localhost"}
    burst = await asyncio.gather(
        *(login(concurrent_client, user.email, f"wrong-{n}", headers=host) for n in range(30))
    )
    statuses = sorted(r.status_code for r in burst)
    assert statuses == [401] * 5 + [429] * 25
    checked = [e for e in await events(db, tenant, "login_failed") if e.reason == "wrong_password"]
    assert len(checked) == 5
    assert len(await events(db, tenant, "locked_out")) == 1
    after = await login(concurrent_client, user.email, PASSWORD, headers=host)
    assert after.status_code == 429


async def test_concurrent_attempts_with_the_right_password_among_them_stay_within_the_allowance(
    db, make_tenant, make_user, concurrent_client
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    host = {"host": f"{tenant.slug}.localhost"}
    passwords = [f"wrong-{n}" for n in range(27)] + [PASSWORD, f"wrong-{99}", PASSWORD]
    barrier = asyncio.Barrier(len(passwords))

    async def attempt(password):
        await barrier.wait()
        return await login(concurrent_client, user.email, password, headers=host)

    burst = await asyncio.gather(*(attempt(p) for p in passwords))
    successes = sum(r.status_code == 200 for r in burst)
    checked = sum(r.status_code in (200, 401) for r in burst)
    assert all(r.status_code in (200, 401, 429) for r in burst)
    # five attempts per allowance, and only a success starts a new allowance
    assert checked <= 5 * (1 + successes)
    wrong = [e for e in await events(db, tenant, "login_failed") if e.reason == "wrong_password"]
    assert len(wrong) == checked - successes
    assert len(await events(db, tenant, "login")) == successes


async def test_wrong_second_factor_codes_are_throttled_per_clinic(
    db, session_store, make_tenant, make_user, client_for
):
    a, b = await make_tenant(), await make_tenant()
    user = await make_user(a)
    await join(db, b, user)
    secret = pyotp.random_base32()
    await enable_mfa(db, user.id, secret)
    async with client_for(a.slug) as client:
        signed = await login(client, user.email, PASSWORD)
        headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
        statuses = [
            (await client.post("/api/auth/mfa", json={"code": "000000"}, headers=headers)).status_code
            for _ in range(6)
        ]
        assert statuses == [401] * 5 + [429]
        # the right code has to wait too
        right = await client.post("/api/auth/mfa", json={"code": pyotp.TOTP(secret).now()}, headers=headers)
        assert right.status_code == 429
    async with client_for(b.slug) as client:
        signed = await login(client, user.email, PASSWORD)
        assert signed.status_code == 200 and signed.json()["mfa_required"] is True
    assert len(await events(db, a, "locked_out")) == 1


async def unlock_mails(db, tenant):
    from core.messaging.models import OutgoingMessage

    with tenant_scope(tenant.id):
        async with db.session() as session:
            query = select(OutgoingMessage).where(OutgoingMessage.purpose == "core.signin_unlock")
            return list(await session.scalars(query))


def form_token(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


async def test_the_account_holder_is_mailed_a_single_use_link_that_lets_their_browser_in(
    db, make_tenant, make_user, client_for
):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with client_for(tenant.slug) as attacker:
        assert [(await login(attacker, user.email, "wrong")).status_code for _ in range(5)] == [401] * 5
        assert (await login(attacker, user.email, "wrong")).status_code == 429
    [mail] = await unlock_mails(db, tenant)  # one e-mail, however many attempts follow
    assert mail.recipient == user.email and mail.channel == "email" and mail.status == "pending"
    assert f"://{tenant.slug}." in mail.body
    path = re.search(r"https?://\S+?(/account/unlock/\S+)", mail.body).group(1)
    async with client_for(tenant.slug) as holder:
        shown = await holder.get(path)
        assert shown.status_code == 200 and "Continue to sign in" in shown.text
        assert (await holder.get(path)).status_code == 200  # looking does not use it up
        opened = await holder.post(path, data={"_csrf": form_token(shown.text)}, follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/login?reason=unlocked"
        form = await holder.get("/login?reason=unlocked")
        assert "without waiting" in form.text
        signed = await holder.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "_csrf": form_token(form.text)},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        assert (await holder.get("/api/auth/me")).status_code == 200
        assert (await holder.get(path)).status_code == 410  # used
    async with client_for(tenant.slug) as attacker:
        # the shared counter still waits: the link helped only the holder's browser
        assert (await login(attacker, user.email, PASSWORD)).status_code == 429
    [unlocked] = await events(db, tenant, "signin_unlocked")
    assert unlocked.actor_user_id == user.id


async def test_unlock_links_are_refused_when_forged_expired_or_at_another_clinic(
    settings, redis, make_tenant, make_user, client_for
):
    from core.auth import unlock

    tenant, other = await make_tenant(), await make_tenant()
    user = await make_user(tenant)
    token = await unlock.new_link(
        redis, settings.secret_key, user_id=user.id, tenant_id=tenant.id, account=counter(tenant, user.email)
    )
    expired = unlock.make_token(
        settings.secret_key, user_id=user.id, tenant_id=tenant.id, nonce="n", expires_at=time.time() - 1
    )
    async with client_for(other.slug) as client:
        assert (await client.get(f"/account/unlock/{token}")).status_code == 404
    async with client_for(tenant.slug) as client:
        assert (await client.get(f"/account/unlock/{token[:-2]}xx")).status_code == 404
        assert (await client.get(f"/account/unlock/{expired}")).status_code == 410
        assert (await client.get(f"/account/unlock/{token}")).status_code == 200


async def test_the_sign_in_form_says_how_long_to_wait(make_tenant, make_user, client_for):
    tenant = await make_tenant()
    user = await make_user(tenant)
    async with client_for(tenant.slug) as client:
        token = form_token((await client.get("/login")).text)

        async def post(password):
            form = {"email": user.email, "password": password, "_csrf": token}
            return await client.post("/login", data=form, follow_redirects=False)

        assert [(await post("wrong")).status_code for _ in range(5)] == [401] * 5
        page = await post(PASSWORD)
    assert page.status_code == 429
    assert 'role="alert"' in page.text and "Wait " in page.text and "e-mailed you a link" in page.text
    assert f'value="{user.email}"' in page.text  # what was typed is kept
