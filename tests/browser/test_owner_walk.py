"""An owner's walk in a real browser: sign in, invite a user on /users and see the
invitation waiting, enable a plugin on the settings page and see its navigation entry
appear."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.tenancy import tenant_scope
from core.tenancy.models import TenantPlugin

PASSWORD = "correct horse battery"


async def test_owner_invites_a_user_and_enables_a_plugin(
    db, make_tenant, make_user, live_server, browser_page
):
    tenant = await make_tenant(name="Owner Walk Clinic")
    owner = await make_user(tenant, roles=("owner",), password=PASSWORD, name="Olive Owner")
    page = browser_page
    base = f"http://{tenant.slug}.localhost:{live_server}"

    # Sign in through the form.
    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail address").fill(owner.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/$"))
    main_nav = page.get_by_role("navigation", name="Main")
    await main_nav.get_by_role("link", name="Settings").wait_for()
    assert await main_nav.get_by_role("link", name="Notes").count() == 0

    # Invite a user on /users: the invitation waits for them; its link went by e-mail.
    await main_nav.get_by_role("link", name="Users").click()
    await page.wait_for_url(re.compile(r"/users$"))
    await page.get_by_label("E-mail").fill("new.hire@example.test")
    await page.get_by_label("Name", exact=True).fill("Nell Newhire")
    invite = page.locator('form[action="/users/invite"]')
    await invite.get_by_label("front_desk").check()
    await page.get_by_role("button", name="Invite").click()
    await page.get_by_role("heading", name="Nell Newhire was invited").wait_for()
    row = page.get_by_role("row").filter(has_text="new.hire@example.test")
    await row.wait_for()
    assert "Nell Newhire" in await row.inner_text()
    assert "waiting to be accepted" in await page.locator("table.invitations").inner_text()
    assert not re.search(r"/invitations/[A-Za-z0-9_-]+\.", await page.content())  # no link shown

    # Settings -> Plugins: enable the sample plugin with a configuration.
    await main_nav.get_by_role("link", name="Settings").click()
    await page.wait_for_url(re.compile(r"/settings$"))
    await page.get_by_role("navigation", name="Settings sections").get_by_role("link", name="Plugins").click()
    await page.wait_for_url(re.compile(r"/settings/plugins$"))
    plugin = page.locator("#plugin-sample")
    assert "Not enabled" in await plugin.inner_text()

    # A configuration the plugin's schema refuses is answered with a readable error...
    await plugin.get_by_text("Configuration (JSON, optional)").click()
    await plugin.get_by_label("Configuration of Sample notes").fill('{"greeting": 42}')
    await plugin.get_by_role("button", name="Enable Sample notes").click()
    error = page.locator("#plugin-sample").get_by_role("alert")
    await error.wait_for()
    assert "invalid configuration" in await error.inner_text()
    assert await page.get_by_role("navigation", name="Main").get_by_role("link", name="Notes").count() == 0

    # ...a valid one enables it, and its entry appears in the main navigation.
    plugin = page.locator("#plugin-sample")
    await plugin.get_by_label("Configuration of Sample notes").fill('{"greeting": "Hello"}')
    await plugin.get_by_role("button", name="Enable Sample notes").click()
    await page.get_by_role("status").filter(has_text="Sample notes is enabled.").wait_for()
    notes = page.get_by_role("navigation", name="Main").get_by_role("link", name="Notes")
    await notes.wait_for()
    await notes.click()
    await page.wait_for_url(re.compile(r"/sample/notes$"))
    assert await page.locator("h1").inner_text() == "Notes"

    with tenant_scope(tenant.id):
        async with db.session() as session:
            row = await session.scalar(select(TenantPlugin).where(TenantPlugin.plugin == "sample"))
    assert row is not None and row.enabled and row.config == {"greeting": "Hello"}
