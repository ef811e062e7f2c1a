"""``tessera users`` and ``tessera tokens``, run as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from core.auth.models import PlatformOperator, User
from core.auth.passwords import verify_password


def tessera(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin if stdin is not None else "",
        env=dict(os.environ),
    )


def one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tessera: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


async def _user(db, email):
    async with db.session() as session:
        return await session.scalar(select(User).where(User.email == email))


async def test_users_create_list_and_tokens(db, make_tenant, client_for):
    a, b = await make_tenant(), await make_tenant()
    email = f"cli-{a.slug}@example.test"
    piped = tessera(
        "users",
        "create",
        "--tenant",
        a.slug,
        "--email",
        email,
        "--role",
        "owner",
        "--role",
        "biller",
        "--name",
        "Dr Cli",
        stdin="a long enough passphrase\n",
    )
    assert piped.returncode == 0, piped.stderr
    assert "created user" in piped.stdout and "password (shown once)" not in piped.stdout
    user = await _user(db, email)
    assert user.display_name == "Dr Cli" and verify_password(user.password_hash, "a long enough passphrase")
    # an existing user joins a second clinic; the password is untouched
    joined = tessera("users", "create", "--tenant", b.slug, "--email", email.upper(), "--role", "clinician")
    assert joined.returncode == 0 and "existing user" in joined.stdout, joined.stderr
    again = tessera("users", "create", "--tenant", b.slug, "--email", email, "--role", "clinician")
    one_line_error(again, "already a member")
    listed = tessera("users", "list", "--tenant", a.slug)
    assert email in listed.stdout and "biller,owner" in listed.stdout
    token = tessera(
        "tokens", "create", "--tenant", a.slug, "--email", email, "--scope", "core:audit", "--name", "ci"
    )
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip().splitlines()[-1]
    assert secret.startswith("tsr_")
    async with client_for(a.slug) as client:
        me = await client.get("/api/auth/me", headers={"authorization": f"Bearer {secret}"})
        assert me.status_code == 200 and me.json()["token_scopes"] == ["core:audit"]
        assert sorted(me.json()["roles"]) == ["biller", "owner"]


async def test_generated_password_and_platform_operator(db, make_tenant):
    tenant = await make_tenant()
    email = f"gen-{tenant.slug}@example.test"
    made = tessera("users", "create", "--tenant", tenant.slug, "--email", email, "--role", "front_desk")
    assert made.returncode == 0, made.stderr
    password = made.stdout.split("password (shown once): ")[1].strip()
    assert verify_password((await _user(db, email)).password_hash, password)
    op = tessera("users", "create", "--platform", "--email", f"op-{email}", stdin="operator passphrase!\n")
    assert op.returncode == 0, op.stderr
    async with db.session() as session:
        assert await session.get(PlatformOperator, (await _user(db, f"op-{email}")).id) is not None


def test_readable_errors(settings, unique_slug):
    one_line_error(
        tessera("users", "create", "--tenant", "no-such-clinic", "--email", "a@b.test", "--role", "owner"),
        "no tenant",
    )
    one_line_error(tessera("users", "create", "--email", "a@b.test", "--role", "owner"), "--tenant")
    one_line_error(
        tessera("users", "create", "--tenant", "x", "--email", "not-an-email", "--role", "owner"),
        "not an e-mail",
    )
    one_line_error(
        tessera("users", "create", "--tenant", "x", "--email", "a@b.test", "--role", "wizard"), "unknown role"
    )
    one_line_error(
        tessera(
            "users", "create", "--tenant", "x", "--email", "a@b.test", "--role", "owner", stdin="short\n"
        ),
        "too weak",
    )
    one_line_error(
        tessera("tokens", "create", "--tenant", "x", "--email", "a@b.test", "--scope", "nope:x"),
        "unknown permission scope",
    )


async def test_tokens_only_for_members(make_tenant, make_user):
    a, b = await make_tenant(), await make_tenant()
    user = await make_user(a)
    one_line_error(
        tessera("tokens", "create", "--tenant", b.slug, "--email", user.email), "not an active member"
    )
