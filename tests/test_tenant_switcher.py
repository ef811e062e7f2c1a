"""The tenant switcher: a user with memberships in several clinics sees the others (and
only those) in the header menu, each linking to that clinic's sign-in page."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import func, update

from core.auth.models import Membership, User
from core.tenancy import tenant_scope


async def _join(db, tenant, user, *, status="active"):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            session.add(Membership(user_id=user.id, roles=["biller"], status=status))
            await session.commit()


async def test_user_of_two_clinics_sees_the_other(db, make_tenant, make_user, client_as):
    riverside = await make_tenant(name="Riverside Rehab")
    northside = await make_tenant(name="Northside Counseling")
    elsewhere = await make_tenant(name="Elsewhere Clinic")  # the user is not a member
    former = await make_tenant(name="Former Clinic")  # membership deactivated
    biller = await make_user(riverside, roles=("biller",), email="Billie.Biller@example.test")
    await _join(db, northside, biller)
    await _join(db, former, biller, status="deactivated")
    await make_user(elsewhere, roles=("owner",))

    async with await client_as(riverside, biller) as client:
        home = await client.get("/")
        assert 'hx-get="/account/clinics/menu"' in home.text  # the header loads the menu
        menu = await client.get("/account/clinics/menu")
        api = (await client.get("/api/account/clinics")).json()
        full = await client.get("/account/clinics")
    assert menu.status_code == 200
    assert "Switch clinic" in menu.text and "Northside Counseling" in menu.text
    link = f"http://{northside.slug}.localhost/login?email={quote('Billie.Biller@example.test')}"
    assert f'href="{link}"' in menu.text.replace("&amp;", "&")
    for absent in ("Riverside Rehab", "Elsewhere Clinic", "Former Clinic"):
        assert absent not in menu.text
    assert api == {"items": [{"slug": northside.slug, "name": "Northside Counseling", "sign_in_url": link}]}
    assert full.status_code == 200 and "Northside Counseling" in full.text

    # from the other side, the first clinic is listed
    async with await client_as(northside, biller) as client:
        other = (await client.get("/api/account/clinics")).json()
    assert [c["name"] for c in other["items"]] == ["Riverside Rehab"]


async def test_user_of_one_clinic_sees_no_switcher(make_tenant, make_user, client_as):
    tenant = await make_tenant(name="Only Clinic")
    other = await make_tenant(name="Someone Else's Clinic")
    await make_user(other, roles=("owner",))
    user = await make_user(tenant, roles=("front_desk",))
    async with await client_as(tenant, user) as client:
        menu = await client.get("/account/clinics/menu")
        full = await client.get("/account/clinics")
        api = (await client.get("/api/account/clinics")).json()
    assert menu.status_code == 200 and menu.text.strip() == ""
    assert "You belong only to this clinic" in full.text
    assert "Someone Else" not in full.text
    assert api == {"items": []}


async def test_switcher_needs_sign_in_and_a_clinic(make_tenant, client_for):
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        assert (await client.get("/api/account/clinics")).status_code == 401
        assert (await client.get("/account/clinics/menu", follow_redirects=False)).status_code == 303
        assert (await client.get("/account/clinics", follow_redirects=False)).status_code == 303
    async with client_for(None) as client:  # the platform host has no clinic switcher
        assert (await client.get("/api/account/clinics")).status_code == 401


async def test_second_factor_page_does_not_load_the_menu(db, make_tenant, make_user, client_as):
    """The header asks for the menu only after the second factor (otherwise the menu's
    sign-in answer would send the second-factor page to itself, again and again)."""
    first, second = await make_tenant(), await make_tenant(name="Second Clinic")
    user = await make_user(first, roles=("clinician",))
    await _join(db, second, user)
    async with db.session() as session:
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(mfa_secret="JBSWY3DPEHPK3PXP", mfa_enabled_at=func.now())
        )
        await session.commit()
    async with await client_as(first, user, mfa_verified=False) as client:
        mfa = await client.get("/mfa")
        assert mfa.status_code == 200 and "/account/clinics/menu" not in mfa.text
        assert (await client.get("/api/account/clinics")).status_code == 401
    async with await client_as(first, user, mfa_verified=True) as client:
        assert "/account/clinics/menu" in (await client.get("/")).text
        assert "Second Clinic" in (await client.get("/account/clinics/menu")).text
