"""Sub-resources of a patient (coverages, allergies, problems, medications, contacts),
ICD-10-CM validation and code search, and merging duplicates."""

from __future__ import annotations

import uuid

from tests.test_patients_api import JANE, api, events  # noqa: F401 - the fixture and helpers


async def _patient(c, **fields):
    response = await c.post("/api/patients", json={**JANE, "confirm_duplicate": True, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_allergies_medications_contacts(db, make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        pid = await _patient(c)
        base = f"/api/patients/{pid}"
        allergy = await c.post(
            f"{base}/allergies", json={"substance": "Penicillin", "reaction": "hives", "severity": "moderate"}
        )
        assert allergy.status_code == 201, allergy.text
        aid = allergy.json()["id"]
        assert allergy.json()["status"] == "active"
        bad = await c.post(f"{base}/allergies", json={"substance": "Peanut", "severity": "deadly"})
        assert bad.status_code == 400 and "severity" in bad.json()["detail"]
        blank = await c.post(f"{base}/allergies", json={"substance": "  "})
        assert blank.status_code == 422 and blank.json()["detail"] == "substance: must not be blank"
        resolved = await c.patch(f"{base}/allergies/{aid}", json={"status": "resolved"})
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
        listed = (await c.get(f"{base}/allergies")).json()
        assert [a["substance"] for a in listed] == ["Penicillin"]  # never deleted
        assert (await c.get(f"{base}/allergies", params={"status": "active"})).json() == []

        med = await c.post(
            f"{base}/medications",
            json={
                "name": "Ibuprofen",
                "dose": "400 mg",
                "route": "oral",
                "frequency": "q6h",
                "start_date": "2024-01-01",
            },
        )
        assert med.status_code == 201, med.text
        mid = med.json()["id"]
        backwards = await c.patch(f"{base}/medications/{mid}", json={"end_date": "2023-12-31"})
        assert backwards.status_code == 422
        assert backwards.json()["detail"] == "end_date: must be on or after start_date (2024-01-01)"
        done = await c.patch(
            f"{base}/medications/{mid}", json={"end_date": "2024-02-01", "status": "completed"}
        )
        assert done.json()["status"] == "completed" and done.json()["end_date"] == "2024-02-01"

        contact = await c.post(
            f"{base}/contacts", json={"name": "Sam Example", "relationship": "sibling", "phone": "555 0102"}
        )
        assert contact.status_code == 201
        assert [x["name"] for x in (await c.get(base)).json()["emergency_contacts"]] == ["Sam Example"]
        await c.patch(f"{base}/contacts/{contact.json()['id']}", json={"status": "inactive"})
        assert (await c.get(base)).json()["emergency_contacts"] == []

        missing = await c.patch(f"{base}/allergies/{uuid.uuid4()}", json={"status": "inactive"})
        assert missing.status_code == 404
        # another patient's row cannot be reached through this patient
        other = await _patient(c, given_name="Other")
        wrong = await c.patch(f"/api/patients/{other}/allergies/{aid}", json={"status": "inactive"})
        assert wrong.status_code == 404
    created = await events(db, tenant, action="create", resource_type="patient_allergy")
    assert [e.resource_id for e in created] == [aid] and created[0].patient_id == uuid.UUID(pid)
    [update] = await events(db, tenant, action="update", resource_type="patient_allergy")
    assert update.detail == {"fields": ["status"]}
    reads = await events(db, tenant, action="read", resource_type="patient_allergy")
    assert len(reads) == 2 and reads[0].detail == {"list": "allergies", "results": 1}


async def test_coverages_one_active_per_priority(make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        pid = await _patient(c)
        base = f"/api/patients/{pid}/coverages"
        primary = await c.post(
            base,
            json={
                "payer_name": "Acme Health",
                "plan_name": "PPO Gold",
                "member_id": "XJ123",
                "group_number": "G-77",
                "subscriber_name": "John Example",
                "subscriber_birth_date": "1978-05-05",
                "relationship": "spouse",
                "priority": "primary",
                "effective_start": "2024-01-01",
            },
        )
        assert primary.status_code == 201, primary.text
        assert primary.json()["relationship"] == "spouse"
        clash = await c.post(base, json={"payer_name": "Other", "member_id": "1", "priority": "primary"})
        assert clash.status_code == 409 and clash.json()["detail"].startswith(
            "priority: this patient already has an active primary"
        )
        secondary = await c.post(
            base, json={"payer_name": "Other", "member_id": "1", "priority": "secondary"}
        )
        assert secondary.status_code == 201
        promote = await c.patch(f"{base}/{secondary.json()['id']}", json={"priority": "primary"})
        assert promote.status_code == 409
        await c.patch(f"{base}/{primary.json()['id']}", json={"status": "inactive"})
        promote = await c.patch(f"{base}/{secondary.json()['id']}", json={"priority": "primary"})
        assert promote.status_code == 200 and promote.json()["priority"] == "primary"
        reactivate = await c.patch(f"{base}/{primary.json()['id']}", json={"status": "active"})
        assert reactivate.status_code == 409
        dates = await c.post(
            base,
            json={
                "payer_name": "X",
                "member_id": "2",
                "priority": "tertiary",
                "effective_start": "2024-05-01",
                "effective_end": "2024-04-01",
            },
        )
        assert dates.status_code == 422 and dates.json()["detail"].startswith("effective_end:")
        relation = await c.post(base, json={"payer_name": "X", "member_id": "2", "relationship": "cousin"})
        assert relation.status_code == 400 and "relationship" in relation.json()["detail"]
        assert len((await c.get(base)).json()) == 2


async def test_problems_take_billable_icd10_codes(make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        pid = await _patient(c)
        base = f"/api/patients/{pid}/problems"
        ok = await c.post(base, json={"code": "m5450", "onset_date": "2023-03-01"})
        assert ok.status_code == 201, ok.text
        assert ok.json()["code"] == "M54.50" and ok.json()["description"] == "Low back pain, unspecified"
        category = await c.post(base, json={"code": "M54.5"})
        assert category.status_code == 422
        assert category.json()["detail"].startswith("code: M54.5 is not a billable ICD-10-CM code")
        assert "M54.50" in category.json()["detail"]
        nonsense = await c.post(base, json={"code": "XYZ"})
        assert nonsense.status_code == 422 and nonsense.json()["detail"].startswith(
            "code: XYZ is not an ICD-10-CM code"
        )
        future = await c.post(base, json={"code": "E11.9", "onset_date": "2999-01-01"})
        assert future.status_code == 422 and future.json()["detail"].startswith("onset_date:")
        recode = await c.patch(f"{base}/{ok.json()['id']}", json={"code": "M54.51"})
        assert recode.json()["description"] == "Vertebrogenic low back pain"
        bad_recode = await c.patch(f"{base}/{ok.json()['id']}", json={"code": "M54"})
        assert bad_recode.status_code == 422
        resolved = await c.patch(f"{base}/{ok.json()['id']}", json={"status": "resolved"})
        assert resolved.json()["status"] == "resolved" and resolved.json()["code"] == "M54.51"


async def test_icd10_code_search(make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        by_code = (await c.get("/api/icd10", params={"q": "M54.5"})).json()
        assert [r["code"] for r in by_code] == ["M54.50", "M54.51", "M54.59"]  # leaves only
        assert (await c.get("/api/icd10", params={"q": "m545"})).json() == by_code
        by_words = (await c.get("/api/icd10", params={"q": "low back pain"})).json()
        assert {"code": "M54.50", "description": "Low back pain, unspecified"} in by_words
        many = (await c.get("/api/icd10", params={"q": "diabetes"})).json()
        assert len(many) == 20
        assert (await c.get("/api/icd10", params={"q": "qqqzzz"})).json() == []
        empty = await c.get("/api/icd10", params={"q": ""})
        assert empty.status_code == 400 and "q" in empty.json()["detail"]
    async with await api(tenant, roles=("auditor",)) as auditor:
        assert (await auditor.get("/api/icd10", params={"q": "M54"})).status_code == 403


async def test_merge_moves_records_and_keeps_a_trail(db, make_tenant, api):  # noqa: F811
    tenant = await make_tenant()
    async with await api(tenant) as c:
        keep = await _patient(c)
        dup = await _patient(c, given_name="Janet")
        for pid, payer in ((keep, "Keep Health"), (dup, "Dup Health")):
            await c.post(f"/api/patients/{pid}/coverages", json={"payer_name": payer, "member_id": "1"})
        await c.post(
            f"/api/patients/{dup}/coverages",
            json={"payer_name": "Dup Second", "member_id": "2", "priority": "secondary"},
        )
        await c.post(f"/api/patients/{dup}/allergies", json={"substance": "Latex"})
        await c.post(f"/api/patients/{dup}/problems", json={"code": "E11.9"})
        await c.post(f"/api/patients/{dup}/medications", json={"name": "Metformin"})
        await c.post(f"/api/patients/{dup}/contacts", json={"name": "Pat Contact"})

        itself = await c.post(f"/api/patients/{dup}/merge", json={"into": dup})
        assert itself.status_code == 400 and "itself" in itself.json()["detail"]
        merged = await c.post(f"/api/patients/{dup}/merge", json={"into": keep})
        assert merged.status_code == 200, merged.text
        body = merged.json()
        assert body["moved"] == {
            "contacts": 1,
            "coverages": 2,
            "allergies": 1,
            "problems": 1,
            "medications": 1,
        }
        assert body["merged"]["status"] == "inactive" and body["merged"]["merged_into_id"] == keep
        assert [x["name"] for x in body["survivor"]["emergency_contacts"]] == ["Pat Contact"]
        assert len(body["coverages_inactivated"]) == 1  # the duplicate's primary clashed

        coverages = (await c.get(f"/api/patients/{keep}/coverages")).json()
        assert {(x["payer_name"], x["status"]) for x in coverages} == {
            ("Keep Health", "active"),
            ("Dup Health", "inactive"),
            ("Dup Second", "active"),
        }
        assert [a["substance"] for a in (await c.get(f"/api/patients/{keep}/allergies")).json()] == ["Latex"]
        assert (await c.get(f"/api/patients/{dup}/allergies")).json() == []
        assert (await c.get(f"/api/patients/{dup}")).json()["merged_into_id"] == keep

        again = await c.post(f"/api/patients/{dup}/merge", json={"into": keep})
        assert again.status_code == 409
        into_merged = await c.post(f"/api/patients/{keep}/merge", json={"into": dup})
        assert into_merged.status_code == 409 and into_merged.json()["detail"].startswith("into:")
        write_merged = await c.post(f"/api/patients/{dup}/allergies", json={"substance": "Dust"})
        assert write_merged.status_code == 409
        inactive = await _patient(c, given_name="Gone")
        await c.post(f"/api/patients/{inactive}/inactivate")
        into_inactive = await c.post(f"/api/patients/{keep}/merge", json={"into": inactive})
        assert into_inactive.status_code == 409
        missing = await c.post(f"/api/patients/{keep}/merge", json={"into": "not-a-uuid"})
        assert missing.status_code == 400 and "into" in missing.json()["detail"]
    updates = await events(db, tenant, action="update", resource_type="patient")
    merges = [e for e in updates if "merge" in e.detail]
    assert {(str(e.patient_id), e.detail["merge"]) for e in merges} == {
        (dup, "merged_into"),
        (keep, "survivor"),
    }


async def test_merge_across_tenants_is_404_and_audited(db, make_tenant, api):  # noqa: F811
    a, b = await make_tenant(), await make_tenant()
    async with await api(a) as ca:
        theirs = await _patient(ca)
    async with await api(b) as cb:
        mine = await _patient(cb)
        response = await cb.post(f"/api/patients/{mine}/merge", json={"into": theirs})
        assert response.status_code == 404
        assert (await cb.get(f"/api/patients/{mine}")).json()["status"] == "active"
    [failed] = await events(db, b, patient_id=uuid.UUID(theirs))
    assert failed.action == "read" and failed.outcome == "failure"
    async with await api(a) as ca:
        assert (await ca.get(f"/api/patients/{theirs}")).json()["status"] == "active"
