"""A small clinic for the feed, report, setup-screen and demo tests: a tenant with
scheduling on, two locations, two providers (each a clinician user), staff of every
default role, patients and one appointment type. Appointments are written straight into
the table (``add_appointment``) where the booking rules are not what a test is about."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from core.practice.models import Location, Provider, ProviderLocation
from core.tenancy import tenant_scope
from core.tenancy.models import Tenant
from plugins.scheduling.models import Appointment, AppointmentType
from tests.test_encounters_api import add_patient


@dataclass
class SampleClinic:
    tenant: object
    users: dict[str, object]  # role -> user; "clinician" and "clinician2" are the providers
    main_id: uuid.UUID
    annex_id: uuid.UUID
    provider_id: uuid.UUID
    provider2_id: uuid.UUID
    type_id: uuid.UUID
    patients: list[uuid.UUID] = field(default_factory=list)


async def make_sample_clinic(
    db, make_tenant, make_user, owner_engine, *, time_zone="America/Chicago", name="Sample PT"
) -> SampleClinic:
    tenant = await make_tenant(plugins=("scheduling",), name=name)
    async with db.session() as session:  # the ORM change tells the app's tenant cache
        row = await session.scalar(select(Tenant).where(Tenant.id == tenant.id))
        row.time_zone = time_zone
        await session.commit()
    tenant.time_zone = time_zone
    users = {
        role: await make_user(tenant, roles=(role,), name=f"{role.title()} Person")
        for role in ("owner", "front_desk", "biller")
    }
    users["clinician"] = await make_user(tenant, roles=("clinician",), name="Sam Patel")
    users["clinician2"] = await make_user(tenant, roles=("clinician",), name="Lee Chen")
    with tenant_scope(tenant.id):
        async with db.session() as session:
            main = Location(name="Main Clinic", time_zone=time_zone)
            annex = Location(name="Annex, 2nd floor", time_zone=time_zone)
            session.add_all([main, annex])
            await session.flush()
            first = Provider(user_id=users["clinician"].id, credentials="PT, DPT")
            second = Provider(user_id=users["clinician2"].id, credentials="PT")
            session.add_all([first, second])
            await session.flush()
            for provider in (first, second):
                for location in (main, annex):
                    session.add(ProviderLocation(provider_id=provider.id, location_id=location.id))
            kind = AppointmentType(name="PT follow-up", duration_minutes=45, encounter_type="office-visit")
            session.add(kind)
            await session.commit()
    clinic = SampleClinic(tenant, users, main.id, annex.id, first.id, second.id, kind.id)
    for given, family in (("Ada", "Example"), ("Zoë", "Müller"), ("Bo", "Smith")):
        clinic.patients.append(await add_patient(owner_engine, tenant, given=given, family=family))
    return clinic


async def add_appointment(
    db,
    clinic: SampleClinic,
    starts_at: dt.datetime,
    *,
    minutes: int = 45,
    status: str = "booked",
    provider_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    patient: int = 0,
    cancelled_at: dt.datetime | None = None,
    version: int = 1,
    telehealth: bool = False,
) -> uuid.UUID:
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            appointment = Appointment(
                patient_id=clinic.patients[patient],
                provider_id=provider_id or clinic.provider_id,
                location_id=location_id or clinic.main_id,
                type_id=clinic.type_id,
                starts_at=starts_at,
                ends_at=starts_at + dt.timedelta(minutes=minutes),
                status=status,
                cancel_reason="patient called" if status == "cancelled" else None,
                status_changed_at=cancelled_at or starts_at - dt.timedelta(days=3),
                version=version,
                telehealth=telehealth,
            )
            session.add(appointment)
            await session.commit()
            return appointment.id
