"""Patient search: accent- and case-insensitive name prefixes in both orders, birth date,
MRN, pagination; every search audited without the query text."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql

from core.patients.models import Patient
from core.patients.search import name_condition, normalize, parse_query, prefix_end
from tests.test_patients_api import api, events  # noqa: F401 - the fixture and a helper

PEOPLE = [
    ("José", "Núñez", "1975-06-01"),
    ("Josefina", "Nunes", "1990-01-15"),
    ("Maria", "Jose", "1962-11-30"),
    ("Zoë", "O'Brien-Smith", "2001-03-04"),
    ("Mary Ann", "Smith", "1980-02-03"),
    ("Jean", "Nuñez", "1975-06-01"),
]


def test_normalize():
    assert normalize("José Núñez") == "jose nunez"
    assert normalize("  ZOË   O'Brien-Smith ") == "zoe obrien smith"
    assert normalize("Straße") == "strasse"
    assert normalize(None) == ""


def test_parse_query():
    assert parse_query("Nunez, Jo").pairs == [("nunez", "jo")]
    parsed = parse_query("jose nu")
    assert parsed.single == "jose nu" and ("nu", "jose") in parsed.pairs
    assert parse_query("1975-06-01").birth_date.isoformat() == "1975-06-01"
    assert parse_query("100004").mrn == "100004"
    assert parse_query("1975-02-31").bad_date == "1975-02-31"


async def _seed(c):
    ids = {}
    for given, family, born in PEOPLE:
        response = await c.post(
            "/api/patients", json={"given_name": given, "family_name": family, "birth_date": born}
        )
        assert response.status_code == 201, response.text
        ids[f"{given} {family}"] = response.json()
    return ids


async def _names(c, **params):
    response = await c.get("/api/patients", params=params)
    assert response.status_code == 200, response.text
    return [f"{p['given_name']} {p['family_name']}" for p in response.json()["items"]]


async def test_search_by_name_accents_case_and_order(db, make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        ids = await _seed(c)
        # prefixes: "jose nu" is also Josefina Nunes, not Maria Jose or Jean Nuñez
        assert await _names(c, q="jose nu") == ["Josefina Nunes", "José Núñez"]
        assert await _names(c, q="jose nunez") == ["José Núñez"]
        assert await _names(c, q="Nunez, Jo") == ["José Núñez"]
        assert await _names(c, q="NÚÑEZ, JOSÉ") == ["José Núñez"]
        assert await _names(c, q="nunez jose") == ["José Núñez"]  # family given, no comma
        # one word: a prefix of either name ("jose" is Maria's family name)
        assert await _names(c, q="jose") == ["Maria Jose", "Josefina Nunes", "José Núñez"]
        assert await _names(c, q="nun") == ["Josefina Nunes", "Jean Nuñez", "José Núñez"]
        assert await _names(c, q="Nunez,") == ["Jean Nuñez", "José Núñez"]
        assert await _names(c, q="obrien") == ["Zoë O'Brien-Smith"]
        assert await _names(c, q="zoe o'brien") == ["Zoë O'Brien-Smith"]
        assert await _names(c, q="mary ann smith") == ["Mary Ann Smith"]
        assert await _names(c, q="smith, mary a") == ["Mary Ann Smith"]
        assert await _names(c, q="x%") == []  # LIKE wildcards are literal
        assert await _names(c, q="_") == []  # typed something, but no letters: nothing found
        assert await _names(c, q=",") == []
        # birth date and MRN, alone or with a name
        assert await _names(c, birth_date="1975-06-01") == ["Jean Nuñez", "José Núñez"]
        assert await _names(c, q="1975-06-01") == ["Jean Nuñez", "José Núñez"]
        assert await _names(c, q="nunez 1975-06-01") == ["Jean Nuñez", "José Núñez"]
        assert await _names(c, q="jo", birth_date="1975-06-01") == ["José Núñez"]
        mrn = ids["Maria Jose"]["mrn"]
        assert await _names(c, mrn=mrn) == ["Maria Jose"]
        assert await _names(c, q=mrn) == ["Maria Jose"]
        bad = await c.get("/api/patients", params={"q": "1975-02-31"})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("q: 1975-02-31 is not a date")
        bad = await c.get("/api/patients", params={"birth_date": "01/06/1975"})
        assert bad.status_code == 400 and "birth_date" in bad.json()["detail"]
    searches = await events(db, tenant, resource_type="patient_search")
    assert len(searches) == 21  # the two refused searches never ran
    for event in searches:
        assert event.action == "read" and event.patient_id is None
        assert set(event.detail) == {"results", "total"}  # counts, never the query
    assert any(e.detail == {"results": 3, "total": 3} for e in searches)


async def test_pagination(make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        for i in range(7):
            await c.post(
                "/api/patients",
                json={"given_name": f"Pat{i}", "family_name": "Paging", "birth_date": "2000-01-01"},
            )
        first = (await c.get("/api/patients", params={"q": "paging", "limit": 3})).json()
        assert first["total"] == 7 and first["has_more"] is True and len(first["items"]) == 3
        last = (await c.get("/api/patients", params={"q": "paging", "limit": 3, "offset": 6})).json()
        assert last["has_more"] is False and len(last["items"]) == 1
        seen = []
        for offset in (0, 3, 6):
            page = (await c.get("/api/patients", params={"q": "paging", "limit": 3, "offset": offset})).json()
            seen += [p["given_name"] for p in page["items"]]
        assert seen == [f"Pat{i}" for i in range(7)]
        everyone = (await c.get("/api/patients")).json()
        assert everyone["total"] == 7 and everyone["limit"] == 20 and everyone["offset"] == 0
        negative = await c.get("/api/patients", params={"offset": -1})
        assert negative.status_code == 400 and "offset" in negative.json()["detail"]
        status = await c.get("/api/patients", params={"status": "deleted"})
        assert status.status_code == 422 and status.json()["detail"].startswith("status:")


def test_prefix_end():
    assert prefix_end("smi") == "smj"
    assert prefix_end("a\U0010ffff") == "b"  # the last code point has no successor
    assert prefix_end("\U0010ffff") is None
    assert prefix_end("x\ud7ff") == "x\ue000"  # surrogates are skipped
    assert prefix_end("") is None


async def test_name_search_uses_the_pattern_indexes_under_rls(owner_engine, settings):
    """The name prefixes are index range conditions (text_pattern_ops) *as the app role,
    under row-level security*: there PostgreSQL only turns leakproof conditions into index
    conditions, and LIKE is not leakproof (it used to be a filter over every patient of the
    clinic). Checked on 5,000 synthetic rows in a rolled-back transaction, so the planner
    has statistics to choose by."""
    tenant_id = "01a22256-0000-7000-8000-00000000beef"
    statement = select(Patient.id).where(
        name_condition(parse_query("ab, c"), Patient.family_norm, Patient.given_norm, Patient.preferred_norm)
    )
    compiled = statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    async with owner_engine.connect() as conn:
        try:
            await conn.execute(
                text("INSERT INTO tenants (id, slug, name) VALUES (:t, 'plan-check', 'Plan check')"),
                {"t": tenant_id},
            )
            await conn.execute(
                text("""
                INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date,
                                      family_norm, given_norm, preferred_norm)
                SELECT :t, gen_random_uuid(), i::text, 'g', 'f', DATE '1970-01-01' + (i % 9000),
                       md5(i::text), md5((i * 7)::text), ''
                FROM generate_series(1, 5000) AS i"""),
                {"t": tenant_id},
            )
            await conn.execute(text("ANALYZE patients"))
            await conn.exec_driver_sql(f'SET LOCAL ROLE "{settings.app_db_role}"')
            await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant_id})
            plan = "\n".join(row[0] for row in await conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            found = await conn.scalar(text(f"SELECT count(*) FROM ({compiled}) AS s"))
        finally:
            await conn.rollback()
    assert "Index Cond" in plan and "family_norm ~>=~ 'ab'::text" in plan, plan
    assert "family_norm ~<~ 'ac'::text" in plan, plan
    assert found == sum(1 for i in range(1, 5001) if _md5(i).startswith("ab") and _md5(i * 7).startswith("c"))


def _md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()
