"""A clinic to book in, for the setup, slot, booking and isolation tests: a tenant with
scheduling on, a location in America/Chicago (and a second one), one provider working
Monday-Friday 08:00-17:00 at the first, patients, a 45-minute type and a type that needs
a treatment table (two tables). Built through the models in the tenant's scope; the
booking rules themselves are what the tests exercise."""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from litestar.testing import AsyncTestClient

from core.practice.models import Location, Provider, ProviderLocation
from core.tenancy import tenant_scope
from plugins.scheduling.models import AppointmentType, AvailabilityTemplate, Resource
from tests.test_encounters_api import add_patient
from tests.test_practice_api import bearer

ZONE = "America/Chicago"
#: a Monday in winter (CST, UTC-6)
MONDAY = dt.date(2026, 3, 2)


@dataclass
class BookingClinic:
    tenant: object
    owner: object
    front_desk: object
    clinician: object
    location_id: uuid.UUID
    other_location_id: uuid.UUID
    provider_id: uuid.UUID
    type_id: uuid.UUID
    table_type_id: uuid.UUID
    table_ids: list[uuid.UUID]
    patients: list[uuid.UUID] = field(default_factory=list)


def at(day: dt.date, hhmm: str, zone: str = ZONE) -> dt.datetime:
    """An aware instant from a local wall time (not in a DST gap)."""
    import zoneinfo

    hours, minutes = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hours, minutes), tzinfo=zoneinfo.ZoneInfo(zone))


async def make_booking_clinic(
    db,
    make_tenant,
    make_user,
    owner_engine,
    *,
    patients: int = 3,
    hours: tuple[str, str] = ("08:00", "17:00"),
) -> BookingClinic:
    tenant = await make_tenant(plugins=("scheduling",), name="Booking PT")
    owner = await make_user(tenant, roles=("owner",), name="Olive Owner")
    front_desk = await make_user(tenant, roles=("front_desk",), name="Frank Desk")
    clinician = await make_user(tenant, roles=("clinician",), name="Sam Patel")
    start, end = (dt.time.fromisoformat(h) for h in hours)
    with tenant_scope(tenant.id):
        async with db.session() as session:
            main = Location(name="Main Clinic", time_zone=ZONE)
            annex = Location(name="Annex", time_zone=ZONE)
            session.add_all([main, annex])
            await session.flush()
            provider = Provider(user_id=clinician.id, credentials="PT, DPT")
            session.add(provider)
            await session.flush()
            session.add(ProviderLocation(provider_id=provider.id, location_id=main.id))
            follow_up = AppointmentType(
                name="PT follow-up", duration_minutes=45, encounter_type="office-visit"
            )
            on_table = AppointmentType(
                name="Manual therapy",
                duration_minutes=30,
                encounter_type="office-visit",
                resource_kind="table",
            )
            tables = [Resource(location_id=main.id, name=f"Table {n}", kind="table") for n in (1, 2)]
            session.add_all([follow_up, on_table, *tables])
            for weekday in range(5):
                session.add(
                    AvailabilityTemplate(
                        provider_id=provider.id,
                        location_id=main.id,
                        weekday=weekday,
                        start_time=start,
                        end_time=end,
                        valid_from=dt.date(2026, 1, 1),
                    )
                )
            await session.commit()
    clinic = BookingClinic(
        tenant,
        owner,
        front_desk,
        clinician,
        main.id,
        annex.id,
        provider.id,
        follow_up.id,
        on_table.id,
        [t.id for t in tables],
    )
    for n in range(patients):
        clinic.patients.append(await add_patient(owner_engine, tenant, given=f"Pat{n}", family="Example"))
    return clinic


@asynccontextmanager
async def tenant_session(db, clinic: BookingClinic):
    """A session in the clinic's scope (the caller commits)."""
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            yield session


def tenant_hooks(registry, *plugins: str):
    """The hook callers a request of a tenant with these plugins gets."""
    return registry.for_tenant(frozenset(("scheduling", *plugins)))


async def api_client(app, db, tenant, user) -> AsyncTestClient:
    """A client on the tenant's host with a Bearer token of ``user`` (open one at a time)."""
    client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    client.headers.update(await bearer(db, tenant, user))
    return client
