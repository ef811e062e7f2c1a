"""A clinician's day in a real browser: sign in, second factor, an htmx form post (with
its CSRF header), and automatic logoff after the clinic's idle period."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
from sqlalchemy import select, update

from core.auth.models import User
from core.tenancy import tenant_scope
from core.tenancy.models import Tenant
from tests.sample_plugin.models import Note

PASSWORD = "correct horse battery"
IDLE_SECONDS = 6


async def test_sign_in_mfa_htmx_post_and_idle_logoff(db, make_tenant, make_user, live_server, browser_page):
    tenant = await make_tenant(plugins=("sample",), name="Browser Clinic")
    user = await make_user(tenant, roles=("clinician",), password=PASSWORD, name="Dana Clinician")
    secret = pyotp.random_base32()
    async with db.session() as session:
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(mfa_secret=secret, mfa_enabled_at=dt.datetime.now(dt.UTC))
        )
        await session.execute(
            update(Tenant).where(Tenant.id == tenant.id).values(session_idle_seconds=IDLE_SECONDS)
        )
        await session.commit()

    page = browser_page
    base = f"http://{tenant.slug}.localhost:{live_server}"

    # 1. Signed out: the notes page sends the browser to sign in.
    await page.goto(f"{base}/sample/notes")
    assert re.search(r"/login\?next=%2Fsample%2Fnotes", page.url)

    # A wrong password is refused with a message, not a crash.
    await page.get_by_label("E-mail address").fill(user.email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("alert").wait_for()
    assert "/login" in page.url

    # 2. Password, then the second factor.
    await page.get_by_label("E-mail address").fill(user.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/mfa"))
    await page.get_by_label(re.compile("code", re.I)).fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(re.compile(r"/sample/notes$"))
    assert await page.locator("h1").inner_text() == "Notes"

    # 3. An htmx form post: the list updates in place (no page load), CSRF header sent.
    await page.evaluate("window.__sameDocument = true")
    await page.get_by_label("New note").fill("Patient called back")
    await page.get_by_role("button", name="Add note").click()
    await page.locator("#notes li", has_text="Patient called back").wait_for()
    assert await page.evaluate("window.__sameDocument") is True
    with tenant_scope(tenant.id):
        async with db.session() as session:
            assert list(await session.scalars(select(Note.body))) == ["Patient called back"]

    # 4. Idle: after the clinic's idle period the browser is signed out on its own...
    await page.wait_for_url(re.compile(r"/login\?reason=session_idle"), timeout=(IDLE_SECONDS + 10) * 1000)
    # ...and the server agrees: the old session no longer opens the page.
    await page.goto(f"{base}/sample/notes")
    assert "/login" in page.url
