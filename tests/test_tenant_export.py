"""``tessera tenants export`` and ``tessera tenants purge``, run as real subprocesses
against the test database: the bundle holds exactly the tenant's rows of every tenant
table (plugins' included), and a purge removes exactly those — only after a matching
export, a suspension and a confirmation."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from core.auth.tokens import create_token
from core.lifecycle.export import FORMAT, FORMAT_VERSION, tenant_tables
from core.lifecycle.purge import delete_order
from core.patients.schemas import PatientCreate
from core.patients.services import create_patient
from core.tenancy import tenant_scope
from tests.sample_plugin.models import Note, Notebook
from tests.test_cli import assert_one_line_error
from tests.test_schema_meta import fk_problems, protection_problems


def tessera(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """The real command in a subprocess; ``input`` is what is typed at its prompt."""
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=input if input is not None else "",
        env=dict(os.environ),
    )


async def _fill(db, tenant, user, marker: str) -> None:
    """Rows in several core tables and the sample plugin's, through the real services."""
    with tenant_scope(tenant.id):
        async with db.session() as session:
            notebook = Notebook(title=f"Book {marker}")
            session.add(notebook)
            await session.flush()
            for n in range(3):
                session.add(Note(notebook_id=notebook.id, body=f"{marker} note {n}"))
            await create_patient(
                session,
                PatientCreate(
                    given_name="Zoë", family_name=f"Export{marker}", birth_date=dt.date(1980, 2, 29)
                ),
            )
            await create_token(session, user_id=user.id, name=f"token {marker}")
            await session.commit()


@pytest.fixture
async def two_clinics(make_tenant, make_user, db):
    a = await make_tenant(plugins=("sample",), name="Alpha Clinic")
    b = await make_tenant(plugins=("sample",), name="Beta Clinic")
    shared = await make_user(a, roles=("biller",))
    async with db.session() as session:  # a biller serving both clinics
        from core.auth.models import Membership

        with tenant_scope(b.id):
            session.add(Membership(user_id=shared.id, roles=["biller"], status="active"))
            await session.commit()
    a_owner = await make_user(a, roles=("owner",))
    b_owner = await make_user(b, roles=("owner",))
    await _fill(db, a, a_owner, "a")
    await _fill(db, b, b_owner, "b")
    return a, b, shared, a_owner


async def _counts(owner_engine, tenant_id) -> dict[str, int]:
    async with owner_engine.connect() as conn:
        tables = await tenant_tables(conn)
        return {
            t.name: await conn.scalar(
                text(f'SELECT count(*) FROM "{t.name}" WHERE tenant_id = :t'), {"t": tenant_id}
            )
            for t in tables
        }


def _export(slug: str, out) -> dict:
    result = tessera("tenants", "export", "--tenant", slug, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"exported {slug}" in result.stdout
    return json.loads(out.read_text())


# -- export -------------------------------------------------------------------------------


async def test_export_holds_every_row_of_the_tenant_and_nothing_else(two_clinics, owner_engine, tmp_path, db):
    a, b, _, _ = two_clinics
    out = tmp_path / "alpha.json"
    bundle = _export(a.slug, out)

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "alpha.json"]  # no temporary file left
    header = bundle["header"]
    assert header["format"] == FORMAT and header["format_version"] == FORMAT_VERSION
    assert header["tessera_version"] and dt.datetime.fromisoformat(header["exported_at"]).tzinfo
    assert header["tenant_id"] == str(a.id) and header["tenant_slug"] == a.slug
    assert bundle["tenant"]["id"] == str(a.id) and bundle["tenant"]["name"] == "Alpha Clinic"

    # every tenant table of the live schema, plugins' included, with the DB's counts
    in_db = await _counts(owner_engine, a.id)
    in_file = {t["name"]: t["row_count"] for t in header["tables"]}
    assert in_file == in_db
    assert {"sample_notes", "sample_notebooks", "patients", "memberships", "audit_events"} <= set(in_file)
    assert {name: len(rows) for name, rows in bundle["data"].items()} == in_db
    assert in_db["sample_notes"] == 3 and in_db["patients"] == 1 and in_db["api_tokens"] == 1

    # no other tenant's rows anywhere
    text_of_file = out.read_text()
    assert str(b.id) not in text_of_file and "b note" not in text_of_file
    for rows in bundle["data"].values():
        assert all(row["tenant_id"] == str(a.id) for row in rows)

    # values are typed sensibly
    patient = bundle["data"]["patients"][0]
    assert patient["birth_date"] == "1980-02-29" and patient["given_name"] == "Zoë"
    uuid.UUID(patient["id"])
    token = bundle["data"]["api_tokens"][0]
    assert len(base64.b64decode(token["token_digest"])) == 32
    columns = {t["name"]: {c["name"]: c["type"] for c in t["columns"]} for t in header["tables"]}
    assert columns["api_tokens"]["token_digest"] == "bytea"
    assert bundle["data"]["tenant_plugins"][0]["config"] == {}  # jsonb as JSON, not text

    # the export is in the tenant's audit log, and in the bundle itself
    exported = [e for e in bundle["data"]["audit_events"] if e["action"] == "export"]
    assert len(exported) == 1 and exported[0]["resource_type"] == "tenant"
    assert exported[0]["detail"]["file"] == "alpha.json"
    assert await _counts(owner_engine, a.id) == in_db  # nothing was added after the snapshot


async def test_export_refuses_an_unknown_tenant_and_an_existing_file(two_clinics, tmp_path):
    a, *_ = two_clinics
    assert_one_line_error(
        tessera("tenants", "export", "--tenant", "nobody-here", "--out", str(tmp_path / "x.json")),
        "no tenant with slug 'nobody-here'",
    )
    existing = tmp_path / "taken.json"
    existing.write_text("keep me")
    assert_one_line_error(
        tessera("tenants", "export", "--tenant", a.slug, "--out", str(existing)), "already exists"
    )
    assert existing.read_text() == "keep me"
    assert_one_line_error(
        tessera("tenants", "export", "--tenant", a.slug, "--out", str(tmp_path / "no" / "x.json")),
        "does not exist",
    )


# -- purge --------------------------------------------------------------------------------


async def test_purge_refuses_without_a_matching_export_suspension_or_confirmation(
    two_clinics, tmp_path, db, owner_engine
):
    a, b, _, _ = two_clinics
    before = await _counts(owner_engine, a.id)
    b_export = tmp_path / "beta.json"
    _export(b.slug, b_export)

    def purge(*extra, stdin=None):
        return tessera("tenants", "purge", "--tenant", a.slug, *extra, input=stdin)

    assert_one_line_error(purge("--export", str(tmp_path / "missing.json"), "--yes"), "does not exist")
    broken = tmp_path / "broken.json"
    broken.write_text('{"header": {"format": "tessera.tenant-export"')
    assert_one_line_error(purge("--export", str(broken), "--yes"), "not a complete export file")
    assert_one_line_error(purge("--export", str(b_export), "--yes"), "export of another tenant")

    a_export = tmp_path / "alpha.json"
    _export(a.slug, a_export)
    assert_one_line_error(purge("--export", str(a_export), "--yes"), "suspend it first")
    assert tessera("tenants", "suspend", "--tenant", a.slug).returncode == 0

    # the data changed since the export: refused, export again
    with tenant_scope(a.id):
        async with db.session() as session:
            session.add(Notebook(title="written after the export"))
            await session.commit()
    changed = purge("--export", str(a_export), "--yes")
    assert_one_line_error(changed, "changed since", "sample_notebooks: 2 in the export, 3 now")
    fresh = tmp_path / "alpha-2.json"
    _export(a.slug, fresh)

    # a tampered file whose counts disagree with its rows is refused
    bundle = json.loads(fresh.read_text())
    bundle["data"]["sample_notes"].pop()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bundle))
    assert_one_line_error(purge("--export", str(tampered), "--yes"), "sample_notes holds 2 rows")

    # confirmation: the wrong slug, or no answer at all, removes nothing
    wrong = purge("--export", str(fresh), stdin="beta\n")
    assert_one_line_error(wrong, "not confirmed")
    assert f"Type the slug ({a.slug})" in wrong.stdout
    assert_one_line_error(purge("--export", str(fresh), stdin=""), "not confirmed")
    after = await _counts(owner_engine, a.id)
    assert after["sample_notebooks"] == before["sample_notebooks"] + 1
    assert all(after[name] >= count for name, count in before.items())


async def test_purge_removes_everything_of_the_tenant_and_nothing_else(
    two_clinics, tmp_path, owner_engine, session_store
):
    a, b, shared, a_owner = two_clinics
    b_before = await _counts(owner_engine, b.id)
    a_session, _ = await session_store.create(user_id=a_owner.id, tenant_id=a.id, mfa_verified=True)
    b_session, _ = await session_store.create(user_id=shared.id, tenant_id=b.id, mfa_verified=True)
    assert tessera("tenants", "suspend", "--tenant", a.slug).returncode == 0
    export = tmp_path / "alpha.json"
    bundle = _export(a.slug, export)

    result = tessera("tenants", "purge", "--tenant", a.slug, "--export", str(export), input=f"{a.slug}\n")
    assert result.returncode == 0, result.stderr
    total = sum(t["row_count"] for t in bundle["header"]["tables"])
    assert f"purged {a.slug}: {total} rows" in result.stdout
    assert "users are global and were kept (1 of them now belong to no clinic)" in result.stdout
    assert "2 user account(s) were members" in result.stdout

    # every tenant table: nothing of A, all of B
    assert set((await _counts(owner_engine, a.id)).values()) == {0}
    assert await _counts(owner_engine, b.id) == b_before
    async with owner_engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"), {"t": a.id}) == 0
        assert await conn.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"), {"t": b.id}) == 1
        users = await conn.scalar(
            text("SELECT count(*) FROM users WHERE id = ANY(:ids)"), {"ids": [shared.id, a_owner.id]}
        )
        assert users == 2  # users are global: kept
        # the schema's protections are untouched (the meta-tests' own checks)
        assert await protection_problems(conn) == []
        assert (await fk_problems(conn))[1] == []
    # the purged clinic's sessions are gone, the other clinic's are not
    assert await session_store.get(a_session) is None
    assert await session_store.get(b_session) is not None

    listed = json.loads(tessera("tenants", "list", "--json").stdout)
    assert a.slug not in [t["slug"] for t in listed] and b.slug in [t["slug"] for t in listed]
    assert_one_line_error(
        tessera("tenants", "purge", "--tenant", a.slug, "--export", str(export), "--yes"),
        "no tenant with slug",
    )


def test_delete_order_puts_referencing_tables_first():
    from core.lifecycle.export import TenantTable

    tables = [
        TenantTable("patients", [], [], set()),
        TenantTable("encounters", [], [], {"patients", "locations"}),
        TenantTable("history", [], [], {"encounters"}),
        TenantTable("locations", [], [], set()),
    ]
    order = [t.name for t in delete_order(tables)]
    assert order.index("history") < order.index("encounters") < order.index("patients")
    assert order.index("encounters") < order.index("locations")
