"""Bad input answers a 4xx naming what was wrong, never a 500, and a stored value never
breaks a page: dates outside the accepted years, extreme values written into the tables
around the API, NUL characters, deeply nested JSON, huge offsets, references to rows
that do not exist, and a handler failing after it wrote (nothing of it is committed).
docs/security.md, "Bad input", names these tests."""

from __future__ import annotations

import json
import uuid

import pytest
from litestar import post
from sqlalchemy import text

from core.app import create_app
from core.plugin_api import DbSession
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from tests.test_encounters_api import client_with_role, encounter_body, make_clinic
from tests.test_practice_api import errors_of

EXTREME_INSTANTS = ["-infinity", "infinity", "0001-01-01 00:00:00+00", "9999-12-31 23:59:59+00"]
EXTREME_DATES = ["-infinity", "infinity", "0001-01-01", "9999-12-31"]


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_clinic(db, make_tenant, make_user, owner_engine)


@pytest.fixture
async def owner_client(app, db, make_user, clinic):
    async with await client_with_role(app, db, make_user, clinic.tenant, "owner") as client:
        yield client


async def _count_encounters(owner_engine, tenant) -> int:
    async with owner_engine.connect() as conn:
        return await conn.scalar(
            text("SELECT count(*) FROM encounters WHERE tenant_id = :t"), {"t": tenant.id}
        )


# -- dates and times out of range -------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z", "2201-01-01T00:00:00Z"],
)
async def test_an_encounter_outside_the_accepted_years_is_refused_and_nothing_is_stored(
    owner_client, clinic, owner_engine, start
):
    """Before: year 1 answered 500 after committing a row holding -infinity."""
    end = "9999-12-31T23:59:59.999999Z" if start.startswith("9999") else "2026-03-02T16:15:00Z"
    response = await owner_client.post("/api/encounters", json=encounter_body(clinic, start=start, end=end))
    assert response.status_code == 422, response.text
    assert "1900-01-01" in errors_of(response)["start"]
    assert await _count_encounters(owner_engine, clinic.tenant) == 0


@pytest.mark.parametrize(
    "bound", ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00Z", "9999-12-31T23:00:00+14:00"]
)
async def test_list_filters_outside_the_accepted_years_are_refused(owner_client, bound):
    for name in ("from", "to"):
        response = await owner_client.get("/api/encounters", params={name: bound})
        assert response.status_code == 422, response.text
        assert name in errors_of(response)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_audit_date_filters_outside_the_accepted_years_are_refused(owner_client, day):
    """Before: 9999-12-31 as the (inclusive) end overflowed adding its next day (500)."""
    for name in ("from", "to"):
        for path in ("/api/audit", "/api/audit.csv", "/api/audit/emergency"):
            response = await owner_client.get(path, params={name: day})
            assert response.status_code == 400, (path, name, response.text)
            assert "1900-01-01" in response.json()["detail"]


async def test_patient_dates_outside_the_accepted_years_are_refused(owner_client, clinic):
    response = await owner_client.post(
        f"/api/patients/{clinic.patient_id}/medications",
        json={"name": "Ibuprofen", "start_date": "0001-01-01"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["extra"]["field"] == "start_date"
    response = await owner_client.post(
        f"/api/patients/{clinic.patient_id}/coverages",
        json={"payer_name": "Acme", "member_id": "X1", "priority": "primary", "effective_end": "9999-12-31"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["extra"]["field"] == "effective_end"


@pytest.mark.parametrize("offset", ["9223372036854775808", "9223372036854775807", "1000000001", "²"])
async def test_an_offset_beyond_any_real_page_is_refused(owner_client, offset):
    response = await owner_client.get("/api/encounters", params={"offset": offset})
    assert response.status_code == 422, response.text
    assert "offset" in errors_of(response)
    response = await owner_client.get("/api/patients", params={"offset": offset})
    assert 400 <= response.status_code < 500, response.text


# -- stored values the API would refuse still read --------------------------------------


async def test_extreme_stored_values_do_not_break_lists_chart_or_screens(owner_client, clinic, owner_engine):
    """Values written as the schema owner, around the API: every read still answers 200."""
    # (start, end) pairs that keep the table's "ends after it starts" check
    spans = [
        ("-infinity", "infinity"),
        ("0001-01-01 00:00:00+00", "0001-01-01 01:00:00+00"),
        ("9999-12-31 22:00:00+00", "9999-12-31 23:59:59+00"),
        ("2026-03-02 15:00:00+00", "infinity"),
    ]
    created = []
    for _ in spans:
        response = await owner_client.post("/api/encounters", json=encounter_body(clinic))
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    async with owner_engine.begin() as conn:
        for encounter_id, (start, end) in zip(created, spans, strict=True):
            params = {"s": start, "e": end, "t": clinic.tenant.id, "id": uuid.UUID(encounter_id)}
            await conn.execute(
                text(
                    "UPDATE encounters SET starts_at = CAST(CAST(:s AS text) AS timestamptz), "
                    "ends_at = CAST(CAST(:e AS text) AS timestamptz), "
                    "status_changed_at = CAST(CAST(:s AS text) AS timestamptz), "
                    "created_at = CAST(CAST(:e AS text) AS timestamptz) WHERE tenant_id = :t AND id = :id"
                ),
                params,
            )
            await conn.execute(
                text(
                    "UPDATE encounter_status_history SET changed_at = CAST(CAST(:s AS text) AS timestamptz) "
                    "WHERE tenant_id = :t AND encounter_id = :id"
                ),
                params,
            )
    patients = []
    for value in EXTREME_DATES:
        response = await owner_client.post(
            "/api/patients",
            json={"given_name": "Edge", "family_name": f"Case{len(patients)}", "birth_date": "1970-01-01"},
        )
        assert response.status_code == 201, response.text
        patient_id = response.json()["id"]
        patients.append(patient_id)
        for kind, body in (
            ("medications", {"name": "Ibuprofen"}),
            ("problems", {"code": "M54.50"}),
            ("coverages", {"payer_name": "Acme", "member_id": "X1", "priority": "primary"}),
        ):
            added = await owner_client.post(f"/api/patients/{patient_id}/{kind}", json=body)
            assert added.status_code == 201, added.text
        async with owner_engine.begin() as conn:
            params = {"v": value, "t": clinic.tenant.id, "id": uuid.UUID(patient_id)}
            await conn.execute(
                text(
                    "UPDATE patients SET birth_date = CAST(CAST(:v AS text) AS date), created_at = CAST(CAST(:v AS text) AS timestamptz), "
                    "updated_at = CAST(CAST(:v AS text) AS timestamptz) WHERE tenant_id = :t AND id = :id"
                ),
                params,
            )
            await conn.execute(
                text(
                    "UPDATE patient_medications SET start_date = CAST(CAST(:v AS text) AS date), end_date = CAST(CAST(:v AS text) AS date) "
                    "WHERE tenant_id = :t AND patient_id = :id"
                ),
                params,
            )
            await conn.execute(
                text(
                    "UPDATE patient_problems SET onset_date = CAST(CAST(:v AS text) AS date) WHERE tenant_id = :t AND patient_id = :id"
                ),
                params,
            )
            await conn.execute(
                text(
                    "UPDATE patient_coverages SET effective_start = CAST(CAST(:v AS text) AS date), "
                    "effective_end = CAST(CAST(:v AS text) AS date), subscriber_birth_date = CAST(CAST(:v AS text) AS date) "
                    "WHERE tenant_id = :t AND patient_id = :id"
                ),
                params,
            )

    listed = await owner_client.get("/api/encounters", params={"limit": "200"})
    assert listed.status_code == 200, listed.text
    assert {e["id"] for e in listed.json()["items"]} == set(created)
    for encounter_id in created:
        shown = await owner_client.get(f"/api/encounters/{encounter_id}")
        assert shown.status_code == 200, shown.text
    by_patient = await owner_client.get("/api/encounters", params={"patient_id": str(clinic.patient_id)})
    assert by_patient.status_code == 200, by_patient.text

    assert (await owner_client.get("/api/patients", params={"q": "Case"})).status_code == 200
    for patient_id in patients:
        for path in ("", "/medications", "/problems", "/coverages", "/contacts"):
            response = await owner_client.get(f"/api/patients/{patient_id}{path}")
            assert response.status_code == 200, (path, response.text)

    # the screens (the token's user is the clinic's owner)
    page = await owner_client.get("/patients", params={"q": "Case"}, headers={"accept": "text/html"})
    assert page.status_code == 200, page.text[:500]
    for patient_id in patients:
        chart = await owner_client.get(f"/patients/{patient_id}", headers={"accept": "text/html"})
        assert chart.status_code == 200, chart.text[:500]
        assert "<html" in chart.text


# -- a handler that fails after writing commits nothing ----------------------------------


class _FailingPlugin:
    manifest = Manifest(name="failing_writer", version="1.0", title="Fails after a write")

    @hookimpl
    def tessera_routes(self):
        from core.authz.guards import requires
        from core.encounters.models import Encounter

        @post("/api/failing-writer", guards=[requires("core:encounters", "write")], opt={"phi": True})
        async def write_then_fail(db_session: DbSession, data: dict) -> dict:
            import datetime as dt

            db_session.add(
                Encounter(
                    patient_id=uuid.UUID(data["patient_id"]),
                    provider_id=uuid.UUID(data["provider_id"]),
                    location_id=uuid.UUID(data["location_id"]),
                    starts_at=dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC),
                    ends_at=dt.datetime(2026, 3, 2, 16, tzinfo=dt.UTC),
                    type="evaluation",
                    place_of_service="11",
                    status="planned",
                )
            )
            await db_session.flush()  # the row is in the database, inside the transaction
            raise RuntimeError("something broke after the write")

        return [write_then_fail]


async def test_a_handler_that_raises_after_a_flush_commits_nothing(
    settings, db, make_tenant, make_user, owner_engine
):
    from core.lifecycle.plugins import enable_plugin

    plugin = _FailingPlugin()
    failing_app = create_app(settings, extra_plugins=[plugin])
    registry = failing_app.state.registry
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    async with db.session() as session:
        from core.tenancy.models import Tenant

        tenant = await session.get(Tenant, clinic.tenant.id)
        await enable_plugin(session, registry, tenant, "failing_writer")
        await session.commit()
    async with await client_with_role(failing_app, db, make_user, clinic.tenant, "owner") as client:
        body = {k: v for k, v in encounter_body(clinic).items() if k.endswith("_id")}
        response = await client.post("/api/failing-writer", json=body)
        assert response.status_code == 500
        assert "something broke" not in response.text
        # the same connection goes back to the pool clean: the next request works
        assert (await client.get("/api/encounters")).status_code == 200
    assert await _count_encounters(owner_engine, clinic.tenant) == 0


# -- NUL characters, nesting, unknown references ------------------------------------------


async def test_nul_characters_are_refused_before_they_reach_the_database(owner_client, clinic, client_for):
    response = await owner_client.post("/api/encounters", json=encounter_body(clinic, type="evalu\x00ation"))
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["detail"]
    response = await owner_client.post(
        "/api/patients", json={"given_name": "A\x00", "family_name": "B", "birth_date": "1970-01-01"}
    )
    assert response.status_code == 400, response.text
    response = await owner_client.get("/api/patients", params={"q": "Sm\x00ith"})
    assert response.status_code == 400, response.text
    async with client_for(clinic.tenant.slug) as anonymous:
        login = await anonymous.post(
            "/api/auth/login", json={"email": "a\x00@example.test", "password": "x\x00"}
        )
        assert login.status_code == 400, login.text
        form = await anonymous.post(
            "/login", data={"email": "a\x00@example.test", "password": "x"}, follow_redirects=False
        )
        assert 400 <= form.status_code < 500, form.text


async def test_json_nested_a_thousand_deep_is_refused(owner_client, clinic, client_for):
    deep = "[" * 1000 + "]" * 1000
    response = await owner_client.post(
        "/api/encounters", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    body = (
        '{"start": '
        + "{" * 0
        + json.dumps(encounter_body(clinic))[1:-1]
        + ', "x": '
        + "[" * 1000
        + "]" * 1000
        + "}"
    )
    response = await owner_client.post(
        f"/api/encounters/{uuid.uuid4()}/status", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    async with client_for(clinic.tenant.slug) as anonymous:
        login = await anonymous.post(
            "/api/auth/login",
            content='{"email": ' + "[" * 1000 + "]" * 1000 + "}",
            headers={"content-type": "application/json"},
        )
        assert login.status_code == 400, login.text


def test_the_request_checks_refuse_only_what_no_field_accepts():
    from core.web.request_checks import DEPTH_MESSAGE, MAX_JSON_DEPTH, NUL_MESSAGE, body_problem

    json_type = "application/json; charset=utf-8"
    assert body_problem(json_type, b'{"name": "Ada", "tags": [["a"]]}') is None
    assert body_problem(json_type, b'{"name": "A\\u0000da"}') == NUL_MESSAGE
    assert body_problem(json_type, b'{"na\\u0000me": "Ada"}') == NUL_MESSAGE
    assert body_problem(json_type, b'{"name": "A\\\\u0000da"}') is None  # an escaped backslash, no NUL
    assert body_problem(json_type, b"not json") is None  # the route answers malformed JSON itself
    deepest = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert body_problem(json_type, deepest.encode()) is None
    too_deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    assert body_problem(json_type, too_deep.encode()) == DEPTH_MESSAGE
    assert body_problem(json_type, ("[" * 100_000 + "]" * 100_000).encode()) == DEPTH_MESSAGE
    form = "application/x-www-form-urlencoded"
    assert body_problem(form, b"email=a%40b.test&password=x") is None
    assert body_problem(form, b"email=a%00b.test&password=x") == NUL_MESSAGE
    assert body_problem("multipart/form-data; boundary=x", b"\x00\x01") is None
