"""The main navigation shows each entry only to those who may open it."""

from __future__ import annotations


async def test_navigation_follows_permissions(make_tenant, make_user, client_as):
    tenant = await make_tenant(plugins=("sample",))
    owner = await make_user(tenant, roles=("owner",))
    desk = await make_user(tenant, roles=("front_desk",))
    async with await client_as(tenant, owner) as client:
        owner_home = (await client.get("/")).text
    async with await client_as(tenant, desk) as client:
        desk_home = (await client.get("/")).text
    for link in ('href="/users"', 'href="/audit"', 'href="/settings"', 'href="/sample/notes"'):
        assert link in owner_home
    # the front desk holds none of users, audit, settings, or sample:notes
    for link in ('href="/users"', 'href="/audit"', 'href="/settings"', 'href="/sample/notes"'):
        assert link not in desk_home
    assert 'href="/account/sessions"' in desk_home


async def test_signed_out_pages_show_no_navigation(make_tenant, client_for):
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        login = await client.get("/login")
    assert login.status_code == 200
    assert 'aria-label="Main"' not in login.text
