"""Invitations (issue: inviting by e-mail reached into other clinics' accounts).

Inviting an address makes a pending invitation and e-mails its link to that address
through ``core.messaging``; the inviting clinic gets the same answer whether or not an
account exists and learns nothing about it; the membership is made only when the invitee
accepts, signed in with their own password (or creating the account). Real PostgreSQL,
Redis and the real ``core.send_message`` job (recording transport)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text

from core.auth.models import Membership, User
from core.auth.passwords import verify_password
from core.auth.sessions import COOKIE_NAME
from core.authz.models import Invitation
from core.messaging.models import OutgoingMessage
from core.messaging.recorded import recorded_messages
from core.messaging.sending import send_message
from core.tenancy import tenant_scope
from tests.message_servers import no_unsent_messages_left  # noqa: F401 - used by name

pytestmark = pytest.mark.usefixtures("no_unsent_messages_left")

PASSWORD = "correct horse battery"
#: an invitation link: /invitations/<signed token> (the token holds a dot)
LINK = re.compile(r"/invitations/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@pytest.fixture
def signed_in(client_as, session_store):
    async def make(tenant, user):
        client = await client_as(tenant, user)
        client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
        return client

    return make


@pytest.fixture
def mailbox(db, settings, tmp_path):
    """``await mailbox(tenant)``: run the clinic's queued messages through the real job
    (recording transport) and return what was recorded, newest first."""

    async def read(tenant) -> list[dict]:
        ctx = {"db": db, "settings": settings.with_(data_dir=tmp_path, smtp_url="", sms_url=""), "job_try": 1}
        with tenant_scope(tenant.id):
            async with db.session() as session:
                queued = list(
                    await session.scalars(
                        select(OutgoingMessage.id).where(OutgoingMessage.status == "pending")
                    )
                )
        for message_id in queued:
            await send_message.coroutine(ctx, tenant_id=str(tenant.id), message_id=str(message_id))
        return recorded_messages(tmp_path / "messages", tenant.id)

    return read


def link_in(message: dict) -> str:
    return urlsplit(re.search(r"(http://\S+/invitations/\S+)", message["text"]).group(1)).path


async def members_of(db, tenant) -> dict[str, list[str]]:
    with tenant_scope(tenant.id):
        async with db.session() as session:
            rows = await session.execute(select(User.email, Membership.roles).join(Membership))
            return {email: sorted(roles) for email, roles in rows}


def comparable(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k not in ("invitation_id", "expires_at")}


async def test_inviting_an_existing_account_tells_the_clinic_nothing_and_makes_no_member(
    db, make_tenant, make_user, signed_in, mailbox
):
    """The finding: clinic A invited clinic B's owner and got 201, a membership without
    consent, the account's real name and that it has a password."""
    clinic_a, clinic_b = await make_tenant(), await make_tenant()
    owner_a = await make_user(clinic_a, roles=("owner",))
    owner_b = await make_user(clinic_b, roles=("owner",), name="Real Name Of B")
    async with await signed_in(clinic_a, owner_a) as client:
        existing = await client.post(
            "/api/users", json={"email": owner_b.email, "name": "Typed By A", "roles": ["clinician"]}
        )
        fresh = await client.post(
            "/api/users",
            json={"email": "nobody-yet@example.test", "name": "Typed By A", "roles": ["clinician"]},
        )
        assert existing.status_code == fresh.status_code == 202
        # the same answer either way, apart from the address typed and the invitation's id
        assert comparable(existing.json()) | {"email": None} == comparable(fresh.json()) | {"email": None}
        assert "Real Name Of B" not in existing.text and "password" not in existing.text
        assert not LINK.search(existing.text) and "setup" not in existing.text
        listed = (await client.get("/api/users")).json()
        assert [u["email"] for u in listed] == [owner_a.email]
        pending = (await client.get("/api/invitations")).json()
        assert {i["email"] for i in pending} == {owner_b.email, "nobody-yet@example.test"}
        assert "Real Name Of B" not in str(pending)
        page = await client.get("/users")
        assert "Real Name Of B" not in page.text and not LINK.search(page.text)
    assert owner_b.email not in await members_of(db, clinic_a)
    # the link went to the invitee's mailbox
    sent = {m["to"]: m for m in await mailbox(clinic_a)}
    assert set(sent) == {owner_b.email, "nobody-yet@example.test"}
    assert link_in(sent[owner_b.email]).startswith("/invitations/")


async def test_the_invitee_accepts_signed_in_with_their_own_password(
    db, make_tenant, make_user, signed_in, mailbox, client_for
):
    clinic_a, clinic_b = await make_tenant(name="Clinic A"), await make_tenant()
    owner_a = await make_user(clinic_a, roles=("owner",))
    person = await make_user(clinic_b, roles=("biller",), name="Bea Biller")
    async with await signed_in(clinic_a, owner_a) as client:
        assert (
            await client.post("/api/users", json={"email": person.email, "name": "B", "roles": ["biller"]})
        ).status_code == 202
    [message] = await mailbox(clinic_a)
    path = link_in(message)
    async with client_for(clinic_a.slug) as anon:
        form = await anon.get(path)
        assert form.status_code == 200 and "Sign in with your own password" in form.text
        assert 'name="name"' not in form.text  # an existing account's name is not asked for or shown
        wrong = await anon.post(path, data={"password": "not the password"})
        assert wrong.status_code == 422 and "not correct" in wrong.text
        assert person.email not in await members_of(db, clinic_a)
        done = await anon.post(path, data={"password": PASSWORD})
        assert done.status_code == 200 and "you are now a user of Clinic A" in done.text
        # spent: the link is dead
        assert (await anon.get(path)).status_code == 404
        assert (await anon.post(path, data={"password": PASSWORD})).status_code == 404
    assert (await members_of(db, clinic_a))[person.email] == ["biller"]
    # the account itself is untouched: same name and password, still a member of B
    async with db.session() as session:
        user = await session.get(User, person.id)
        assert user.display_name == "Bea Biller" and verify_password(user.password_hash, PASSWORD)
    assert person.email in await members_of(db, clinic_b)


async def test_a_new_address_creates_its_account_on_accepting(
    db, make_tenant, make_user, signed_in, mailbox, client_for
):
    clinic = await make_tenant()
    owner = await make_user(clinic, roles=("owner",))
    email = f"nurse-{clinic.slug}@example.test"
    async with await signed_in(clinic, owner) as client:
        await client.post("/users/invite", data={"email": email, "name": "Nurse Joy", "roles": ["clinician"]})
    async with db.session() as session:
        assert await session.scalar(select(User).where(User.email == email)) is None  # no account yet
    [message] = await mailbox(clinic)
    path = link_in(message)
    async with client_for(clinic.slug) as anon:
        form = await anon.get(path)
        assert form.status_code == 200 and 'value="Nurse Joy"' in form.text
        weak = await anon.post(path, data={"name": "Joy", "password": "short", "confirm": "short"})
        assert weak.status_code == 422 and "at least 12 characters" in weak.text
        differ = await anon.post(path, data={"name": "Joy", "password": "a" * 15, "confirm": "b" * 15})
        assert differ.status_code == 422 and "differ" in differ.text
        done = await anon.post(
            path,
            data={"name": "Joy Nurse", "password": "a long enough secret", "confirm": "a long enough secret"},
        )
        assert done.status_code == 200, done.text
    assert (await members_of(db, clinic))[email] == ["clinician"]
    async with db.session() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user.display_name == "Joy Nurse" and verify_password(
            user.password_hash, "a long enough secret"
        )


async def test_an_invitation_link_works_only_on_its_clinic_until_replaced_or_revoked(
    db, make_tenant, make_user, signed_in, mailbox, client_for
):
    clinic, other = await make_tenant(), await make_tenant()
    owner = await make_user(clinic, roles=("owner",))
    email = f"x-{clinic.slug}@example.test"
    async with await signed_in(clinic, owner) as client:
        await client.post("/api/users", json={"email": email, "name": "X", "roles": ["front_desk"]})
        first = link_in((await mailbox(clinic))[0])
        # inviting the address again replaces the invitation: the first link dies
        again = await client.post("/api/users", json={"email": email, "name": "X", "roles": ["biller"]})
        second = link_in((await mailbox(clinic))[0])
        assert first != second
    async with client_for(clinic.slug) as anon:
        assert (await anon.get(first)).status_code == 404
        assert (await anon.get(second)).status_code == 200
        assert (await anon.get(second[:-3] + "abc")).status_code == 404  # tampered
        assert (await anon.get("/invitations/garbage")).status_code == 404
    async with client_for(other.slug) as anon:
        assert (await anon.get(second)).status_code == 404  # another clinic's host
    async with await signed_in(clinic, owner) as client:
        revoked = await client.post(f"/api/invitations/{again.json()['invitation_id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        assert (await client.get("/api/invitations")).json() == []
        # the screen revokes too
        await client.post("/api/users", json={"email": "other-" + email, "name": "Y", "roles": ["biller"]})
        [pending] = (await client.get("/api/invitations")).json()
        screen = await client.get("/users")
        assert f"Revoke invitation to other-{email}" in screen.text
        gone = await client.post(
            f"/users/invitations/{pending['invitation_id']}/revoke", follow_redirects=False
        )
        assert gone.status_code == 303 and (await client.get("/api/invitations")).json() == []
        # a member is not invited again; the clinic knows its own members
        dup = await client.post("/api/users", json={"email": owner.email, "name": "O", "roles": ["biller"]})
        assert dup.status_code == 409
    async with client_for(clinic.slug) as anon:
        assert (await anon.get(second)).status_code == 404


async def test_invitations_are_isolated_between_clinics(db, make_tenant, make_user, signed_in, owner_engine):
    clinic, other = await make_tenant(), await make_tenant()
    owner = await make_user(clinic, roles=("owner",))
    other_owner = await make_user(other, roles=("owner",))
    async with await signed_in(clinic, owner) as client:
        made = await client.post(
            "/api/users", json={"email": "iso@example.test", "name": "I", "roles": ["biller"]}
        )
    invitation_id = made.json()["invitation_id"]
    async with await signed_in(other, other_owner) as client:
        assert (await client.get("/api/invitations")).json() == []
        assert (await client.post(f"/api/invitations/{invitation_id}/revoke")).status_code == 404
    with tenant_scope(other.id):
        async with db.session() as session:
            assert await session.scalar(select(Invitation).where(Invitation.id == invitation_id)) is None
            # row-level security, below the ORM's filter
            assert (await session.execute(text("SELECT count(*) FROM invitations"))).scalar() == 0
    async with owner_engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM invitations WHERE id = :i"), {"i": invitation_id})
    assert status == "pending"


async def test_an_account_with_a_second_factor_accepts_only_with_its_code(
    db, make_tenant, make_user, signed_in, mailbox, client_for
):
    import pyotp

    from core.auth.service import enable_mfa

    clinic, home = await make_tenant(), await make_tenant()
    owner = await make_user(clinic, roles=("owner",))
    person = await make_user(home, roles=("clinician",))
    secret = pyotp.random_base32()
    await enable_mfa(db, person.id, secret)
    async with await signed_in(clinic, owner) as client:
        await client.post("/api/users", json={"email": person.email, "name": "C", "roles": ["clinician"]})
    path = link_in((await mailbox(clinic))[0])
    async with client_for(clinic.slug) as anon:
        form = await anon.get(path)
        assert 'name="code"' in form.text
        current = pyotp.TOTP(secret).now()
        wrong_code = f"{(int(current) + 1) % 1_000_000:06d}"
        without = await anon.post(path, data={"password": PASSWORD, "code": wrong_code})
        assert without.status_code == 422
        assert person.email not in await members_of(db, clinic)
        done = await anon.post(path, data={"password": PASSWORD, "code": pyotp.TOTP(secret).now()})
        assert done.status_code == 200, done.text
    assert (await members_of(db, clinic))[person.email] == ["clinician"]
