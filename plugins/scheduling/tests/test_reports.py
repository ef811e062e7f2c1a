"""Reports: per-provider counts, no-show rate and utilisation for a range of local days,
checked against figures worked out by hand below; the location filter; input errors;
who may read them; isolation."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from litestar.testing import AsyncTestClient

from core.tenancy import tenant_scope
from plugins.scheduling.models import AvailabilityException, AvailabilityTemplate
from plugins.scheduling.tests.sample_clinic import add_appointment, make_sample_clinic
from tests.test_practice_api import bearer

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")  # CST, UTC-6, all through 1-7 March 2026
WEEK = {"from": "2026-03-02", "to": "2026-03-06"}  # Monday to Friday


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=CHICAGO)


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    clinic = await make_sample_clinic(db, make_tenant, make_user, owner_engine)
    p1, p2, main, annex = clinic.provider_id, clinic.provider2_id, clinic.main_id, clinic.annex_id
    since = dt.date(2026, 1, 1)
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            session.add_all(
                [
                    # provider 1: Mon + Wed 08-12 at Main (480 min), Tue 13-17 at the Annex (240)
                    AvailabilityTemplate(provider_id=p1, location_id=main, weekday=0, start_time=dt.time(8),
                                         end_time=dt.time(12), valid_from=since),
                    AvailabilityTemplate(provider_id=p1, location_id=main, weekday=2, start_time=dt.time(8),
                                         end_time=dt.time(12), valid_from=since),
                    AvailabilityTemplate(provider_id=p1, location_id=annex, weekday=1, start_time=dt.time(13),
                                         end_time=dt.time(17), valid_from=since),
                    # ... minus Wed 10-12 off (everywhere): -120; plus Fri 09-10 extra at Main: +60
                    AvailabilityException(provider_id=p1, location_id=None, kind="time-off",
                                          starts_at=local(4, 10), ends_at=local(4, 12), reason="dentist"),
                    AvailabilityException(provider_id=p1, location_id=main, kind="extra-hours",
                                          starts_at=local(6, 9), ends_at=local(6, 10)),
                    # provider 2: Thu 09-17 at Main (480); a template that ended before the week
                    AvailabilityTemplate(provider_id=p2, location_id=main, weekday=3, start_time=dt.time(9),
                                         end_time=dt.time(17), valid_from=since),
                    AvailabilityTemplate(provider_id=p2, location_id=main, weekday=4, start_time=dt.time(9),
                                         end_time=dt.time(17), valid_from=since,
                                         valid_until=dt.date(2026, 2, 27)),
                ]
            )  # fmt: skip
            await session.commit()

    async def add(when, **kw):
        await add_appointment(db, clinic, when, **kw)

    # provider 1
    await add(local(2, 8), status="completed")
    await add(local(2, 9), status="arrived")
    await add(local(2, 10), status="no-show")
    await add(local(3, 13), status="completed", minutes=60, location_id=annex)
    await add(local(3, 14), status="cancelled", location_id=annex, cancelled_at=local(1, 9))  # 2 days ahead
    await add(local(4, 8), status="cancelled", cancelled_at=local(4, 6))  # 2 hours ahead: late
    await add(local(4, 9), status="booked")
    await add(local(6, 9), status="confirmed", minutes=30)
    await add(local(6, 23), status="booked", minutes=30)  # Friday 23:00 local is Saturday in UTC: counts
    await add(local(1, 23, 30), status="completed")  # Sunday 23:30 local is Monday in UTC: does not
    await add(local(7, 8), status="completed")  # Saturday: outside
    # provider 2
    await add(local(5, 9), status="no-show", provider_id=p2)
    await add(local(5, 10), status="no-show", provider_id=p2)
    await add(local(5, 11), status="completed", minutes=60, provider_id=p2)
    return clinic


def api(app, tenant, headers) -> AsyncTestClient:
    client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    client.headers.update(headers)
    return client


async def report(app, db, clinic, role="front_desk", **params):
    async with api(app, clinic.tenant, await bearer(db, clinic.tenant, clinic.users[role])) as client:
        return await client.get("/api/scheduling/reports/utilisation", params=params)


async def test_figures_per_provider_match_the_hand_computed_ones(app, db, clinic):
    response = await report(app, db, clinic, **WEEK)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["time_zone"] == "America/Chicago" and body["from"] == "2026-03-02"
    first, second = body["providers"]  # by name: Lee Chen, then Sam Patel
    assert second["provider"] == "Sam Patel, PT, DPT" and first["provider"] == "Lee Chen, PT"
    assert second == {
        "provider_id": str(clinic.provider_id),
        "provider": "Sam Patel, PT, DPT",
        "appointments": 9,
        "completed": 2,
        "arrived": 1,
        "no_shows": 1,
        "cancellations": 2,
        "late_cancellations": 1,
        "booked_minutes": 45 + 45 + 60 + 45 + 30 + 30,  # completed, arrived, booked, confirmed
        "available_minutes": 240 + 240 + 240 - 120 + 60,
        "no_show_rate": 0.25,  # 1 / (2 + 1 + 1)
        "utilisation": round(255 / 660, 4),
    }
    assert first["appointments"] == 3 and first["no_shows"] == 2 and first["completed"] == 1
    assert first["no_show_rate"] == round(2 / 3, 4)
    assert first["booked_minutes"] == 60 and first["available_minutes"] == 480
    assert first["utilisation"] == 0.125
    totals = body["totals"]
    assert totals["appointments"] == 12 and totals["no_shows"] == 3
    assert totals["no_show_rate"] == round(3 / 7, 4)
    assert totals["utilisation"] == round(315 / 1140, 4)
    assert set(body["definitions"]) >= {"no_show_rate", "utilisation"}


async def test_one_location_counts_only_its_appointments_and_working_time(app, db, clinic):
    body = (await report(app, db, clinic, location_id=str(clinic.main_id), **WEEK)).json()
    sam = next(p for p in body["providers"] if p["provider_id"] == str(clinic.provider_id))
    assert sam["appointments"] == 7 and sam["cancellations"] == 1 and sam["late_cancellations"] == 1
    assert sam["booked_minutes"] == 45 + 45 + 45 + 30 + 30
    assert sam["available_minutes"] == 240 + 240 - 120 + 60
    annex = (await report(app, db, clinic, location_id=str(clinic.annex_id), **WEEK)).json()
    (only,) = annex["providers"]
    assert only["appointments"] == 2 and only["available_minutes"] == 240 and only["booked_minutes"] == 60


async def test_a_range_without_working_time_has_no_rate_rather_than_a_division_by_zero(app, db, clinic):
    body = (await report(app, db, clinic, **{"from": "2026-03-07", "to": "2026-03-08"})).json()
    (sam,) = body["providers"]
    assert sam["appointments"] == 1 and sam["available_minutes"] == 0 and sam["utilisation"] is None
    assert sam["no_show_rate"] == 0.0
    empty = (await report(app, db, clinic, **{"from": "2025-01-06", "to": "2025-01-06"})).json()
    assert empty["providers"] == [] and empty["totals"]["no_show_rate"] is None


async def test_bad_ranges_are_422_naming_the_field(app, db, clinic):
    def fields(response):
        assert response.status_code == 422, response.text
        return {e["field"] for e in response.json()["extra"]["errors"]}

    assert fields(await report(app, db, clinic)) == {"from", "to"}
    assert fields(await report(app, db, clinic, **{"from": "2026-03-06", "to": "2026-03-02"})) == {"to"}
    assert fields(await report(app, db, clinic, **{"from": "2026-03-02", "to": "2027-03-03"})) == {"to"}
    assert fields(await report(app, db, clinic, **{"from": "02/03/2026", "to": "2026-03-02"})) == {"from"}
    assert fields(await report(app, db, clinic, location_id="main", **WEEK)) == {"location_id"}


async def test_who_may_read_reports(app, db, clinic):
    for role in ("owner", "front_desk", "clinician", "biller"):
        assert (await report(app, db, clinic, role=role, **WEEK)).status_code == 200, role


async def test_the_reports_page_shows_the_figures_and_their_definitions(db, clinic, client_as):
    async with await client_as(clinic.tenant, clinic.users["biller"]) as client:
        page = await client.get("/scheduling/reports", params=WEEK)
        assert page.status_code == 200
        assert "Sam Patel" in page.text and "25.0 %" in page.text and "66.7 %" in page.text
        assert "completed + arrived + no-shows" in page.text
        default = await client.get("/scheduling/reports")
        assert default.status_code == 200 and 'name="from"' in default.text
        refused = await client.get("/scheduling/reports", params={"from": "2026-03-06", "to": "2026-03-02"})
        assert refused.status_code == 422
        assert 'class="field-error"' in refused.text and 'value="2026-03-06"' in refused.text


async def test_other_clinics_locations_and_clinics_without_scheduling_get_404(
    app, db, clinic, make_tenant, make_user, owner_engine, client_as
):
    other = await make_sample_clinic(db, make_tenant, make_user, owner_engine, name="Other PT")
    foreign = await report(app, db, other, location_id=str(clinic.main_id), **WEEK)
    assert foreign.status_code == 404
    # the other clinic sees none of this clinic's figures
    assert (await report(app, db, other, **WEEK)).json()["providers"] == []

    plain = await make_tenant(name="No Scheduling")
    owner = await make_user(plain, roles=("owner",))
    async with api(app, plain, await bearer(db, plain, owner)) as client:
        assert (await client.get("/api/scheduling/reports/utilisation", params=WEEK)).status_code == 404
    async with await client_as(plain, owner) as client:
        assert (await client.get("/scheduling/reports")).status_code == 404
