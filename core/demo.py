"""Core's demonstration data, added by the builtin plugin's ``tessera_demo_data`` for the
demo clinics of ``make run`` (``core/devserver.py`` creates them): staff, two locations, a
provider record for the clinician and about 200 synthetic patients each (deterministic,
with coverages, allergies and ICD-10-CM problems), and the demo platform operator.
Idempotent: only what is missing is added.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass

log = logging.getLogger("tessera.demo")


@dataclass(frozen=True)
class DemoLocation:
    name: str
    address_line1: str
    city: str
    state: str
    postal_code: str
    phone: str
    place_of_service: str = "11"


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    preset: str
    time_zone: str
    #: role -> display name of the demo user holding it (e-mail: <role>@<slug>.example)
    staff: tuple[tuple[str, str], ...] = ()
    locations: tuple[DemoLocation, ...] = ()
    #: the clinician's provider record: credentials, taxonomy code, first nine NPI digits
    provider: tuple[str, str, str] = ("", "", "")
    #: billable ICD-10-CM codes the clinic's patients have on their problem lists
    problem_codes: tuple[str, ...] = ()
    payers: tuple[str, ...] = ()


_COMMON_PAYERS = ("Aetna", "Cigna", "UnitedHealthcare", "Humana", "Medicare Part B")

DEMO_TENANTS = (
    DemoTenant(
        "riverside",
        "Riverside Physical Therapy",
        "rehab",
        "America/Chicago",
        staff=(
            ("owner", "Rita Owens"),
            ("clinician", "Sam Patel"),
            ("front_desk", "Fran Desmond"),
            ("biller", "Bill Carver"),
        ),
        locations=(
            DemoLocation(
                "Riverside Main Clinic", "120 River Rd", "Springfield", "IL", "62701", "217-555-0140"
            ),
            DemoLocation(
                "Riverside Westgate", "88 Westgate Ave", "Springfield", "IL", "62704", "217-555-0188"
            ),
        ),
        provider=("PT, DPT", "225100000X", "104567893"),
        problem_codes=(
            "M54.50",
            "M25.561",
            "M25.511",
            "M75.101",
            "M17.11",
            "S83.511A",
            "M62.81",
            "R26.89",
            "M48.061",
            "M54.2",
        ),
        payers=(*_COMMON_PAYERS, "Blue Cross Blue Shield of Illinois", "Illinois Medicaid"),
    ),
    DemoTenant(
        "northside",
        "Northside Counseling",
        "behavioral",
        "America/New_York",
        staff=(
            ("owner", "Nora Quinn"),
            ("clinician", "Theo Marsh"),
            ("front_desk", "Dana Price"),
            ("biller", "Gail Kerr"),
        ),
        locations=(
            DemoLocation(
                "Northside Counseling Center", "45 Elm St", "Albany", "NY", "12207", "518-555-0112", "11"
            ),
            DemoLocation(
                "Northside Telehealth Suite",
                "45 Elm St, Suite 300",
                "Albany",
                "NY",
                "12207",
                "518-555-0119",
                "02",
            ),
        ),
        provider=("LCSW", "1041C0700X", "112358132"),
        problem_codes=("F41.1", "F32.A", "F43.10", "F90.0", "F33.1", "F43.23", "F41.0", "F42.2", "F51.01"),
        payers=(*_COMMON_PAYERS, "Empire BlueCross BlueShield", "New York Medicaid"),
    ),
    DemoTenant(
        "harbor",
        "Harbor Family Clinic",
        "multispecialty",
        "America/Los_Angeles",
        staff=(
            ("owner", "Hana Brooks"),
            ("clinician", "Luis Romero"),
            ("front_desk", "Mei Tanaka"),
            ("biller", "Omar Haddad"),
        ),
        locations=(
            DemoLocation("Harbor Family Clinic", "300 Harbor Blvd", "Oakland", "CA", "94607", "510-555-0130"),
            DemoLocation("Harbor Eastside", "1200 E 12th St", "Oakland", "CA", "94606", "510-555-0166"),
        ),
        provider=("MD", "207Q00000X", "161803398"),
        problem_codes=("I10", "E11.9", "J45.909", "E78.5", "K21.9", "E03.9", "E66.9", "M19.90", "M54.50"),
        payers=(*_COMMON_PAYERS, "Blue Shield of California", "Medi-Cal"),
    ),
)

#: The password of every demo user. For local development only: it is printed on the
#: terminal and written here in the source.
DEMO_PASSWORD = "tessera-demo-local-only"  # noqa: S105 - a published development password
#: A biller who works for all three demo clinics (shows the tenant switcher).
DEMO_SHARED_BILLER = ("billing@tessera-demo.example", "Pat Ledger")
#: The demo platform operator (signs in at the base domain, manages the tenants).
DEMO_OPERATOR = ("operator@tessera-demo.example", "Ops Demo")
#: Synthetic patients per demo tenant.
DEMO_PATIENTS = 200


async def seed_demo_operator(db) -> bool:
    """The demo platform operator (idempotent); returns True when it was created."""
    from sqlalchemy import func, select

    from core.auth.models import PlatformOperator, User
    from core.auth.passwords import hash_password

    email, name = DEMO_OPERATOR
    async with db.session() as session:
        user = await session.scalar(select(User).where(func.lower(User.email) == email))
        created = user is None
        if created:
            user = User(email=email, display_name=name, password_hash=hash_password(DEMO_PASSWORD))
            session.add(user)
            await session.flush()
        if await session.get(PlatformOperator, user.id) is None:
            session.add(PlatformOperator(user_id=user.id))
            created = True
        await session.commit()
    return created


# -- demo clinic data ----------------------------------------------------------------

# Synthetic names (none is a real patient): a mix of origins and some accents, so the
# accent-insensitive search has something to show.
_GIVEN_F = (
    "Olivia",
    "Emma",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Amelia",
    "Harper",
    "Evelyn",
    "Abigail",
    "María",
    "Sofía",
    "Lucía",
    "Zoë",
    "Chloé",
    "Aaliyah",
    "Priya",
    "Mei",
    "Yuki",
    "Fatima",
    "Grace",
    "Nora",
    "Hannah",
    "Leah",
    "Ruth",
    "Joan",
    "Linda",
    "Barbara",
    "Dorothy",
    "Renée",
)
_GIVEN_M = (
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "William",
    "Benjamin",
    "Lucas",
    "Henry",
    "Theodore",
    "José",
    "Luis",
    "Mateo",
    "André",
    "Björn",
    "Ahmed",
    "Omar",
    "Raj",
    "Kenji",
    "Wei",
    "Samuel",
    "Daniel",
    "Isaac",
    "Walter",
    "George",
    "Frank",
    "Harold",
    "Raymond",
    "Eugene",
    "Jerome",
)
_FAMILY = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernández",
    "López",
    "González",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Pérez",
    "Thompson",
    "White",
    "Harris",
    "Sánchez",
    "Clark",
    "Ramírez",
    "Lewis",
    "Robinson",
    "Nguyen",
    "Kim",
    "Patel",
    "Chen",
    "O'Brien",
    "Müller",
    "Novák",
    "Kowalski",
    "Okafor",
    "Haddad",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Hill",
    "Flores",
    "Green",
)
_STREETS = ("Oak St", "Maple Ave", "Cedar Ln", "Park Blvd", "Lake Dr", "Hillcrest Rd", "Main St", "Pine Ct")
_LANGUAGES = ("en",) * 8 + ("es", "es", "zh", "vi", "ko", "ar", "pl")
_ALLERGIES = (
    ("Penicillin", "Hives", "moderate"),
    ("Sulfonamide antibiotics", "Rash", "mild"),
    ("Latex", "Contact dermatitis", "mild"),
    ("Peanuts", "Anaphylaxis", "severe"),
    ("Codeine", "Nausea and vomiting", "moderate"),
    ("Shellfish", "Swelling of lips", "severe"),
    ("Ibuprofen", "Stomach upset", "mild"),
    ("Bee stings", "Anaphylaxis", "severe"),
)
#: A fixed "today" for the generator, so every run produces the same patients.
_DEMO_EPOCH = dt.date(2026, 1, 1)


def demo_email(role: str, slug: str) -> str:
    return f"{role.replace('_', '')}@{slug}.example"


def _npi(first_nine: str) -> str:
    from core.practice.codes import NPI_ISSUER_PREFIX, luhn_check_digit

    return first_nine + str(luhn_check_digit(NPI_ISSUER_PREFIX + first_nine))


def demo_patients(demo: DemoTenant, count: int = DEMO_PATIENTS) -> list[dict]:
    """``count`` synthetic patients for ``demo``, the same on every run (seeded generator).

    Each is ``{"patient": {...}, "coverages": [...], "allergies": [...], "problems": [...]}``
    with values shaped like the patients API's request bodies.
    """
    rng = random.Random(f"tessera-demo:{demo.slug}")  # noqa: S311 - synthetic data, not secrets
    city, state = demo.locations[0].city, demo.locations[0].state
    area = demo.locations[0].phone[:3]
    seen: set[tuple[str, str, dt.date]] = set()
    out: list[dict] = []
    while len(out) < count:
        sex = rng.choice(("F", "M", "F", "M", "X"))
        given = rng.choice(_GIVEN_F if sex == "F" else _GIVEN_M if sex == "M" else _GIVEN_F + _GIVEN_M)
        family = rng.choice(_FAMILY)
        birth = _DEMO_EPOCH - dt.timedelta(days=rng.randint(6 * 365, 92 * 365))
        if (given, family, birth) in seen:
            continue
        seen.add((given, family, birth))
        number = len(out)
        patient = {
            "given_name": given,
            "family_name": family,
            "birth_date": birth,
            "sex_at_birth": sex if sex != "X" else "unknown",
            "phone": f"{area}-555-{rng.randint(100, 9999):04d}",
            "email": f"{given.lower()}.{family.lower()}{number}@example.com".encode(
                "ascii", "ignore"
            ).decode()
            if rng.random() < 0.6
            else None,
            "address_line1": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
            "city": city,
            "state": state,
            "postal_code": demo.locations[rng.randrange(len(demo.locations))].postal_code,
            "country": "US",
            "preferred_language": rng.choice(_LANGUAGES),
        }
        if rng.random() < 0.1:
            patient["preferred_name"] = given[:3]
        if sex == "X":
            patient["gender_identity"] = "Non-binary"
            patient["pronouns"] = "they/them"
        coverages = []
        if rng.random() < 0.9:
            payer = rng.choice(demo.payers)
            coverages.append(
                {
                    "payer_name": payer,
                    "plan_name": "PPO" if "Medic" not in payer else None,
                    "member_id": f"{payer[:3].upper()}{rng.randint(10**8, 10**9 - 1)}",
                    "group_number": f"G{rng.randint(1000, 99999)}" if "Medic" not in payer else None,
                    "relationship": "self",
                    "priority": "primary",
                    "effective_start": dt.date(2025, rng.randint(1, 12), 1),
                }
            )
            if rng.random() < 0.2:
                second = rng.choice([p for p in demo.payers if p != payer])
                coverages.append(
                    {
                        "payer_name": second,
                        "member_id": f"{second[:3].upper()}{rng.randint(10**8, 10**9 - 1)}",
                        "relationship": "self",
                        "priority": "secondary",
                        "effective_start": dt.date(2025, 1, 1),
                    }
                )
        allergies = [
            {"substance": s, "reaction": r, "severity": v}
            for s, r, v in rng.sample(_ALLERGIES, k=rng.choice((0, 0, 0, 1, 1, 2)))
        ]
        problems = [
            {"code": code, "onset_date": _DEMO_EPOCH - dt.timedelta(days=rng.randint(10, 3 * 365))}
            for code in rng.sample(demo.problem_codes, k=rng.choice((1, 1, 2, 2, 3)))
        ]
        out.append({"patient": patient, "coverages": coverages, "allergies": allergies, "problems": problems})
    return out


async def seed_demo_clinic(
    session, tenant, demo: DemoTenant, *, patients: int = DEMO_PATIENTS
) -> dict[str, int]:
    """Give a demo tenant its staff, locations, provider record and synthetic patients,
    through ``session`` (open in the tenant's scope; the caller commits).

    Idempotent: only what is missing is added (users by e-mail, memberships, locations by
    name, the clinician's provider record, patients by name and birth date), so a second
    run adds nothing. Patients go through the patients services (MRN counter, search
    columns, ICD-10-CM checks, audit events), in the caller's transaction. Returns counts
    of what was added.
    """
    from sqlalchemy import func, select

    from core.auth.models import Membership, User
    from core.auth.passwords import hash_password
    from core.auth.principal import RequestMeta, reset_request_identity, set_request_identity
    from core.patients import schemas as s
    from core.patients import services as patient_services
    from core.patients.models import Patient
    from core.patients.search import normalize
    from core.practice.models import Location, Provider, ProviderLocation

    added = {"users": 0, "memberships": 0, "locations": 0, "providers": 0, "patients": 0}
    password_hash: str | None = None
    # Audit events of the seed name it as their client.
    identity = set_request_identity(
        None, RequestMeta(client_ip=None, user_agent="tessera demo seed (make run)")
    )
    try:
        people = [(demo_email(role, demo.slug), name, role) for role, name in demo.staff]
        people.append((*DEMO_SHARED_BILLER, "biller"))
        users: dict[str, User] = {}
        for email, name, role in people:
            user = await session.scalar(select(User).where(func.lower(User.email) == email.lower()))
            if user is None:
                password_hash = password_hash or hash_password(DEMO_PASSWORD)
                user = User(
                    email=email,
                    display_name=name,
                    password_hash=password_hash,
                    password_changed_at=dt.datetime.now(dt.UTC),
                )
                session.add(user)
                await session.flush()
                added["users"] += 1
            if await session.get(Membership, (tenant.id, user.id)) is None:
                session.add(Membership(user_id=user.id, roles=[role]))
                await session.flush()
                added["memberships"] += 1
            users[role if email != DEMO_SHARED_BILLER[0] else "shared_biller"] = user

        locations = []
        for spec in demo.locations:
            location = await session.scalar(select(Location).where(Location.name == spec.name))
            if location is None:
                location = Location(
                    name=spec.name,
                    address_line1=spec.address_line1,
                    city=spec.city,
                    state=spec.state,
                    postal_code=spec.postal_code,
                    phone=spec.phone,
                    time_zone=tenant.time_zone,
                    place_of_service=spec.place_of_service,
                )
                session.add(location)
                await session.flush()
                added["locations"] += 1
            locations.append(location)

        clinician = users.get("clinician")
        if clinician is not None:
            provider = await session.scalar(select(Provider).where(Provider.user_id == clinician.id))
            if provider is None:
                credentials, taxonomy, npi_start = demo.provider
                provider = Provider(
                    user_id=clinician.id,
                    credentials=credentials or None,
                    npi=_npi(npi_start) if npi_start else None,
                    taxonomy_code=taxonomy or None,
                )
                session.add(provider)
                await session.flush()
                for location in locations:
                    session.add(ProviderLocation(provider_id=provider.id, location_id=location.id))
                await session.flush()
                added["providers"] += 1

        existing = {
            (family, given, birth)
            for family, given, birth in await session.execute(
                select(Patient.family_norm, Patient.given_norm, Patient.birth_date)
            )
        }
        for spec in demo_patients(demo, patients):
            values = spec["patient"]
            key = (
                normalize(values["family_name"]),
                normalize(values["given_name"]),
                values["birth_date"],
            )
            if key in existing:
                continue
            patient = await patient_services.create_patient(
                session,
                s.PatientCreate(**{k: v for k, v in values.items() if v is not None}),
            )
            kinds = patient_services.KINDS
            for coverage in spec["coverages"]:
                data = s.CoverageIn(**{k: v for k, v in coverage.items() if v is not None})
                await patient_services.add_record(session, kinds["coverages"], patient.id, data)
            for allergy in spec["allergies"]:
                await patient_services.add_record(
                    session, kinds["allergies"], patient.id, s.AllergyIn(**allergy)
                )
            for problem in spec["problems"]:
                await patient_services.add_record(
                    session, kinds["problems"], patient.id, s.ProblemIn(**problem)
                )
            existing.add(key)
            added["patients"] += 1
    finally:
        reset_request_identity(identity)
    return added


def demo_tenant(slug: str) -> DemoTenant | None:
    return next((demo for demo in DEMO_TENANTS if demo.slug == slug), None)


async def add_demo_data(tenant, session) -> dict[str, int]:
    """The builtin plugin's ``tessera_demo_data``: a demo clinic's core data; other tenants
    get nothing."""
    demo = demo_tenant(tenant.slug)
    if demo is None:
        return {}
    added = await seed_demo_clinic(session, tenant, demo)
    if any(added.values()):
        log.info("%s: added %s", tenant.slug, ", ".join(f"{n} {what}" for what, n in added.items() if n))
    return added
