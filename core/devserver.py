"""``tessera dev run`` (``make run``): one command from a fresh clone to a running platform.

1. bring the database up to date: create it and the roles (``tessera db init``), apply
   core's and every installed plugin's migrations (``tessera db upgrade``);
2. seed three demo tenants (skipping those that exist) with their practice-type presets,
   then let every plugin each of them enabled add its demonstration data
   (``tessera_demo_data``, which is idempotent);
3. run the web server and the job worker as two child processes until Ctrl-C or SIGTERM;
   if either dies, stop the other and exit non-zero.

The settings arrive with database and Redis URLs: ``load_settings`` has already started the
embedded servers for unset ones and exported the URLs, so the children inherit them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote

from core.settings import REPO_ROOT, Settings
from core.supervisor import Supervisor


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

#: Seconds the children get to finish after SIGTERM before they are killed.
STOP_GRACE_SECONDS = 15
#: Seconds to wait for the web server's health check before saying so.
READY_TIMEOUT_SECONDS = 90


def say(message: str = "") -> None:
    print(f"[tessera dev] {message}" if message else "", flush=True)


# -- database ------------------------------------------------------------------------


def prepare_database(settings: Settings, registry) -> None:
    """``tessera db init`` + ``tessera db upgrade``, both idempotent."""
    from core.db.admin import init_database, upgrade
    from core.plugins.registry import flatten

    done = asyncio.run(init_database(settings))
    for line in done:
        say(line)
    dirs = [d for _, found in registry.call_each("tessera_migration_dirs") for d in flatten([found])]
    upgrade(settings, dirs)
    installed = ", ".join(m.name for m in registry.optional()) or "no plugins installed"
    say(f"database is at the latest revision (core; {installed})")


async def seed_demo_tenants(settings: Settings, registry) -> list[str]:
    """Create the demo tenants that do not exist yet, then refresh every one's demo data.

    Returns the slugs of the demo tenants (existing and new).
    """
    from sqlalchemy import select

    from core.db.session import Database
    from core.lifecycle.errors import TenantError
    from core.lifecycle.plugins import enabled_plugins
    from core.lifecycle.presets import apply_preset, get_preset
    from core.lifecycle.registry import create_tenant
    from core.tenancy.context import tenant_scope
    from core.tenancy.models import Tenant

    db = Database(settings, pool_size=1)
    slugs = []
    try:
        for demo in DEMO_TENANTS:
            async with db.session() as session:
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == demo.slug))
                if tenant is None:
                    preset = get_preset(demo.preset)
                    try:
                        tenant = await create_tenant(
                            session,
                            slug=demo.slug,
                            name=demo.name,
                            time_zone=demo.time_zone,
                            preset=preset.name,
                        )
                    except TenantError:
                        # Another process created it between our look-up and insert.
                        tenant = await session.scalar(select(Tenant).where(Tenant.slug == demo.slug))
                        if tenant is None:
                            raise
                    else:
                        report = await apply_preset(session, registry, tenant, preset)
                        await session.commit()
                        say(
                            f"created demo tenant {demo.slug} ({demo.name}), preset {preset.name}: "
                            f"enabled {', '.join(report.enabled) or 'no plugins'}"
                        )
                        if report.not_installed:
                            say(f"  not installed, skipped: {', '.join(report.not_installed)}")
                        for name, why in report.failed.items():
                            say(f"  plugin {name} was not enabled: {why}")
                else:
                    added = await enable_newly_installed(session, registry, tenant, get_preset(demo.preset))
                    await session.commit()
                    if added:
                        say(f"demo tenant {demo.slug} exists; enabled newly installed {', '.join(added)}")
                    else:
                        say(f"demo tenant {demo.slug} exists; left as it is")
            slugs.append(demo.slug)

            started = time.monotonic()
            added = await seed_demo_clinic(db, tenant, demo)
            if any(added.values()):
                done = ", ".join(f"{n} {what}" for what, n in added.items() if n)
                say(f"  {demo.slug}: added {done} ({time.monotonic() - started:.1f} s)")

            with tenant_scope(tenant.id):
                async with db.session() as session:
                    enabled = await enabled_plugins(session, tenant)
                    hooks = registry.for_tenant(enabled)
                    await hooks.collect("tessera_demo_data", tenant=tenant, session=session, hooks=hooks)
                    await session.commit()
        await seed_demo_operator(db)
    finally:
        await db.dispose()
    return slugs


async def enable_newly_installed(session, registry, tenant, preset) -> list[str]:
    """Enable the preset's plugins installed since the demo tenant was made: those the
    tenant never had (a plugin it once had and a developer disabled stays off)."""
    from sqlalchemy import select

    from core.lifecycle.plugins import enable_plugin
    from core.tenancy.context import tenant_scope
    from core.tenancy.models import TenantPlugin

    with tenant_scope(tenant.id):
        known = set(await session.scalars(select(TenantPlugin.plugin)))
    added = []
    for name in preset.plugins:
        if name in registry.plugins and name not in known:
            await enable_plugin(session, registry, tenant, name)
            added.append(name)
    return added


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


async def seed_demo_clinic(db, tenant, demo: DemoTenant, *, patients: int = DEMO_PATIENTS) -> dict[str, int]:
    """Give a demo tenant its staff, locations, provider record and synthetic patients.

    Idempotent: only what is missing is added (users by e-mail, memberships, locations by
    name, the clinician's provider record, patients by name and birth date), so a second
    run adds nothing. Patients go through the patients services (MRN counter, search
    columns, ICD-10-CM checks, audit events), one transaction per tenant. Returns counts
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
    from core.tenancy.context import tenant_scope

    added = {"users": 0, "memberships": 0, "locations": 0, "providers": 0, "patients": 0}
    password_hash: str | None = None
    # Audit events of the seed name it as their client.
    identity = set_request_identity(
        None, RequestMeta(client_ip=None, user_agent="tessera demo seed (make run)")
    )
    try:
        with tenant_scope(tenant.id):
            async with db.session() as session:
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
                await session.commit()
    finally:
        reset_request_identity(identity)
    return added


# -- processes -----------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if ``tessera dev run`` itself is killed outright."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _child_env(settings: Settings, port: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if port is not None:
        # The worker writes links into reminders with no request to copy the address from:
        # without TESSERA_PUBLIC_URL it builds them from TESSERA_PORT, so it must be the
        # port the web process really serves on, not the default.
        env["TESSERA_PORT"] = str(port)
    env["TESSERA_DATABASE_URL"] = settings.database_url
    env["TESSERA_REDIS_URL"] = settings.redis_url
    # One key for both processes (otherwise each would pick its own random one).
    env["TESSERA_SECRET_KEY"] = settings.secret_key
    # The services are up; the children need not try to start them again.
    env.pop("TESSERA_EMBEDDED", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Each child leads its own process group: a Ctrl-C in the terminal reaches only this
    # process, which then stops the children in order (and their own children with them).
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        process_group=0,
        preexec_fn=_die_with_parent,  # single-threaded here, so preexec_fn is safe
    )


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_children(children: dict[str, subprocess.Popen]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop within {STOP_GRACE_SECONDS} s; killing it")
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _embedded_note(settings: Settings) -> list[str]:
    """Which of the two services run embedded under the data folder."""
    data_dir = settings.data_dir.resolve()
    embedded = []
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        lines = pid_file.read_text().splitlines()
        socket_dir = lines[4] if len(lines) > 4 else ""
        if socket_dir and socket_dir in unquote(settings.database_url):
            embedded.append("PostgreSQL")
    redis_pid = data_dir / "redis" / "redis.pid"
    if settings.redis_url.startswith("unix://") and redis_pid.exists():
        embedded.append("Redis")
    return embedded


def _banner(settings: Settings, port: int, slugs: list[str]) -> None:
    base = settings.base_domain
    say()
    say(f"platform:  http://{base}:{port}/")
    for slug in slugs:
        say(f"tenant:    http://{slug}.{base}:{port}/")
    embedded = _embedded_note(settings)
    if embedded:
        say(
            f"data:      embedded {' and '.join(embedded)} keep their data in {settings.data_dir} "
            "(TESSERA_DATA_DIR); they keep running after Ctrl-C - `make stop` stops them"
        )
    else:
        say("data:      in the PostgreSQL and Redis named by TESSERA_DATABASE_URL / TESSERA_REDIS_URL")
    _print_demo_logins(base, port, slugs)
    say("Ctrl-C stops the web server and the worker.")
    say()


def _print_demo_logins(base: str, port: int, slugs: list[str]) -> None:
    by_slug = {demo.slug: demo for demo in DEMO_TENANTS}
    say()
    say(f"demo logins - password for all: {DEMO_PASSWORD}")
    say("  (a development password printed for local use only: never use these accounts on a")
    say("   server anyone else can reach)")
    for slug in slugs:
        demo = by_slug.get(slug)
        if demo is None:
            continue
        emails = ", ".join(f"{demo_email(role, slug)} ({role.replace('_', ' ')})" for role, _ in demo.staff)
        say(f"  http://{slug}.{base}:{port}/login  {emails}")
    say(f"  {DEMO_SHARED_BILLER[0]} is a biller in every demo clinic (try the clinic switcher)")
    say(f"  http://{base}:{port}/login  {DEMO_OPERATOR[0]} (platform operator)")
    say()


def run_dev(settings: Settings, port: int) -> None:
    """Prepare the database and demo tenants, then run web + worker until stopped."""
    from core.app import build_registry

    host = settings.host
    if not _port_free(host, port):
        raise SystemExit(
            f"tessera: port {port} on {host} is in use (another `make run`?); "
            "choose another with TESSERA_PORT=8001 make run"
        )

    registry = build_registry(settings)
    prepare_database(settings, registry)
    slugs = asyncio.run(seed_demo_tenants(settings, registry))

    stopping: list[int] = []

    def request_stop(signum, _frame) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    env = _child_env(settings, port)
    children: dict[str, subprocess.Popen] = {}
    exit_code = 0
    try:
        commands = {"web": ["serve", "--host", host, "--port", str(port)], "worker": ["worker"]}
        # a crashed child is started again (core/supervisor.py) rather than stopping the rest
        supervisor = Supervisor(lambda name: _start(name, commands[name], env), list(commands), say=say)
        children = supervisor.processes()
        say(f"started web (pid {children['web'].pid}) and worker (pid {children['worker'].pid})")

        announced = False
        started = time.monotonic()
        while not stopping:
            give_up = supervisor.check()
            children.update(supervisor.processes())
            if give_up:
                say(give_up)
                exit_code = 1
                break
            if not announced:
                if _healthy(port):
                    _banner(settings, port, slugs)
                    announced = True
                elif time.monotonic() - started > READY_TIMEOUT_SECONDS:
                    say(f"the web server has not answered /healthz after {READY_TIMEOUT_SECONDS} s")
                    _banner(settings, port, slugs)
                    announced = True
            time.sleep(0.25)
        if stopping:
            say(f"received {signal.Signals(stopping[0]).name}; stopping web and worker")
    finally:
        stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    if exit_code:
        raise SystemExit(exit_code)


__all__ = [
    "DEMO_PASSWORD",
    "DEMO_TENANTS",
    "DemoTenant",
    "demo_email",
    "demo_patients",
    "prepare_database",
    "run_dev",
    "seed_demo_clinic",
    "seed_demo_tenants",
]
