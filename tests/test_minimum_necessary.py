"""Minimum necessary: each role reaches only the part of the record its work needs.

The front desk keeps demographics and coverage and may *report* an allergy the patient
states at intake (stored as patient-reported, never read back as a list); it writes no
problems or medications. The biller reads demographics, coverage and diagnoses (the
problem list), not allergies or medications. The clinician reads and writes the clinical
record and confirms what the front desk reported. docs/security.md, "Role matrix".
"""

from __future__ import annotations

from tests.test_patient_screens import HTMX, add_patient
from tests.test_patients_api import JANE, api  # noqa: F401 - the fixture

KINDS_BODY = {
    "allergies": {"substance": "Penicillin", "severity": "severe"},
    "problems": {"code": "E11.9"},
    "medications": {"name": "Metformin"},
    "coverages": {"payer_name": "Acme", "member_id": "1"},
}


async def _patient_with_records(api, tenant) -> str:  # noqa: F811
    async with await api(tenant, roles=("front_desk", "clinician")) as c:
        pid = (await c.post("/api/patients", json=JANE)).json()["id"]
        for kind, body in KINDS_BODY.items():
            assert (await c.post(f"/api/patients/{pid}/{kind}", json=body)).status_code == 201
    return pid


async def test_front_desk_writes_no_clinical_data_and_reports_allergies(make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    pid = await _patient_with_records(api, tenant)
    async with await api(tenant, roles=("front_desk",)) as desk:
        base = f"/api/patients/{pid}"
        assert (await desk.get(base)).status_code == 200
        assert (await desk.patch(base, json={"phone": "555 0100"})).status_code == 200
        assert (await desk.get(f"{base}/coverages")).status_code == 200
        assert (await desk.post(f"{base}/contacts", json={"name": "Sam"})).status_code == 201
        for kind in ("problems", "medications"):
            assert (await desk.post(f"{base}/{kind}", json=KINDS_BODY[kind])).status_code == 403, kind
        for kind in ("allergies", "problems", "medications"):
            assert (await desk.get(f"{base}/{kind}")).status_code == 403, kind
        # intake: what the patient says is recorded, as their report, whatever the body claims
        reported = await desk.post(
            f"{base}/allergies", json={"substance": "Latex", "verification": "confirmed"}
        )
        assert reported.status_code == 201, reported.text
        assert reported.json()["verification"] == "patient-reported"
        # ...and cannot be changed, confirmed or retired by the front desk
        changed = await desk.patch(f"{base}/allergies/{reported.json()['id']}", json={"status": "inactive"})
        assert changed.status_code == 403
    async with await api(tenant, roles=("clinician",)) as clinician:
        listed = {a["substance"]: a for a in (await clinician.get(f"{base}/allergies")).json()}
        assert listed["Latex"]["verification"] == "patient-reported"
        assert listed["Penicillin"]["verification"] == "confirmed"
        confirmed = await clinician.patch(
            f"{base}/allergies/{listed['Latex']['id']}", json={"verification": "confirmed"}
        )
        assert confirmed.status_code == 200 and confirmed.json()["verification"] == "confirmed"
        # a clinician may not write coverage (the front desk's and the owner's job), only read it
        assert (await clinician.get(f"{base}/coverages")).status_code == 200
        assert (await clinician.post(f"{base}/coverages", json=KINDS_BODY["coverages"])).status_code == 403


async def test_biller_sees_demographics_coverage_and_diagnoses_only(make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    pid = await _patient_with_records(api, tenant)
    async with await api(tenant, roles=("biller",)) as biller:
        base = f"/api/patients/{pid}"
        assert (await biller.get(base)).status_code == 200
        assert (await biller.get(f"{base}/coverages")).status_code == 200
        problems = await biller.get(f"{base}/problems")
        assert problems.status_code == 200 and problems.json()[0]["code"] == "E11.9"
        for kind in ("allergies", "medications"):
            assert (await biller.get(f"{base}/{kind}")).status_code == 403, kind
        for kind, body in KINDS_BODY.items():
            assert (await biller.post(f"{base}/{kind}", json=body)).status_code == 403, kind


async def test_chart_page_shows_each_role_only_its_sections(
    db,
    make_tenant,
    make_user,
    client_as,
    csrf_headers,
    api,  # noqa: F811
):
    tenant = await make_tenant()
    pid = await _patient_with_records(api, tenant)
    sections = ("problems", "allergies", "coverages", "medications", "encounters")
    expected = {
        "clinician": {"problems", "allergies", "coverages", "medications", "encounters"},
        "biller": {"problems", "coverages", "encounters"},
        "front_desk": {"allergies", "coverages", "encounters"},  # allergies: the report form only
    }
    for role, visible in expected.items():
        user = await make_user(tenant, roles=(role,))
        async with await client_as(tenant, user) as c:
            chart = await c.get(f"/patients/{pid}")
            assert chart.status_code == 200, (role, chart.text)
            shown = {kind for kind in sections if f'<section id="{kind}"' in chart.text}
            assert shown == visible, role
            if role != "clinician":
                assert "Metformin" not in chart.text, role
            if role == "front_desk":
                assert "Penicillin" not in chart.text and "allergy-badges" not in chart.text
                headers = await csrf_headers(c)
                posted = await c.post(
                    f"/patients/{pid}/allergies",
                    data={"substance": "Peanut"},
                    headers={**headers, **HTMX},
                )
                assert posted.status_code == 200, posted.text
                assert "Reported: Peanut" in posted.text and "Penicillin" not in posted.text
                problem = await c.post(
                    f"/patients/{pid}/problems", data={"code": "M54.50"}, headers={**headers, **HTMX}
                )
                assert problem.status_code == 403


async def test_a_new_patient_created_by_the_front_desk_gets_no_clinical_rows(
    db, make_tenant, make_user, client_as
):
    """Negative control of the chart test's shape: a patient without records still shows
    the front desk only its sections (nothing leaks through empty-state text)."""
    tenant = await make_tenant()
    pid = await add_patient(db, tenant)
    desk = await make_user(tenant, roles=("front_desk",))
    async with await client_as(tenant, desk) as c:
        chart = await c.get(f"/patients/{pid}")
    assert chart.status_code == 200
    assert "No medications recorded" not in chart.text and "No known allergies" not in chart.text
