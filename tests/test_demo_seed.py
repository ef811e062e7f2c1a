"""``make run``'s demo data: three clinics with staff, locations, a provider and about 200
synthetic patients each; fast, deterministic and idempotent (a second run adds nothing)."""

from __future__ import annotations

import unicodedata

from sqlalchemy import func, select

from core.auth.models import Membership, PlatformOperator, User
from core.auth.passwords import verify_password
from core.demo import DEMO_OPERATOR, DEMO_PASSWORD, DEMO_PATIENTS, DEMO_TENANTS, demo_email, demo_patients
from core.devserver import enable_newly_installed, seed_demo_tenants
from core.patients.models import MrnCounter, Patient, PatientAllergy, PatientCoverage, PatientProblem
from core.practice.models import Location, Provider, ProviderLocation
from core.tenancy import tenant_scope
from core.tenancy.models import Tenant
from plugins.scheduling.models import Appointment, AvailabilityTemplate

COUNTED = (
    Membership,
    Location,
    Provider,
    ProviderLocation,
    Patient,
    PatientCoverage,
    PatientAllergy,
    PatientProblem,
    Appointment,  # the scheduling plugin's demo week (its presets enable it)
    AvailabilityTemplate,
)


async def _counts(db) -> dict:
    counts: dict = {}
    async with db.session() as session:
        tenants = {t.slug: t for t in await session.scalars(select(Tenant))}
        emails = [demo_email(role, d.slug) for d in DEMO_TENANTS for role, _ in d.staff]
        counts["users"] = await session.scalar(
            select(func.count()).select_from(User).where(User.email.in_(emails))
        )
    for demo in DEMO_TENANTS:
        tenant = tenants[demo.slug]
        with tenant_scope(tenant.id):
            async with db.session() as session:
                for model in COUNTED:
                    counts[(demo.slug, model.__name__)] = await session.scalar(
                        select(func.count()).select_from(model)
                    )
                counts[(demo.slug, "mrn")] = await session.scalar(select(MrnCounter.last_value))
                counts[(demo.slug, "location_zones")] = sorted(
                    set(await session.scalars(select(Location.time_zone)))
                )
                counts[(demo.slug, "tz")] = tenant.time_zone
    return counts


def test_generator_is_deterministic_and_uses_billable_codes():
    demo = DEMO_TENANTS[0]
    first, second = demo_patients(demo), demo_patients(demo)
    assert first == second and len(first) == DEMO_PATIENTS
    keys = {
        (p["patient"]["given_name"], p["patient"]["family_name"], p["patient"]["birth_date"]) for p in first
    }
    assert len(keys) == DEMO_PATIENTS  # no duplicate warnings to trip over
    assert all(p["problems"] for p in first)
    assert sum(bool(p["coverages"]) for p in first) > DEMO_PATIENTS * 0.8


async def test_seed_twice_adds_nothing_and_demo_users_sign_in(settings, registry, db, client_as, sign_in):
    slugs = await seed_demo_tenants(settings, registry)
    assert slugs == ["riverside", "northside", "harbor"]
    after_first = await _counts(db)

    await seed_demo_tenants(settings, registry)
    assert await _counts(db) == after_first

    assert after_first["users"] == 12
    for demo in DEMO_TENANTS:
        slug = demo.slug
        assert after_first[(slug, "Membership")] == 5  # four staff and the shared biller
        assert after_first[(slug, "Location")] == 2
        assert after_first[(slug, "location_zones")] == [after_first[(slug, "tz")]]
        assert after_first[(slug, "Provider")] == 1 and after_first[(slug, "ProviderLocation")] == 2
        assert after_first[(slug, "Patient")] == DEMO_PATIENTS
        assert after_first[(slug, "mrn")] == DEMO_PATIENTS  # every MRN came from the counter
        assert after_first[(slug, "PatientCoverage")] > DEMO_PATIENTS * 0.8
        assert after_first[(slug, "PatientProblem")] >= DEMO_PATIENTS
        assert after_first[(slug, "PatientAllergy")] > 0
        assert after_first[(slug, "Appointment")] >= 10 and after_first[(slug, "AvailabilityTemplate")] > 0

    async with db.session() as session:
        riverside = await session.scalar(select(Tenant).where(Tenant.slug == "riverside"))
        northside = await session.scalar(select(Tenant).where(Tenant.slug == "northside"))
        emails = [demo_email(role, d.slug) for d in DEMO_TENANTS for role, _ in d.staff]
        demo_users = list(await session.scalars(select(User).where(User.email.in_(emails))))
    assert len(demo_users) == 12
    assert all(verify_password(u.password_hash, DEMO_PASSWORD) for u in demo_users)
    by_email = {u.email: u for u in demo_users}

    # the northside owner reaches the settings; the shared biller sees the other clinics
    async with await client_as(northside, by_email[demo_email("owner", "northside")]) as owner:
        assert (await owner.get("/settings/providers")).status_code == 200
        assert "Theo Marsh" in (await owner.get("/settings/providers")).text
    async with db.session() as session:
        shared = await session.scalar(select(User).where(User.email == "billing@tessera-demo.example"))
    async with await client_as(riverside, shared) as biller:
        others = (await biller.get("/api/account/clinics")).json()["items"]
    assert sorted(c["slug"] for c in others) == ["harbor", "northside"]

    # the demo platform operator manages the tenants at the base domain
    async with db.session() as session:
        operator = await session.scalar(select(User).where(User.email == DEMO_OPERATOR[0]))
        assert await session.get(PlatformOperator, operator.id) is not None
    assert verify_password(operator.password_hash, DEMO_PASSWORD)
    async with await client_as(None, operator) as ops:
        listing = await ops.get("/platform/tenants")
    assert listing.status_code == 200 and "Riverside Physical Therapy" in listing.text

    # a demo login works through the real sign-in form...
    desk = await sign_in(riverside, demo_email("front_desk", "riverside"), DEMO_PASSWORD)
    assert desk.sign_in_response.status_code == 303

    # ...and the patients are searchable (by name, accents ignored), and paginated
    patient = demo_patients(DEMO_TENANTS[0])[0]["patient"]
    query = f"{patient['family_name']}, {patient['given_name']}"
    found = (await desk.get("/api/patients", params={"q": query})).json()
    assert found["total"] >= 1
    assert any(p["birth_date"] == patient["birth_date"].isoformat() for p in found["items"])
    accented = next(
        p["patient"] for p in demo_patients(DEMO_TENANTS[0]) if not p["patient"]["family_name"].isascii()
    )
    plain = unicodedata.normalize("NFKD", accented["family_name"]).encode("ascii", "ignore").decode()
    assert (await desk.get("/api/patients", params={"q": plain})).json()["total"] >= 1
    page = (await desk.get("/api/patients", params={"limit": 100, "offset": 100})).json()
    assert page["total"] == DEMO_PATIENTS and len(page["items"]) == 100


async def test_an_existing_demo_clinic_gets_plugins_installed_since_but_keeps_disabled_ones(
    db, registry, make_tenant
):
    from core.lifecycle.plugins import disable_plugin, enabled_plugins
    from core.lifecycle.presets import get_preset

    rehab = get_preset("rehab")
    fresh = await make_tenant()  # made before scheduling was installed, so to speak
    async with db.session() as session:
        assert await enable_newly_installed(session, registry, fresh, rehab) == ["scheduling"]
        await session.commit()
        assert await enable_newly_installed(session, registry, fresh, rehab) == []

    switched_off = await make_tenant(plugins=("scheduling",))
    async with db.session() as session:
        await disable_plugin(session, registry, switched_off, "scheduling")
        await session.commit()
        assert await enable_newly_installed(session, registry, switched_off, rehab) == []
        with tenant_scope(switched_off.id):
            assert "scheduling" not in await enabled_plugins(session, switched_off)
