"""Bulk seeding of the benchmark database with COPY (asyncpg, as the schema owner).

Creates the database fresh (``core.db.admin.init_database`` + ``upgrade``), then fills what
the app needs to behave as in production: tenants (each enabling the bench-only ``bench_limit``
plugin), 10 users per tenant with memberships and roles, one API token per user, patients
with their normalised search columns (``core.patients.search.normalize``) and MRN counters,
coverages, allergies and problems, the ``scheduling`` plugin with the clinicians as providers and a week of
appointments, and an audit history of ``AUDIT_PER_PATIENT`` events per
patient that is already **sealed** (chained with ``core.audit.seal.chain_hash``), so
``tessera audit verify`` passes and the sealer starts the run with no backlog.

The plaintext tokens and a sample of (tenant, patient) pairs for the load generator are
written as tab-separated files under ``.tessera-data/bench/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import secrets
import time
import uuid
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from core.audit.seal import chain_hash
from core.auth.tokens import TOKEN_PREFIX, token_digest
from core.db.base import new_id
from core.patients.models import MRN_OFFSET
from core.patients.search import normalize
from core.settings import REPO_ROOT, Settings

DATA_DIR = REPO_ROOT / ".tessera-data" / "bench"
USERS_PER_TENANT = 10
AUDIT_PER_PATIENT = 20
#: role(s) of user 0..9 of every tenant
ROLES = (
    ["owner"],
    ["clinician"],
    ["clinician"],
    ["clinician"],
    ["clinician"],
    ["front_desk"],
    ["front_desk"],
    ["front_desk"],
    ["biller"],
    ["auditor"],
)
#: users whose tokens the load generator uses (they may read and write patients)
LOAD_USERS = (0, 1, 2, 3, 4, 5, 6, 7)
TARGETS_PER_TENANT_MAX = 200
#: users 1-4 (the clinicians) are the providers on the calendar
PROVIDER_USERS = (1, 2, 3, 4)
TIME_ZONE = "America/Chicago"
#: the calendar week the scheduling scenario reads: this week, from Monday
WEEK_START = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())

GIVEN = (
    "Olivia", "Emma", "Ava", "Sophia", "Mia", "Amelia", "Harper", "José", "Liam", "Noah",
    "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry", "Zoë", "Chloé",
    "Aaliyah", "Mateo", "Santiago", "Wei", "Hiroshi", "Priya", "Arjun", "Fatima", "Omar",
    "Chiara", "Björn", "Siobhán", "Kwame", "Amara", "Dmitri", "Ingrid", "Luis", "Mei",
)  # fmt: skip
FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Rodríguez",
    "Martínez", "Hernández", "López", "González", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez",
    "Clark", "Ramírez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "O'Brien", "Núñez", "Müller",
    "Kowalski", "Nakamura", "Okafor", "Haddad", "Svensson", "Dubois", "Rossi", "Novak",
)  # fmt: skip
PAYERS = ("Aetna", "Cigna", "UnitedHealthcare", "Humana", "Medicare Part B", "Medicaid")
SUBSTANCES = ("Penicillin", "Peanuts", "Latex", "Sulfa drugs", "Shellfish", "Ibuprofen")
PROBLEMS = (
    ("M54.50", "Low back pain, unspecified"),
    ("I10", "Essential (primary) hypertension"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("F41.1", "Generalized anxiety disorder"),
    ("J45.909", "Unspecified asthma, uncomplicated"),
    ("M25.561", "Pain in right knee"),
)


@dataclass(frozen=True)
class Scale:
    tenants: int
    patients: int  # per tenant

    @property
    def name(self) -> str:
        return f"{self.tenants}x{self.patients}"


QUICK = Scale(100, 1000)
FULL = Scale(1000, 1000)


def database_for(scale: Scale) -> str:
    """Each scale has its own database and data folder, so a quick run never reseeds the
    1 M-patient database (or the other way round)."""
    return "tessera_bench" if scale == QUICK else f"tessera_bench_{scale.name}"


def data_dir_for(scale: Scale) -> Path:
    return DATA_DIR / scale.name


def bench_settings(dbname: str, redis_url: str, base: Settings | None = None) -> Settings:
    base = base or Settings.from_env()
    owner = base.database_url or "postgresql://postgres@127.0.0.1:5432/postgres"
    url = make_url(owner).set(database=dbname).render_as_string(hide_password=False)
    return base.with_(database_url=url, redis_url=redis_url, app_database_url="", sealer_database_url="")


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def recreate_database(settings: Settings) -> None:
    url = make_url(settings.owner_url())
    admin = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await admin.close()


def prepare(settings: Settings) -> None:
    """Drop and recreate the database, create the roles, apply every migration."""
    from core.app import build_registry
    from core.db.admin import init_database, upgrade
    from core.plugins.registry import flatten

    asyncio.run(recreate_database(settings))
    asyncio.run(init_database(settings))
    registry = build_registry(settings)
    dirs = [d for _, found in registry.call_each("tessera_migration_dirs") for d in flatten([found])]
    upgrade(settings, dirs)


def _ts(rng: random.Random, days_back: int = 365) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=rng.randint(60, days_back * 86400))


class Seeder:
    def __init__(self, conn: asyncpg.Connection, scale: Scale, seed: int = 6) -> None:
        self.conn = conn
        self.scale = scale
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.counts: dict[str, int] = {}

    async def copy(self, table: str, columns: list[str], records: list[tuple]) -> None:
        if records:
            await self.conn.copy_records_to_table(table, records=records, columns=columns)
            self.counts[table] = self.counts.get(table, 0) + len(records)

    async def seed_schedule(self, tenant_id, slug, user_ids, patient_ids, schedule_out) -> None:
        """A location, the clinicians as providers working Monday-Friday 08:00-16:00 there,
        two appointment types and this week's appointments (about 3 in 4 slots taken)."""
        rng = self.rng
        location_id, short, long_ = new_id(), new_id(), new_id()
        await self.copy(
            "locations",
            ["tenant_id", "id", "name", "time_zone"],
            [(tenant_id, location_id, "Main", TIME_ZONE)],
        )
        providers = [(tenant_id, new_id(), user_ids[j], "PT, DPT") for j in PROVIDER_USERS]
        await self.copy("providers", ["tenant_id", "id", "user_id", "credentials"], providers)
        await self.copy(
            "provider_locations",
            ["tenant_id", "provider_id", "location_id"],
            [(tenant_id, p[1], location_id) for p in providers],
        )
        await self.copy(
            "scheduling_appointment_types",
            ["tenant_id", "id", "name", "duration_minutes", "colour", "encounter_type"],
            [
                (tenant_id, short, "Follow-up", 30, "#16a34a", "office-visit"),
                (tenant_id, long_, "Evaluation", 60, "#2563eb", "evaluation"),
            ],
        )
        blocks, appointments = [], []
        zone = zoneinfo.ZoneInfo(TIME_ZONE)
        for _, provider_id, _, _ in providers:
            for weekday in range(5):
                blocks.append(
                    (
                        tenant_id,
                        new_id(),
                        provider_id,
                        location_id,
                        weekday,
                        dt.time(8),
                        dt.time(16),
                        WEEK_START,
                    )
                )
                minute = 8 * 60
                while minute < 16 * 60:
                    long_visit = minute <= 15 * 60 and rng.random() < 0.2
                    length = 60 if long_visit else 30
                    if rng.random() < 0.75:
                        day = WEEK_START + dt.timedelta(days=weekday)
                        start = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), zone)
                        appointments.append(
                            (tenant_id, new_id(), rng.choice(patient_ids), provider_id, location_id,
                             long_ if long_visit else short, start, start + dt.timedelta(minutes=length), "booked")
                        )  # fmt: skip
                    minute += length
            schedule_out.write(f"{slug}\t{provider_id}\t{WEEK_START.isoformat()}\n")
        await self.copy(
            "scheduling_availability",
            [
                "tenant_id",
                "id",
                "provider_id",
                "location_id",
                "weekday",
                "start_time",
                "end_time",
                "valid_from",
            ],
            blocks,
        )
        await self.copy(
            "scheduling_appointments",
            [
                "tenant_id",
                "id",
                "patient_id",
                "provider_id",
                "location_id",
                "type_id",
                "starts_at",
                "ends_at",
                "status",
            ],
            appointments,
        )

    async def seed_tenant(self, index: int, tokens_out, targets_out, schedule_out) -> None:
        # one generator per tenant: the same data whichever process seeds the tenant
        self.rng = random.Random(f"{self.seed}:{index}")  # noqa: S311 - synthetic data
        rng, now = self.rng, dt.datetime.now(dt.UTC)
        tenant_id, slug = new_id(), f"bench{index:04d}"
        await self.copy(
            "tenants",
            ["id", "slug", "name", "status", "preset", "time_zone", "config_version", "session_idle_seconds"],
            # sessions made before the run must outlive it: idle logoff after 8 h, not 15 min
            [(tenant_id, slug, f"Bench Clinic {index}", "active", "minimal", TIME_ZONE, 1, 8 * 3600)],
        )
        await self.copy(
            "tenant_plugins",
            ["tenant_id", "plugin", "enabled_at", "config"],
            [(tenant_id, "bench_limit", now, {}), (tenant_id, "scheduling", now, {})],
        )
        users, members, tokens = [], [], []
        user_ids = []
        for j in range(USERS_PER_TENANT):
            uid = new_id()
            user_ids.append(uid)
            email = f"user{j}@{slug}.example"
            users.append((uid, email, f"Bench User {index}-{j}", True))
            members.append((tenant_id, uid, ROLES[j], "active"))
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            tokens.append((tenant_id, new_id(), uid, "bench", token_digest(token), token[:10], []))
            if j in LOAD_USERS:
                tokens_out.write(f"{slug}\t{uid}\t{token}\n")
        await self.copy("users", ["id", "email", "display_name", "is_active"], users)
        await self.copy("memberships", ["tenant_id", "user_id", "roles", "status"], members)
        await self.copy(
            "api_tokens", ["tenant_id", "id", "user_id", "name", "token_digest", "prefix", "scopes"], tokens
        )

        patients, coverages, allergies, problems, events = [], [], [], [], []
        for k in range(1, self.scale.patients + 1):
            pid = new_id()
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, 33000))
            created = _ts(rng, 730)
            patients.append(
                (tenant_id, pid, str(MRN_OFFSET + k), given, family, birth, rng.choice("FMXu")[:1].replace("u", "unknown"),
                 f"555-{rng.randint(1000, 9999)}", "active", normalize(family), normalize(given), "", created, created)
            )  # fmt: skip
            coverages.append(
                (tenant_id, new_id(), pid, rng.choice(PAYERS), f"M{rng.randint(10**8, 10**9)}", "self", "primary", "active")
            )  # fmt: skip
            for _ in range(rng.randint(1, 2)):
                allergies.append(
                    (tenant_id, new_id(), pid, rng.choice(SUBSTANCES), "Hives", "moderate", "active")
                )
            for code, text in rng.sample(PROBLEMS, rng.randint(1, 3)):
                problems.append((tenant_id, new_id(), pid, code, text, "active"))
            if len(targets_out[slug]) < TARGETS_PER_TENANT_MAX:
                targets_out[slug].append(pid)
            for _ in range(AUDIT_PER_PATIENT):
                j = rng.choice(LOAD_USERS)
                action = (
                    "create"
                    if not events or rng.random() < 0.05
                    else ("update" if rng.random() < 0.15 else "read")
                )
                events.append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "occurred_at": _ts(rng, 365),
                        "actor_type": "user",
                        "actor_user_id": user_ids[j],
                        "actor_token_id": None,
                        "actor_label": f"user{j}@{slug}.example",
                        "action": action,
                        "resource_type": "patient",
                        "resource_id": str(pid),
                        "patient_id": pid,
                        "outcome": "success",
                        "client_ip": "10.0.0.1",
                        "user_agent": "Mozilla/5.0 (bench)",
                        "reason": None,
                        "emergency": False,
                        "detail": {},
                    }
                )
        await self.copy(
            "patients",
            ["tenant_id", "id", "mrn", "given_name", "family_name", "birth_date", "sex_at_birth", "phone",
             "status", "family_norm", "given_norm", "preferred_norm", "created_at", "updated_at"],
            patients,
        )  # fmt: skip
        await self.copy(
            "patient_mrn_counters", ["tenant_id", "last_value"], [(tenant_id, self.scale.patients)]
        )
        await self.copy(
            "patient_coverages",
            [
                "tenant_id",
                "id",
                "patient_id",
                "payer_name",
                "member_id",
                "relationship",
                "priority",
                "status",
            ],
            coverages,
        )
        await self.copy(
            "patient_allergies",
            ["tenant_id", "id", "patient_id", "substance", "reaction", "severity", "status"],
            allergies,
        )
        await self.copy(
            "patient_problems", ["tenant_id", "id", "patient_id", "code", "description", "status"], problems
        )
        await self.seed_schedule(tenant_id, slug, user_ids, [p[1] for p in patients], schedule_out)
        # the history, sealed in (occurred_at, id) order as the sealer would have done it
        events.sort(key=lambda e: (e["occurred_at"], e["id"]))
        prev, rows, sealed_at = bytes(32), [], now
        for seq, event in enumerate(events, start=1):
            digest = chain_hash(prev, event, seq)
            rows.append((*[event[c] for c in _AUDIT_COLUMNS[:-4]], seq, prev, digest, sealed_at))
            prev = digest
        await self.copy("audit_events", list(_AUDIT_COLUMNS), rows)


_AUDIT_COLUMNS = (
    "id", "tenant_id", "occurred_at", "actor_type", "actor_user_id", "actor_token_id", "actor_label",
    "action", "resource_type", "resource_id", "patient_id", "outcome", "client_ip", "user_agent",
    "reason", "emergency", "detail", "seal_seq", "prev_hash", "hash", "sealed_at",
)  # fmt: skip


async def _seed_part(settings: Settings, scale: Scale, data_dir: Path, part: int, parts: int) -> dict:
    """Seed tenants part, part + parts, ... on one connection; tsv files get a ``.<part>`` suffix."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: b"\x01" + json.dumps(v).encode(),
        decoder=lambda b: json.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )
    seeder = Seeder(conn, scale)
    targets: dict[str, list[uuid.UUID]] = {}
    started = time.monotonic()
    mine = range(part, scale.tenants, parts)
    try:
        with (
            (data_dir / f"tokens.tsv.{part}").open("w") as tokens_out,
            (data_dir / f"schedule.tsv.{part}").open("w") as schedule_out,
            (data_dir / f"targets.tsv.{part}").open("w") as targets_file,
        ):
            for done, i in enumerate(mine, start=1):
                targets[f"bench{i:04d}"] = []
                async with conn.transaction():
                    await seeder.seed_tenant(i, tokens_out, targets, schedule_out)
                for pid in targets.pop(f"bench{i:04d}"):
                    targets_file.write(f"bench{i:04d}\t{pid}\n")
                if part == 0 and done % max(len(mine) // 10, 1) == 0:
                    print(
                        f"  seeded {done * parts}/{scale.tenants} tenants ({time.monotonic() - started:.0f} s)",
                        flush=True,
                    )
    finally:
        await conn.close()
    return seeder.counts


#: the file in a bench data folder naming the seeding its tokens and targets belong to
SEED_MARK = "seed-id"
_MARK_PREFIX = "tessera bench seed "


async def _analyze_and_mark(settings: Settings, data_dir: Path) -> None:
    """ANALYZE, then mark the database and the data folder with one new id: the tokens and
    targets written here only work against the rows seeded with them."""
    mark = uuid.uuid4().hex
    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    try:
        await conn.execute("ANALYZE")
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{_MARK_PREFIX}{mark}'")
    finally:
        await conn.close()
    (data_dir / SEED_MARK).write_text(mark + "\n")


async def database_mark(conn: asyncpg.Connection) -> str | None:
    """The seeding id the connected bench database was marked with, if any."""
    comment = await conn.fetchval(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    )
    if comment and comment.startswith(_MARK_PREFIX):
        return comment[len(_MARK_PREFIX) :]
    return None


def folder_mark(data_dir: Path) -> str | None:
    """The seeding id a bench data folder was written for, if any."""
    path = data_dir / SEED_MARK
    return path.read_text().strip() if path.exists() else None


def _seed_part_process(args: tuple) -> dict:
    return asyncio.run(_seed_part(*args))


def seed(settings: Settings, scale: Scale, data_dir: Path, jobs: int | None = None) -> dict:
    """COPY the whole data set. ``jobs`` processes (default: one per core, at most 4) seed
    disjoint sets of tenants at once: building rows and hashing the audit chain in Python is
    two thirds of the time, and each tenant's chain is independent of the others'."""
    import concurrent.futures
    import multiprocessing

    jobs = max(1, min(jobs or os.cpu_count() or 1, 4, scale.tenants))
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        parts = list(
            pool.map(_seed_part_process, [(settings, scale, data_dir, k, jobs) for k in range(jobs)])
        )
    copy_seconds = time.monotonic() - started
    counts: dict[str, int] = {}
    for part in parts:
        for table, n in part.items():
            counts[table] = counts.get(table, 0) + n
    for name in ("tokens.tsv", "schedule.tsv", "targets.tsv"):
        with (data_dir / name).open("w") as out:
            for k in range(jobs):
                piece = data_dir / f"{name}.{k}"
                out.write(piece.read_text())
                piece.unlink()
    asyncio.run(_analyze_and_mark(settings, data_dir))
    return {
        "scale": scale.name,
        "tenants": scale.tenants,
        "patients_per_tenant": scale.patients,
        "rows": counts,
        "audit_history": f"{AUDIT_PER_PATIENT} events per patient, sealed (chained) at seeding",
        "jobs": jobs,
        "seconds": round(time.monotonic() - started, 1),
        "copy_seconds": round(copy_seconds, 1),
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000 tenants x 1,000 patients")
    parser.add_argument("--database", help="default: tessera_bench (quick), tessera_bench_1000x1000 (full)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--jobs", type=int, help="seeding processes (default: one per core, at most 4)")
    args = parser.parse_args()
    scale = FULL if args.full else QUICK
    database = args.database or database_for(scale)
    settings = bench_settings(database, args.redis_url)
    started = time.monotonic()
    prepare(settings)
    print(f"database {database} created and migrated ({time.monotonic() - started:.1f} s)")
    info = seed(settings, scale, data_dir_for(scale), args.jobs)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
