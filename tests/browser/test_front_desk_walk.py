"""The front desk's walk in a real browser: sign in, find a patient by typing, register a
new one (meeting a validation error first), land on the chart, and record an allergy the
patient reports and a coverage that appears in the header, without a page load."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from core.patients import schemas as s
from core.patients import services
from core.patients.models import Patient, PatientAllergy, PatientCoverage
from core.tenancy import tenant_scope

PASSWORD = "correct horse battery"


async def test_front_desk_finds_registers_and_charts_a_patient(
    db, make_tenant, make_user, live_server, browser_page
):
    tenant = await make_tenant(name="Front Desk Clinic")
    desk = await make_user(tenant, roles=("front_desk",), password=PASSWORD, name="Frankie Desk")
    with tenant_scope(tenant.id):
        async with db.session() as session:
            for given, family in (("Ada", "Lovelace"), ("Charles", "Babbage")):
                await services.create_patient(
                    session,
                    s.PatientCreate(given_name=given, family_name=family, birth_date=dt.date(1970, 1, 2)),
                )
            await session.commit()

    page = browser_page
    base = f"http://{tenant.slug}.localhost:{live_server}"

    # 1. Sign in through the real sign-in page; it returns to the patient list.
    await page.goto(f"{base}/patients")
    assert "/login" in page.url
    await page.get_by_label("E-mail address").fill(desk.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/patients$"))
    results = page.locator("#patient-results")
    await results.get_by_role("link", name=re.compile("Babbage")).wait_for()

    # 2. Search as you type: the results change in place and the address follows.
    await page.evaluate("window.__sameDocument = true")
    await page.get_by_label("Search", exact=True).press_sequentially("love", delay=40)
    await results.get_by_role("link", name=re.compile("Babbage")).wait_for(state="detached")
    await results.get_by_role("link", name="Lovelace, Ada").wait_for()
    await page.wait_for_url(re.compile(r"/patients\?q=love"))
    assert await page.evaluate("window.__sameDocument") is True

    # 3. A new patient: the missing birth date is reported next to its field...
    await page.get_by_role("link", name="New patient").click()
    await page.wait_for_url(re.compile(r"/patients/new$"))
    await page.get_by_role("textbox", name="Given name", exact=True).fill("Katherine")
    await page.get_by_role("textbox", name="Family name", exact=True).fill("Johnson")
    await page.get_by_role("button", name="Save patient").click()
    error = page.locator("#patient-birth-date-error")
    await error.wait_for()
    assert await error.inner_text() == "Enter the birth date."
    birth_date = page.get_by_label(re.compile(r"^Birth date"))
    assert await birth_date.get_attribute("aria-invalid") == "true"
    assert await page.get_by_role("textbox", name="Family name", exact=True).input_value() == "Johnson"

    # ...and once corrected the chart opens.
    await birth_date.fill("1918-08-26")
    await page.get_by_role("button", name="Save patient").click()
    await page.wait_for_url(re.compile(r"/patients/[0-9a-f-]{36}$"))
    await page.get_by_role("heading", level=1, name=re.compile("Johnson, Katherine")).wait_for()
    coverages = page.locator("#coverage-summary")
    # minimum necessary: the front desk does not read the allergy list (no header badges)
    assert await page.locator("#allergy-badges").count() == 0
    patient_id = page.url.rsplit("/", 1)[1]

    # 4. An allergy the patient reports and a coverage, without a page load: the allergy is
    # acknowledged as reported (the front desk records it, a clinician confirms it).
    await page.evaluate("window.__sameDocument = true")
    await page.get_by_role("textbox", name="Substance").fill("Penicillin")
    await page.get_by_label("Severity").select_option("severe")
    await page.get_by_role("button", name="Add allergy").click()
    await page.locator("#allergies", has_text="Reported: Penicillin").wait_for()

    await page.get_by_role("textbox", name="Payer").fill("Acme Health")
    await page.get_by_role("textbox", name="Member ID").fill("M-2024-77")
    await page.get_by_role("button", name="Add coverage").click()
    await coverages.get_by_text(re.compile("Acme Health")).wait_for()
    assert "member M-2024-77" in await coverages.inner_text()
    await page.locator("#coverages td", has_text="M-2024-77").wait_for()
    assert await page.evaluate("window.__sameDocument") is True

    with tenant_scope(tenant.id):
        async with db.session() as session:
            patient = await session.scalar(select(Patient).where(Patient.family_name == "Johnson"))
            assert str(patient.id) == patient_id
            assert patient.birth_date == dt.date(1918, 8, 26)
            allergy = await session.scalar(
                select(PatientAllergy).where(PatientAllergy.patient_id == patient.id)
            )
            assert (allergy.substance, allergy.severity, allergy.verification) == (
                "Penicillin",
                "severe",
                "patient-reported",
            )
            coverage = await session.scalar(
                select(PatientCoverage).where(PatientCoverage.patient_id == patient.id)
            )
            assert (coverage.payer_name, coverage.member_id, coverage.priority) == (
                "Acme Health",
                "M-2024-77",
                "primary",
            )
