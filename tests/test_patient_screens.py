"""The patient screens: list and search, the new-patient form, the chart and its forms.

Each PHI screen is called once and its audit event proven; then the behaviours people rely
on: inline errors (422) next to the fields, the duplicate warning (409) and "create
anyway", another clinic's patient answering 404 (audited), a biller reading without edit
forms (403 when posting), and plugin panels only for clinics that enabled the plugin.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from core.app import build_registry, create_app
from core.auth.sessions import COOKIE_NAME
from core.encounters.models import Encounter
from core.lifecycle.plugins import enable_plugin
from core.patients import schemas as s
from core.patients import services
from core.patients.models import Patient
from core.patients.screens import age
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.types import ChartPanel
from core.tenancy import tenant_scope
from core.tenancy.models import Tenant
from tests.audit_helpers import assert_audited
from tests.test_encounters_api import make_clinic

HTMX = {"HX-Request": "true"}


async def add_patient(db, tenant, **fields) -> uuid.UUID:
    """A patient created through the service (as the API would)."""
    values = {"given_name": "Ada", "family_name": "Lovelace", "birth_date": dt.date(1980, 12, 10), **fields}
    with tenant_scope(tenant.id):
        async with db.session() as session:
            patient = await services.create_patient(session, s.PatientCreate(**values))
            await session.commit()
            return patient.id


async def count_patients(db, tenant) -> int:
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return await session.scalar(select(func.count()).select_from(Patient))


def form_field(html: str, field_id: str) -> str:
    """The opening tag of the form control with ``id``."""
    match = re.search(rf"<(?:input|select|textarea)[^>]*\bid=\"{re.escape(field_id)}\"[^>]*>", html)
    assert match, f"no control #{field_id}"
    return match.group(0)


# -- audit of every PHI screen ------------------------------------------------------------


async def test_every_patient_screen_is_audited(db, make_tenant, make_user, client_as, csrf_headers):
    tenant = await make_tenant()
    desk = await make_user(tenant, roles=("front_desk", "clinician"))
    since = dt.datetime.now(dt.UTC)
    async with await client_as(tenant, desk) as c:
        headers = await csrf_headers(c)

        created = await c.post(
            "/patients",
            data={"given_name": "Grace", "family_name": "Hopper", "birth_date": "1956-12-09"},
            headers={**headers, **HTMX},
        )
        assert created.status_code == 200, created.text
        location = created.headers["HX-Redirect"]
        pid = uuid.UUID(location.rsplit("/", 1)[1])
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type="patient",
            patient_id=pid,
            actor=desk,
            since=since,
            route="POST /patients",
        )

        listed = await c.get("/patients", params={"q": "hopper"})
        assert listed.status_code == 200
        assert "Hopper, Grace" in listed.text
        event = await assert_audited(
            db,
            tenant,
            action="read",
            resource_type="patient_search",
            actor=desk,
            since=since,
            route="GET /patients",
        )
        assert event.detail == {"results": 1, "total": 1}  # the count, never the query

        chart = await c.get(location)
        assert chart.status_code == 200
        await assert_audited(
            db,
            tenant,
            action="read",
            resource_type="patient",
            patient_id=pid,
            actor=desk,
            since=since,
            route="GET /patients/{patient_id}",
        )

        allergy = await c.post(
            f"/patients/{pid}/allergies",
            data={"substance": "Penicillin", "reaction": "hives", "severity": "severe"},
            headers={**headers, **HTMX},
        )
        assert allergy.status_code == 200, allergy.text
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type="patient_allergy",
            patient_id=pid,
            actor=desk,
            since=since,
            route="POST /patients/{patient_id}/allergies",
        )

        coverage = await c.post(
            f"/patients/{pid}/coverages",
            data={"payer_name": "Acme Health", "member_id": "A-100", "priority": "primary"},
            headers={**headers, **HTMX},
        )
        assert coverage.status_code == 200, coverage.text
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type="patient_coverage",
            patient_id=pid,
            actor=desk,
            since=since,
            route="POST /patients/{patient_id}/coverages",
        )

        problem = await c.post(
            f"/patients/{pid}/problems", data={"code": "m5450"}, headers={**headers, **HTMX}
        )
        assert problem.status_code == 200, problem.text
        assert "M54.50" in problem.text
        await assert_audited(
            db,
            tenant,
            action="create",
            resource_type="patient_problem",
            patient_id=pid,
            actor=desk,
            since=since,
            route="POST /patients/{patient_id}/problems",
        )

        inactivated = await c.post(
            f"/patients/{pid}/inactivate",
            data={"confirm": "1", "reason": "moved away"},
            headers=headers,
            follow_redirects=False,
        )
        assert inactivated.status_code == 303
        event = await assert_audited(
            db,
            tenant,
            action="update",
            resource_type="patient",
            patient_id=pid,
            actor=desk,
            since=since,
            route="POST /patients/{patient_id}/inactivate",
        )
        assert event.detail["inactivated"] is True


# -- list and search ----------------------------------------------------------------------


async def test_patient_list_search_fragment_and_pages(db, make_tenant, make_user, client_as):
    tenant = await make_tenant()
    desk = await make_user(tenant, roles=("front_desk",))
    for number in range(23):
        await add_patient(db, tenant, given_name=f"Pat{number:02d}", family_name="Paging")
    await add_patient(db, tenant, given_name="José", family_name="Muñoz", preferred_name="Pepe")
    async with await client_as(tenant, desk) as c:
        home = await c.get("/")
        assert 'href="/patients"' in home.text  # the navigation entry

        whole = await c.get("/patients")
        assert whole.status_code == 200
        assert "<html" in whole.text and 'role="search"' in whole.text
        search_box = form_field(whole.text, "patient-q")
        for attribute in (
            'hx-get="/patients"',
            'hx-trigger="input changed delay:250ms, search"',
            'hx-push-url="true"',
            'hx-target="#patient-results"',
        ):
            assert attribute in search_box
        assert '<label for="patient-q">' in whole.text
        assert 'href="/patients/new"' in whole.text
        assert "24 patients" in whole.text and "page 1 of 2" in whole.text
        assert 'href="/patients?status=active&amp;page=2"' in whole.text

        second = await c.get("/patients", params={"page": "2"})
        assert second.text.count('<th scope="row">') == 4
        assert 'rel="prev"' in second.text

        fragment = await c.get(
            "/patients", params={"q": "munoz"}, headers={**HTMX, "HX-Target": "patient-results"}
        )
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert 'id="patient-results"' in fragment.text
        assert "Muñoz, José “Pepe”" in fragment.text
        assert "Paging" not in fragment.text
        assert 'hx-swap-oob="innerHTML"' in fragment.text  # the live count, out of band

        by_given_family = await c.get("/patients", params={"q": "pepe mu"})
        assert "Muñoz" in by_given_family.text

        none = await c.get("/patients", params={"q": "nobody"})
        assert "No patients match" in none.text

        bad_date = await c.get("/patients", params={"q": "2020-13-45"})
        assert bad_date.status_code == 422
        assert 'role="alert"' in bad_date.text and "is not a date" in bad_date.text

        bad_page = await c.get("/patients", params={"page": "two"})
        assert bad_page.status_code == 422 and "whole number" in bad_page.text


def test_age_is_said_in_years_months_or_days():
    today = dt.date(2024, 3, 10)
    assert age(dt.date(1980, 3, 11), today) == "43 years"
    assert age(dt.date(1980, 3, 10), today) == "44 years"
    assert age(dt.date(2023, 1, 11), today) == "13 months"
    assert age(dt.date(2024, 2, 9), today) == "1 month"
    assert age(dt.date(2024, 3, 1), today) == "9 days"


# -- create ---------------------------------------------------------------------------------


async def test_new_patient_errors_are_inline_with_422(db, make_tenant, make_user, client_as, csrf_headers):
    tenant = await make_tenant()
    desk = await make_user(tenant, roles=("front_desk",))
    async with await client_as(tenant, desk) as c:
        blank = await c.get("/patients/new")
        assert blank.status_code == 200
        assert '<label for="patient-birth-date">' in blank.text
        assert 'hx-post="/patients"' in blank.text

        headers = await csrf_headers(c)
        response = await c.post(
            "/patients",
            data={"given_name": "Alan", "family_name": "Turing", "birth_date": "", "email": "not-an-email"},
            headers={**headers, **HTMX},
        )
        assert response.status_code == 422
        html = response.text
        assert "<html" not in html  # the form fragment only
        birth = form_field(html, "patient-birth-date")
        assert 'aria-invalid="true"' in birth and "patient-birth-date-error" in birth
        assert 'id="patient-birth-date-error"' in html and "Enter the birth date." in html
        assert 'aria-invalid="true"' in form_field(html, "patient-email")
        assert "name@example.com" in html
        assert "aria-invalid" not in form_field(html, "patient-given-name")
        assert 'value="Turing"' in form_field(html, "patient-family-name")  # what was typed stays
        assert 'aria-live="polite"' in html and 'role="alert"' in html

        future = await c.post(
            "/patients",
            data={"given_name": "Alan", "family_name": "Turing", "birth_date": "2999-01-01"},
            headers={**headers, **HTMX},
        )
        assert future.status_code == 422
        assert "2999-01-01 is in the future" in future.text
        assert 'aria-invalid="true"' in form_field(future.text, "patient-birth-date")

        # without JavaScript: the whole page, same errors
        plain = await c.post("/patients", data={"given_name": "Alan", "_csrf": headers["X-CSRF-Token"]})
        assert plain.status_code == 422
        assert "<html" in plain.text and "Enter the family name." in plain.text
    assert await count_patients(db, tenant) == 0


async def test_duplicate_warning_then_create_anyway(db, make_tenant, make_user, client_as, csrf_headers):
    tenant = await make_tenant()
    desk = await make_user(tenant, roles=("front_desk",))
    existing = await add_patient(db, tenant, given_name="Mary", family_name="Shelley")
    form = {"given_name": "mary", "family_name": "SHELLEY", "birth_date": "1980-12-10"}
    async with await client_as(tenant, desk) as c:
        headers = await csrf_headers(c)
        warned = await c.post("/patients", data=form, headers={**headers, **HTMX})
        assert warned.status_code == 409
        assert f'href="/patients/{existing}"' in warned.text
        assert "Possible duplicate" in warned.text
        assert 'name="confirm_duplicate"' in warned.text
        assert await count_patients(db, tenant) == 1

        created = await c.post(
            "/patients", data={**form, "confirm_duplicate": "1"}, headers=headers, follow_redirects=False
        )
        assert created.status_code == 303
        new_id = uuid.UUID(created.headers["location"].rsplit("/", 1)[1])
        assert new_id != existing
    assert await count_patients(db, tenant) == 2
    await assert_audited(db, tenant, action="create", patient_id=new_id, actor=desk)


# -- the chart ------------------------------------------------------------------------------


async def test_chart_header_and_panels(db, make_tenant, make_user, client_as, csrf_headers):
    tenant = await make_tenant()
    desk = await make_user(tenant, roles=("front_desk", "clinician"))
    zone = "Pacific/Kiritimati"  # UTC+14: its date is ahead of UTC's for most of the day
    async with db.session() as session:
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(time_zone=zone))
        await session.commit()
    today = dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()
    birthday = today.replace(year=today.year - 30) if (today.month, today.day) != (2, 29) else today
    pid = await add_patient(
        db, tenant, given_name="Robert", family_name="Smalls", preferred_name="Bob", birth_date=birthday
    )
    async with await client_as(tenant, desk) as c:
        chart = (await c.get(f"/patients/{pid}")).text
        assert "Smalls, Robert" in chart and "“Bob”" in chart
        if birthday != today:
            assert "30 years" in chart  # the birthday is today in the clinic's zone
        assert 'id="allergy-badges"' in chart and "No known allergies" in chart
        assert "No active coverage" in chart
        for heading in ("Problems", "Allergies", "Insurance coverage", "Medications", "Encounters"):
            assert f">{heading}</h2>" in chart
        assert 'role="banner"' in chart and '<main id="main"' in chart

        headers = {**(await csrf_headers(c)), **HTMX}
        added = await c.post(
            f"/patients/{pid}/allergies", data={"substance": "Peanuts", "severity": "severe"}, headers=headers
        )
        assert added.status_code == 200
        assert 'id="allergies"' in added.text and "Allergy to Peanuts added." in added.text
        assert re.search(r'id="allergy-badges"[^>]*hx-swap-oob="true"', added.text)
        assert 'class="badge allergy severe"' in added.text
        await c.post(
            f"/patients/{pid}/coverages",
            data={"payer_name": "Second Payer", "member_id": "S-2", "priority": "secondary"},
            headers=headers,
        )
        await c.post(
            f"/patients/{pid}/coverages",
            data={"payer_name": "First Payer", "member_id": "F-1", "priority": "primary"},
            headers=headers,
        )

        chart = (await c.get(f"/patients/{pid}")).text
        header = chart.split('id="coverage-summary"', 1)[1].split("</div>", 1)[0]
        assert header.index("First Payer") < header.index("Second Payer")
        assert "member F-1" in header
        assert "No known allergies" not in chart


async def test_chart_forms_show_errors_inline(db, make_tenant, make_user, client_as, csrf_headers):
    tenant = await make_tenant()
    desk = await make_user(tenant, roles=("front_desk", "clinician"))
    pid = await add_patient(db, tenant)
    async with await client_as(tenant, desk) as c:
        headers = await csrf_headers(c)
        hx = {**headers, **HTMX}

        blank = await c.post(f"/patients/{pid}/allergies", data={"substance": " "}, headers=hx)
        assert blank.status_code == 422
        assert 'aria-invalid="true"' in form_field(blank.text, "allergy-substance")
        assert "Enter the substance." in blank.text
        assert "hx-swap-oob" not in blank.text

        first = await c.post(
            f"/patients/{pid}/coverages", data={"payer_name": "A", "member_id": "1"}, headers=hx
        )
        assert first.status_code == 200
        clash = await c.post(
            f"/patients/{pid}/coverages",
            data={"payer_name": "B", "member_id": "2", "priority": "primary", "effective_start": "soon"},
            headers=hx,
        )
        assert clash.status_code == 422
        assert "YYYY-MM-DD" in clash.text
        clash = await c.post(
            f"/patients/{pid}/coverages",
            data={"payer_name": "B", "member_id": "2", "priority": "primary"},
            headers=hx,
        )
        assert clash.status_code == 409
        assert 'aria-invalid="true"' in form_field(clash.text, "coverage-priority")
        assert "already has an active primary coverage" in clash.text

        category = await c.post(f"/patients/{pid}/problems", data={"code": "M54.5"}, headers=hx)
        assert category.status_code == 422
        assert "not a billable ICD-10-CM code" in category.text
        assert 'value="M54.5"' in form_field(category.text, "problem-code")

        options = await c.get("/patients/codes", params={"code": "low back pain"}, headers=HTMX)
        assert options.status_code == 200
        assert '<datalist id="problem-code-options">' in options.text
        assert 'value="M54.50"' in options.text
        assert (await c.get("/patients/codes")).text.count("<option") == 0

        unconfirmed = await c.post(f"/patients/{pid}/inactivate", data={"reason": "x"}, headers=hx)
        assert unconfirmed.status_code == 422
        assert "Tick the box" in unconfirmed.text

        # without JavaScript: the whole chart at 422, the error next to its field
        plain = await c.post(
            f"/patients/{pid}/allergies", data={"substance": "", "_csrf": headers["X-CSRF-Token"]}
        )
        assert plain.status_code == 422
        assert "<html" in plain.text and "Enter the substance." in plain.text
        ok = await c.post(
            f"/patients/{pid}/allergies",
            data={"substance": "Latex", "_csrf": headers["X-CSRF-Token"]},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == f"/patients/{pid}#allergies"
    with tenant_scope(tenant.id):
        async with db.session() as session:
            assert (await session.get(Patient, (tenant.id, pid))).status == "active"


async def test_another_clinics_patient_is_404_and_audited(
    db, make_tenant, make_user, client_as, csrf_headers
):
    mine = await make_tenant()
    theirs = await make_tenant()
    desk = await make_user(mine, roles=("front_desk", "clinician"))
    foreign = await add_patient(db, theirs, given_name="Other", family_name="Clinic")
    since = dt.datetime.now(dt.UTC)
    async with await client_as(mine, desk) as c:
        response = await c.get(f"/patients/{foreign}")
        assert response.status_code == 404
        assert "<html" in response.text and "Other" not in response.text
        headers = await csrf_headers(c)
        for path, data in (
            ("allergies", {"substance": "Dust"}),
            ("coverages", {"payer_name": "X", "member_id": "1"}),
            ("problems", {"code": "M54.50"}),
            ("inactivate", {"confirm": "1"}),
        ):
            posted = await c.post(f"/patients/{foreign}/{path}", data=data, headers={**headers, **HTMX})
            assert posted.status_code == 404, path
        listed = await c.get("/patients", params={"q": "clinic"})
        assert "Other" not in listed.text
    await assert_audited(
        db, mine, action="read", patient_id=foreign, actor=desk, outcome="failure", since=since
    )
    with tenant_scope(theirs.id):
        async with db.session() as session:
            assert (await session.get(Patient, (theirs.id, foreign))).status == "active"


async def test_biller_reads_without_edit_forms(db, make_tenant, make_user, client_as, csrf_headers):
    tenant = await make_tenant()
    biller = await make_user(tenant, roles=("biller",))
    pid = await add_patient(db, tenant)
    async with await client_as(tenant, biller) as c:
        listed = await c.get("/patients")
        assert listed.status_code == 200 and "Lovelace" in listed.text
        assert 'href="/patients/new"' not in listed.text
        chart = await c.get(f"/patients/{pid}")
        assert chart.status_code == 200
        assert "<form" not in chart.text.split('<main id="main"', 1)[1]
        assert "Add an allergy" not in chart.text and "Inactivate" not in chart.text

        assert (await c.get("/patients/new")).status_code == 403
        headers = await csrf_headers(c)
        assert (await c.post("/patients", data={"given_name": "X"}, headers=headers)).status_code == 403
        posted = await c.post(f"/patients/{pid}/allergies", data={"substance": "Dust"}, headers=headers)
        assert posted.status_code == 403
        assert (
            await c.post(f"/patients/{pid}/inactivate", data={"confirm": "1"}, headers=headers)
        ).status_code == 403
    await assert_audited(db, tenant, action="denied", actor=biller, outcome="denied")


async def test_chart_shows_plugin_panels_only_when_enabled(db, make_tenant, make_user, client_as):
    with_plugin = await make_tenant(plugins=("sample",))
    without = await make_tenant()
    for tenant, expected in ((with_plugin, True), (without, False)):
        user = await make_user(tenant, roles=("clinician",))
        pid = await add_patient(db, tenant)
        async with await client_as(tenant, user) as c:
            chart = (await c.get(f"/patients/{pid}")).text
        assert ("<h2>Notes</h2><p>0 notes</p>" in chart) is expected


async def test_who_accessed_is_loaded_for_those_who_read_the_audit_log(db, make_tenant, make_user, client_as):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    desk = await make_user(tenant, roles=("front_desk",))
    pid = await add_patient(db, tenant)
    async with await client_as(tenant, owner) as c:
        chart = (await c.get(f"/patients/{pid}")).text
        assert f'hx-get="/audit/patients/{pid}"' in chart
        fragment = await c.get(f"/audit/patients/{pid}", headers=HTMX)
        assert fragment.status_code == 200 and "Who accessed this record" in fragment.text
    async with await client_as(tenant, desk) as c:
        chart = (await c.get(f"/patients/{pid}")).text
        assert "/audit/patients/" not in chart


async def test_chart_lists_the_patients_encounters(db, make_tenant, make_user, owner_engine, client_as):
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            session.add(
                Encounter(
                    patient_id=clinic.patient_id,
                    provider_id=clinic.provider_id,
                    location_id=clinic.location_id,
                    starts_at=dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC),
                    ends_at=dt.datetime(2026, 3, 2, 16, 15, tzinfo=dt.UTC),
                    type="evaluation",
                    place_of_service="11",
                )
            )
            await session.commit()
    desk = await make_user(clinic.tenant, roles=("front_desk",))
    since = dt.datetime.now(dt.UTC)
    async with await client_as(clinic.tenant, desk) as c:
        chart = (await c.get(f"/patients/{clinic.patient_id}")).text
    encounters = chart.split('id="encounters"', 1)[1].split("</section>", 1)[0]
    assert "2026-03-02 09:30" in encounters  # in the location's zone (Chicago)
    assert "Main" in encounters and "planned" in encounters
    event = await assert_audited(
        db,
        clinic.tenant,
        action="read",
        resource_type="core:encounters",
        patient_id=clinic.patient_id,
        since=since,
    )
    assert event.detail["via"] == "chart"


class BrokenPanel:
    """A plugin whose chart panel names a template that does not exist."""

    manifest = Manifest(name="broken_panel", version="1.0", title="Broken panel")

    @hookimpl
    def tessera_chart_panels(self, patient, request):
        return [ChartPanel(title="Broken", template="broken_panel/missing.html", order=1)]


async def test_a_broken_plugin_panel_does_not_break_the_chart(
    settings, db, make_tenant, make_user, session_store
):
    registry = build_registry(settings, extra_plugins=[BrokenPanel()])
    app = create_app(settings, registry=registry)
    tenant = await make_tenant(plugins=("sample",))
    async with db.session() as session:
        await enable_plugin(session, registry, tenant, "broken_panel")
        await session.commit()
    user = await make_user(tenant, roles=("clinician",))
    pid = await add_patient(db, tenant)
    session_id, _ = await session_store.create(user_id=user.id, tenant_id=tenant.id, mfa_verified=True)
    async with AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost") as c:
        c.cookies.set(COOKIE_NAME, session_id)
        response = await c.get(f"/patients/{pid}")
    assert response.status_code == 200
    assert "<h2>Broken</h2>" in response.text and "could not be shown" in response.text
    assert "<h2>Notes</h2><p>0 notes</p>" in response.text  # the other plugin's panel still shows
