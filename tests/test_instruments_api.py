"""Instruments and observations: a plugin's instrument is checked (422 naming each item),
scored on the server, banded, alerted on and compared with the first and previous
responses (MCID); observations are listed in time order; every access is audited;
another clinic's patient is a 404; roles without ``core:observations`` are refused; the
chart shows the trend as an SVG with the MCID band."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from core.app import build_registry, create_app
from core.auth.sessions import COOKIE_NAME
from core.lifecycle.plugins import enable_plugin
from core.lifecycle.registry import get_tenant
from core.plugin_api import AlertRule, Band, Instrument, Item, Option, add_observation, patient_observations
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.tenancy import tenant_scope
from tests.audit_helpers import assert_audited
from tests.test_encounters_api import add_patient, make_clinic
from tests.test_practice_api import bearer

NPRS_CODE = "72514-3"


def prorated(answers):
    """The test scale's published rule: mean of the answered items x 4 (so a skipped item
    does not lower the score)."""
    return sum(answers.values()) / len(answers) * 4


FOUR = tuple(Option(v, str(v)) for v in range(4))
SCALE = Instrument(
    key="testscale",
    version="2",
    title="Test scale",
    items=tuple(Item(f"q{n}", f"Question {n}", FOUR) for n in range(1, 5)),
    code_system="urn:tessera:test",
    code="TS-1",
    scoring=prorated,
    min_answered=3,
    bands=(Band(0, 3.99, "minimal"), Band(4, 7.99, "moderate"), Band(8, 12, "severe")),
    mcid=3,
    higher_is_better=False,
    alerts=(AlertRule("Item 4 answered above 0: ask about safety today", above=0, item="q4"),),
    score_range=(0, 12),
)


class Scales:
    manifest = Manifest(name="scales", version="1.0", title="Scales")

    @hookimpl
    def tessera_instruments(self):
        return [SCALE]


@pytest.fixture
async def world(settings, db, make_tenant, make_user, owner_engine, session_store):
    """Clinic A (scales enabled) and clinic B (not), an app that knows the Scales plugin."""
    registry = build_registry(settings, extra_plugins=[Scales()])
    app = create_app(settings, registry=registry)
    a = await make_clinic(db, make_tenant, make_user, owner_engine)
    b = await make_clinic(db, make_tenant, make_user, owner_engine)
    async with db.session() as session:
        await enable_plugin(session, registry, await get_tenant(session, a.tenant.slug), "scales")
        await session.commit()

    async def api(clinic, roles=("clinician",)):
        user = await make_user(clinic.tenant, roles=roles)
        client = AsyncTestClient(app=app, base_url=f"http://{clinic.tenant.slug}.localhost")
        client.headers.update(await bearer(db, clinic.tenant, user))
        return client, user

    async def browser(clinic, roles=("clinician",)):
        user = await make_user(clinic.tenant, roles=roles)
        sid, _ = await session_store.create(user_id=user.id, tenant_id=clinic.tenant.id, mfa_verified=True)
        client = AsyncTestClient(app=app, base_url=f"http://{clinic.tenant.slug}.localhost")
        client.cookies.set(COOKIE_NAME, sid)
        return client

    return app, a, b, api, browser


def submit_path(patient_id, key="nprs") -> str:
    return f"/api/patients/{patient_id}/instruments/{key}"


def fields(response) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json()["extra"]["errors"]}


async def test_nprs_scores_bands_and_compares_with_the_mcid(world, db):
    _, a, _, api, _ = world
    client, user = await api(a)
    pid = a.patient_id
    async with client:
        first = await client.post(
            submit_path(pid), json={"answers": {"pain": 8}, "effective_at": "2026-03-02T15:00:00Z"}
        )
        assert first.status_code == 201, first.text
        body = first.json()
        assert (body["score"], body["band"], body["alerts"]) == (8, "Severe", [])
        assert body["since_first"] is None and body["since_previous"] is None
        assert (
            body["observation"]["code"] == NPRS_CODE
            and body["observation"]["code_system"] == "http://loinc.org"
        )
        await assert_audited(
            db, a.tenant, action="create", resource_type="instrument_response", patient_id=pid, actor=user,
            route="POST /api/patients/{patient_id}/instruments/{key}",
        )  # fmt: skip

        third = await client.post(
            submit_path(pid), json={"answers": {"pain": 4}, "effective_at": "2026-03-16T15:00:00Z"}
        )
        assert third.status_code == 201
        # recorded late, but taken between the two: it is the "previous" of nothing later
        second = await client.post(
            submit_path(pid), json={"answers": {"pain": 7}, "effective_at": "2026-03-09T15:00:00Z"}
        )
        assert second.status_code == 201
        change = second.json()["since_first"]
        assert change == {
            "change": -1,
            "direction": "better",
            "passes_mcid": False,
            "meaningful_improvement": False,
        }
        later = third.json()["since_first"]
        assert later == {
            "change": -4,
            "direction": "better",
            "passes_mcid": True,
            "meaningful_improvement": True,
        }
        assert third.json()["band"] == "Moderate"

        worse = await client.post(
            submit_path(pid), json={"answers": {"pain": 6}, "effective_at": "2026-03-23T15:00:00Z"}
        )
        assert worse.json()["since_previous"] == {
            "change": 2, "direction": "worse", "passes_mcid": True, "meaningful_improvement": False,
        }  # fmt: skip

        listed = await client.get(f"/api/patients/{pid}/observations", params={"code": NPRS_CODE})
        assert listed.status_code == 200
        assert [o["value"] for o in listed.json()] == [8, 7, 4, 6]  # by the time taken
        assert [o["effective_at"][:10] for o in listed.json()] == [
            "2026-03-02",
            "2026-03-09",
            "2026-03-16",
            "2026-03-23",
        ]
        assert (await client.get(f"/api/patients/{pid}/observations", params={"code": "TS-1"})).json() == []
        await assert_audited(
            db, a.tenant, action="read", resource_type="observations", patient_id=pid, actor=user,
            route="GET /api/patients/{patient_id}/observations",
        )  # fmt: skip


async def test_a_plugin_instrument_checks_completeness_and_each_answer(world):
    _, a, _, api, _ = world
    client, _ = await api(a)
    async with client:
        two = await client.post(submit_path(a.patient_id, "testscale"), json={"answers": {"q1": 1, "q2": 2}})
        assert two.status_code == 422
        assert fields(two) == {
            "answers.q3": "missing (at least 3 of 4 items must be answered)",
            "answers.q4": "missing (at least 3 of 4 items must be answered)",
        }
        assert "answers.q3" in two.json()["detail"] and "answers.q4" in two.json()["detail"]

        wrong = await client.post(
            submit_path(a.patient_id, "testscale"),
            json={"answers": {"q1": 9, "q2": "2", "q3": True, "q9": 1}, "when": "now"},
        )
        assert wrong.status_code == 422
        assert fields(wrong) == {
            "answers.q1": "must be one of 0, 1, 2, 3",
            "answers.q2": "must be one of 0, 1, 2, 3",
            "answers.q3": "must be one of 0, 1, 2, 3",
            "answers.q9": "no such item in this instrument",
            "when": "unknown field",
        }
        for bad in (
            [1, 2],
            {"answers": [1]},
            {"answers": {"q1": 1, "q2": 1, "q3": 1}, "effective_at": "soon"},
        ):
            response = await client.post(submit_path(a.patient_id, "testscale"), json=bad)
            assert response.status_code == 422, bad
        not_json = await client.post(
            submit_path(a.patient_id, "testscale"),
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        assert not_json.status_code == 422 and fields(not_json) == {"body": "must be JSON"}

        listed = await client.get(f"/api/patients/{a.patient_id}/observations")
        assert listed.json() == []  # nothing partial was stored


async def test_plugin_scoring_bands_and_alerts(world):
    _, a, _, api, _ = world
    client, _ = await api(a)
    async with client:
        # three answered (q4 skipped): the plugin's prorated score, (1+2+3)/3*4 = 8
        skipped = await client.post(
            submit_path(a.patient_id, "testscale"), json={"answers": {"q1": 1, "q2": 2, "q3": 3, "q4": None}}
        )
        assert skipped.status_code == 201, skipped.text
        assert (skipped.json()["score"], skipped.json()["band"], skipped.json()["alerts"]) == (
            8,
            "severe",
            [],
        )
        flagged = await client.post(
            submit_path(a.patient_id, "testscale"), json={"answers": {"q1": 0, "q2": 1, "q3": 0, "q4": 1}}
        )
        body = flagged.json()
        assert (body["score"], body["band"]) == (2, "minimal")
        assert body["alerts"] == ["Item 4 answered above 0: ask about safety today"]
        assert body["since_first"]["passes_mcid"] is True and body["since_first"]["change"] == -6
        assert body["answers"] == {"q1": 0, "q2": 1, "q3": 0, "q4": 1}
        observed = (await client.get(f"/api/patients/{a.patient_id}/observations?code=TS-1")).json()
        assert [(o["value"], o["code_system"]) for o in observed] == [
            (8, "urn:tessera:test"),
            (2, "urn:tessera:test"),
        ]
        assert observed[1]["source_response_id"] == body["id"]
        # the definitions a client renders the form from
        listed = (await client.get("/api/instruments")).json()
        assert [i["key"] for i in listed] == ["nprs", "testscale"]
        assert listed[1]["min_answered"] == 3 and listed[1]["mcid"] == 3


async def test_unknown_or_not_enabled_instrument_is_404(world):
    _, a, b, api, _ = world
    client, _ = await api(a)
    async with client:
        response = await client.post(submit_path(a.patient_id, "phq-9"), json={"answers": {}})
        assert response.status_code == 404 and "no instrument 'phq-9'" in response.json()["detail"]
    other, _ = await api(b)  # clinic B has not enabled the plugin that contributes it
    async with other:
        response = await other.post(submit_path(b.patient_id, "testscale"), json={"answers": {"q1": 1}})
        assert response.status_code == 404
        assert [i["key"] for i in (await other.get("/api/instruments")).json()] == ["nprs"]


async def test_another_clinics_patient_is_404_and_audited(world, db, owner_engine):
    _, a, b, api, _ = world
    client, user = await api(a)
    stranger = await add_patient(owner_engine, b.tenant, given="Bo")
    async with client:
        for response in (
            await client.post(submit_path(stranger), json={"answers": {"pain": 3}}),
            await client.get(f"/api/patients/{stranger}/observations"),
            await client.post(submit_path(uuid.uuid4()), json={"answers": {"pain": 3}}),
        ):
            assert response.status_code == 404
            assert response.json()["detail"] == "There is no such patient in this clinic."
    await assert_audited(db, a.tenant, action="read", outcome="failure", actor=user)
    async with owner_engine.connect() as conn:
        from sqlalchemy import text

        count = await conn.scalar(
            text("SELECT count(*) FROM observations WHERE patient_id = :p"), {"p": stranger}
        )
    assert count == 0


@pytest.mark.parametrize("role", ["front_desk", "biller", "auditor"])
async def test_roles_without_observations_are_refused(world, role):
    _, a, _, api, _ = world
    client, _ = await api(a, roles=(role,))
    async with client:
        assert (
            await client.post(submit_path(a.patient_id), json={"answers": {"pain": 1}})
        ).status_code == 403
        assert (await client.get(f"/api/patients/{a.patient_id}/observations")).status_code == 403


async def test_the_chart_shows_the_trend_with_the_mcid_band(world, db):
    _, a, _, api, browser = world
    client, _ = await api(a)
    async with client:
        for day, pain in (("02", 8), ("09", 6), ("16", 3)):
            response = await client.post(
                submit_path(a.patient_id),
                json={"answers": {"pain": pain}, "effective_at": f"2026-03-{day}T15:00:00Z"},
            )
            assert response.status_code == 201
    async with await browser(a) as page:
        chart = await page.get(f"/patients/{a.patient_id}")
    assert chart.status_code == 200
    html = chart.text
    svg = re.search(r"<svg[^>]*class=\"trend-chart\".*?</svg>", html, re.S)
    assert svg, "no trend chart on the chart page"
    assert len(re.findall(r"<circle class=\"point\"", svg.group(0))) == 3
    assert "mcid-band" in svg.group(0) and "2026-03-16: 3" in svg.group(0)
    assert "Pain (NPRS 0-10)" in html and "MCID 2" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=", html.split("<main", 1)[-1])
    assert "script-src 'self'" in chart.headers["content-security-policy"]
    # the front desk does not read observations: no panel
    async with await browser(a, roles=("front_desk",)) as page:
        assert "trend-chart" not in (await page.get(f"/patients/{a.patient_id}")).text


async def test_no_measures_no_panel(world):
    _, a, _, _, browser = world
    async with await browser(a) as page:
        html = (await page.get(f"/patients/{a.patient_id}")).text
    assert 'id="measures"' not in html


@pytest.fixture
async def app_conn(settings):
    url = make_url(settings.app_url()).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    yield conn
    await conn.close()


async def test_rls_keeps_each_clinics_observations_apart(world, app_conn):
    _, a, b, api, _ = world
    for clinic in (a, b):
        client, _ = await api(clinic)
        async with client:
            assert (
                await client.post(submit_path(clinic.patient_id), json={"answers": {"pain": 5}})
            ).status_code == 201
    for table in ("observations", "instrument_responses"):
        async with app_conn.transaction():
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0  # no tenant: nothing
        async with app_conn.transaction():
            await app_conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.tenant.id))
            rows = await app_conn.fetch(f"SELECT tenant_id, patient_id FROM {table}")
            assert {(r["tenant_id"], r["patient_id"]) for r in rows} == {(a.tenant.id, a.patient_id)}
        async with app_conn.transaction():
            await app_conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.tenant.id))
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app_conn.execute(f"UPDATE {table} SET patient_id = patient_id")
        async with app_conn.transaction():
            await app_conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.tenant.id))
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app_conn.execute(f"DELETE FROM {table}")
        async with app_conn.transaction():
            await app_conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.tenant.id))
            with pytest.raises(asyncpg.PostgresError):  # B's tenant id is refused by the policy
                await app_conn.execute(
                    "INSERT INTO observations (tenant_id, id, patient_id, code_system, code, display, value, unit, "
                    "effective_at) VALUES ($1, $2, $3, 'x', 'y', 'z', 1, '1', now())",
                    b.tenant.id, uuid.uuid4(), b.patient_id,
                )  # fmt: skip


async def test_the_latest_responses_alerts_show_in_the_chart_header(world):
    _, a, _, api, browser = world
    client, _ = await api(a)
    alert = "Test scale: Item 4 answered above 0: ask about safety today"
    async with client:
        flagged = {"answers": {"q1": 0, "q2": 1, "q3": 0, "q4": 2}, "effective_at": "2026-03-02T15:00:00Z"}
        assert (await client.post(submit_path(a.patient_id, "testscale"), json=flagged)).status_code == 201
    async with await browser(a) as page:
        header = (
            (await page.get(f"/patients/{a.patient_id}"))
            .text.split('class="chart-header"')[1]
            .split("</header>")[0]
        )
    assert alert in header
    async with await browser(a, roles=("front_desk",)) as page:
        assert alert not in (await page.get(f"/patients/{a.patient_id}")).text
    async with client:
        calm = {"answers": {"q1": 0, "q2": 1, "q3": 0, "q4": 0}, "effective_at": "2026-03-09T15:00:00Z"}
        assert (await client.post(submit_path(a.patient_id, "testscale"), json=calm)).status_code == 201
    async with await browser(a) as page:
        assert alert not in (await page.get(f"/patients/{a.patient_id}")).text


async def test_a_plugin_records_a_measured_value_from_a_note(world, db):
    _, a, _, api, browser = world
    note_id = uuid.uuid4()
    when = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)
    with tenant_scope(a.tenant.id):
        async with db.session() as session:
            for bad in (
                {"value": float("nan")},
                {"value": True},
                {"code": ""},
                {"effective_at": when.replace(tzinfo=None)},
            ):
                args = {"value": 95.0, "code": "ROM-KNEE-FLEX", "effective_at": when, **bad}
                with pytest.raises(ValueError):
                    await add_observation(
                        session, patient_id=a.patient_id, code_system="urn:tessera:rom", display="Knee flexion",
                        unit="deg", source_note_id=note_id, **args,
                    )  # fmt: skip
            row = await add_observation(
                session, patient_id=a.patient_id, code_system="urn:tessera:rom", code="ROM-KNEE-FLEX",
                display="Knee flexion", value=95, unit="deg", effective_at=when, source_note_id=note_id,
            )  # fmt: skip
            await session.commit()
            assert [o.id for o in await patient_observations(session, a.patient_id, "ROM-KNEE-FLEX")] == [
                row.id
            ]
            await session.commit()
    await assert_audited(db, a.tenant, action="create", resource_type="observation", patient_id=a.patient_id)
    client, _ = await api(a)
    async with client:
        listed = (await client.get(f"/api/patients/{a.patient_id}/observations?code=ROM-KNEE-FLEX")).json()
    assert [(o["value"], o["unit"], o["source_note_id"]) for o in listed] == [(95, "deg", str(note_id))]
    async with await browser(a) as page:
        html = (await page.get(f"/patients/{a.patient_id}")).text
    assert "Knee flexion" in html and 'class="point"' in html and "mcid-band" not in html
