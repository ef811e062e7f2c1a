"""The escalation rule: a session or token never grants roles or permissions it does not
itself hold.

The general test derives everything from the running app: the roles (``authz.roles``),
the token scopes (every permission object), what each role holds (the casbin policy;
the owner holds everything) and the routes that can grant a role (every route guarded by
``core:users write``, the permission that governs memberships). For every role (a
session) and every scope (an owner's token limited to it), it tries every grant route with
every role and checks the answer and the database: a grant succeeds exactly when the
granted role's permissions are within what the caller holds. The specific findings have
their own tests below, each seen to fail without the rule.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from core.auth.sessions import COOKIE_NAME
from core.auth.tokens import create_token
from core.tenancy import tenant_scope
from tests.message_servers import no_unsent_messages_left  # noqa: F401 - used by name
from tests.test_route_guards import tessera_guards, walk

pytestmark = pytest.mark.usefixtures("no_unsent_messages_left")

GRANT_GUARD = "core:users write"
#: grant routes this test drives, by (method, path)
INVITE_API = ("POST", "/api/users")
CHANGE_API = ("PATCH", "/api/users/{user_id:uuid}")
INVITE_FORM = ("POST", "/users/invite")
CHANGE_FORM = ("POST", "/users/{user_id:uuid}")
DRIVEN = {INVITE_API, CHANGE_API, INVITE_FORM, CHANGE_FORM}
#: routes under the same guard that take rights away or call things off, never grant
NOT_GRANTING = {
    ("POST", "/api/invitations/{invitation_id:uuid}/revoke"),
    ("POST", "/users/invitations/{invitation_id:uuid}/revoke"),
}


def guarded_routes(app, guard: str) -> set[tuple[str, str]]:
    found = set()
    for route, handler in walk(app):
        if guard in tessera_guards(handler):
            found |= {(method, route.path) for method in handler.http_methods}
    return found


def test_every_route_that_can_grant_a_role_is_driven_here(app):
    """A new route under ``core:users write`` fails this until the test below drives it
    (or it is listed as one that never grants)."""
    assert guarded_routes(app, GRANT_GUARD) == DRIVEN | NOT_GRANTING


def role_permissions(app, role: str) -> frozenset[tuple[str, str]]:
    authz = app.state.authz
    everything = frozenset((p.object, a) for p in app.state.permissions for a in p.actions)
    if role == "owner":
        return everything
    return frozenset((obj, act) for r, obj, act in authz.enforcer.get_policy() if r == role)


async def _sql(owner_engine, statement: str, **params) -> list:
    async with owner_engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


class Caller:
    """A signed-in session of one role, or an owner's token limited to one scope."""

    def __init__(self, label, client, held, *, csrf=None, is_token=False):
        self.label, self.client, self.held, self.is_token = label, client, held, is_token
        if csrf:
            client.headers["X-CSRF-Token"] = csrf


async def test_no_role_or_token_scope_can_grant_more_than_it_holds(
    app, db, make_tenant, make_user, client_as, client_for, session_store, owner_engine
):
    authz = app.state.authz
    tenant = await make_tenant(plugins=("sample",))
    owner = await make_user(tenant, roles=("owner",))
    roles = list(authz.roles)
    scopes = sorted({p.object for p in app.state.permissions})
    assert "core:users" in scopes and "owner" in roles and len(roles) >= 5
    # the member whose roles the change routes try to widen: it starts with the weakest role
    base = min(roles, key=lambda r: (len(role_permissions(app, r)), r))
    target = await make_user(tenant, roles=(base,))

    callers: list[tuple[str, str, frozenset, str | None]] = []  # (kind, label, held, credential)
    for role in roles:
        user = owner if role == "owner" else await make_user(tenant, roles=(role,))
        callers.append(("session", f"session:{role}", role_permissions(app, role), str(user.id)))
    with tenant_scope(tenant.id):
        async with db.session() as session:
            for scope in [*scopes, None]:
                token, _ = await create_token(
                    session, user_id=owner.id, name="probe", scopes=[scope] if scope else []
                )
                held = frozenset(
                    (o, a) for o, a in role_permissions(app, "owner") if scope is None or o == scope
                )
                callers.append(("token", f"token:{scope or 'unscoped'}", held, token))
            await session.commit()

    async def reset_target(roles_now: list[str], status: str = "active") -> None:
        await _sql(
            owner_engine,
            "UPDATE memberships SET roles = :r, status = :s WHERE tenant_id = :t AND user_id = :u",
            r=roles_now,
            s=status,
            t=tenant.id,
            u=target.id,
        )

    async def target_state() -> tuple[list[str], str]:
        [row] = await _sql(
            owner_engine,
            "SELECT roles, status FROM memberships WHERE tenant_id = :t AND user_id = :u",
            t=tenant.id,
            u=target.id,
        )
        return sorted(row.roles), row.status

    async def invited(email: str) -> bool:
        rows = await _sql(
            owner_engine,
            "SELECT 1 FROM invitations WHERE tenant_id = :t AND lower(email) = lower(:e) AND status = 'pending'",
            t=tenant.id,
            e=email,
        )
        return bool(rows)

    wrong: list[str] = []
    attempts = 0
    for kind, label, held, credential in callers:
        if kind == "session":
            client = await client_as(tenant, await _user(db, credential))
            client.headers["X-CSRF-Token"] = (
                await session_store.get(client.cookies.get(COOKIE_NAME))
            ).csrf_token
        else:
            client = client_for(tenant.slug)
            client.headers["Authorization"] = f"Bearer {credential}"
        may_write = ("core:users", "write") in held
        async with client:
            for role in roles:
                grants = role_permissions(app, role) <= held
                # invite, by the API and by the form
                for route in (INVITE_API, INVITE_FORM):
                    email = f"probe-{uuid.uuid4().hex[:10]}@example.test"
                    if route == INVITE_API:
                        answer = await client.post(
                            "/api/users", json={"email": email, "name": "P", "roles": [role]}
                        )
                        ok_status = 202
                    else:
                        answer = await client.post(
                            "/users/invite", data={"email": email, "name": "P", "roles": [role]}
                        )
                        ok_status = 200
                    expected = may_write and grants
                    attempts += 1
                    made = await invited(email)
                    if (
                        (answer.status_code == ok_status) != expected
                        or made != expected
                        or (not expected and answer.status_code != 403)
                    ):
                        wrong.append(
                            f"{label} {route} role {role}: {answer.status_code}, invitation made: {made}"
                        )
                # widen the target's roles, and reactivate a member holding the role
                for route in (CHANGE_API, CHANGE_FORM):
                    for action in ("add role", "reactivate"):
                        if action == "add role":
                            await reset_target([base])
                            wanted = sorted({base, role})
                            expected = may_write and (role == base or grants)
                            if route == CHANGE_API:
                                answer = await client.patch(f"/api/users/{target.id}", json={"roles": wanted})
                            else:
                                answer = await client.post(
                                    f"/users/{target.id}",
                                    data={"set_roles": "1", "roles": wanted},
                                    follow_redirects=False,
                                )
                            before, after_ok = ([base], "active"), (wanted, "active")
                        else:
                            await reset_target([role], "deactivated")
                            expected = may_write and grants
                            if route == CHANGE_API:
                                answer = await client.patch(
                                    f"/api/users/{target.id}", json={"status": "active"}
                                )
                            else:
                                answer = await client.post(
                                    f"/users/{target.id}", data={"status": "active"}, follow_redirects=False
                                )
                            before, after_ok = ([role], "deactivated"), ([role], "active")
                        ok_status = 200 if route == CHANGE_API else 303
                        attempts += 1
                        state = await target_state()
                        if (
                            (answer.status_code == ok_status) != expected
                            or state != (after_ok if expected else before)
                            or (not expected and answer.status_code != 403)
                        ):
                            wrong.append(
                                f"{label} {route} {action} {role}: {answer.status_code}, now {state}"
                            )
            # and no token mints another token (a broader scope or any at all)
            if kind == "token":
                minted = await client.post("/api/account/tokens", json={"name": "wider", "scopes": []})
                attempts += 1
                if minted.status_code != 403:
                    wrong.append(f"{label} minted a token: {minted.status_code}")
    await reset_target([base])
    assert attempts >= len(callers) * len(roles) * 6
    assert not wrong, "\n".join(wrong)


async def _user(db, user_id: str):
    from core.auth.models import User

    async with db.session() as session:
        return await session.get(User, uuid.UUID(user_id))


# -- the specific findings ---------------------------------------------------------------------


@pytest.fixture
async def scoped_token(db):
    async def make(tenant, user, scopes):
        with tenant_scope(tenant.id):
            async with db.session() as session:
                token, _ = await create_token(session, user_id=user.id, name="scoped", scopes=scopes)
                await session.commit()
        return token

    return make


async def test_a_users_scoped_token_cannot_invite_an_owner(
    make_tenant, make_user, client_for, scoped_token, owner_engine
):
    """The finding: a ``core:users`` token invited a new owner and got the set-password link."""
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    token = await scoped_token(tenant, owner, ["core:users"])
    async with client_for(tenant.slug) as client:
        answer = await client.post(
            "/api/users",
            json={"email": "takeover@example.test", "name": "T", "roles": ["owner"]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 403, answer.text
    assert "may not grant the role owner" in answer.json()["detail"]
    assert "setup" not in answer.text and "/invitations/" not in answer.text
    assert not await _sql(owner_engine, "SELECT 1 FROM invitations WHERE email = 'takeover@example.test'")


async def test_a_users_scoped_token_cannot_make_a_member_owner_or_reactivate_one(
    make_tenant, make_user, client_for, scoped_token, owner_engine
):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    accomplice = await make_user(tenant, roles=("front_desk",))
    old_owner = await make_user(tenant, roles=("owner",), status="deactivated")
    token = await scoped_token(tenant, owner, ["core:users"])
    headers = {"Authorization": f"Bearer {token}"}
    async with client_for(tenant.slug) as client:
        promote = await client.patch(
            f"/api/users/{accomplice.id}", json={"roles": ["front_desk", "owner"]}, headers=headers
        )
        assert promote.status_code == 403, promote.text
        revive = await client.patch(f"/api/users/{old_owner.id}", json={"status": "active"}, headers=headers)
        assert revive.status_code == 403, revive.text
        # what it holds it may still do: take a role away
        lower = await client.patch(
            f"/api/users/{accomplice.id}", json={"roles": ["front_desk"]}, headers=headers
        )
        assert lower.status_code == 200
    rows = await _sql(
        owner_engine,
        "SELECT user_id, roles, status FROM memberships WHERE tenant_id = :t",
        t=tenant.id,
    )
    state = {row.user_id: (sorted(row.roles), row.status) for row in rows}
    assert state[accomplice.id] == (["front_desk"], "active")
    assert state[old_owner.id] == (["owner"], "deactivated")


async def test_a_session_may_grant_what_it_holds(make_tenant, make_user, client_as, session_store):
    """The rule does not get in an owner's way (the control for the refusals above)."""
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    member = await make_user(tenant, roles=("front_desk",))
    client = await client_as(tenant, owner)
    client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
    async with client:
        made = await client.patch(f"/api/users/{member.id}", json={"roles": ["front_desk", "owner"]})
        assert made.status_code == 200 and made.json()["roles"] == ["front_desk", "owner"]
