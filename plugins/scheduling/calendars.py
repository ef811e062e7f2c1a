"""No double booking: lock the calendars a booking touches, then look for overlaps.

PostgreSQL's exclusion constraints over time ranges need ``btree_gist`` for the equality
part, a contrib extension the embedded server does not ship. So booking serialises on
transaction-scoped advisory locks instead, one per calendar (a provider's, a patient's,
a resource's), keyed by ``hashtextextended('<tenant>:<kind>:<id>', 0)`` — both built in.
Every writer that can create an overlap (book, reschedule, series, waitlist) takes the
locks of every calendar it touches, in one sorted order (so two bookings never deadlock),
before it reads for conflicts; the locks are released when its transaction ends, after
its rows are committed and visible to the next holder's READ COMMITTED snapshot.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import require_tenant_id
from plugins.scheduling.models import HOLDING, Appointment, Resource


@dataclass(frozen=True)
class Calendars:
    """The calendars one booking occupies."""

    provider_id: uuid.UUID
    patient_id: uuid.UUID
    resource_ids: tuple[uuid.UUID, ...] = ()

    def lock_keys(self, tenant_id: uuid.UUID) -> list[str]:
        keys = [f"{tenant_id}:provider:{self.provider_id}", f"{tenant_id}:patient:{self.patient_id}"]
        keys += [f"{tenant_id}:resource:{rid}" for rid in self.resource_ids]
        return keys


async def lock(session: AsyncSession, *calendars: Calendars) -> None:
    """Take the advisory locks of every calendar named, in sorted order; they are held
    until the transaction ends. Call before reading for conflicts."""
    tenant_id = require_tenant_id()
    keys = sorted({key for c in calendars for key in c.lock_keys(tenant_id)})
    if keys:
        await session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) AS k"
            ),
            {"keys": keys},
        )


async def overlapping(
    session: AsyncSession,
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    provider_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    resource_ids: Iterable[uuid.UUID] = (),
    exclude_ids: Iterable[uuid.UUID] = (),
) -> list[Appointment]:
    """Appointments that hold time overlapping ``[starts_at, ends_at)`` on the provider's,
    the patient's or any of the resources' calendars, earliest first."""
    who = []
    if provider_id is not None:
        who.append(Appointment.provider_id == provider_id)
    if patient_id is not None:
        who.append(Appointment.patient_id == patient_id)
    resource_ids = list(resource_ids)
    if resource_ids:
        who.append(Appointment.resource_id.in_(resource_ids))
    if not who:
        return []
    query = (
        select(Appointment)
        .where(
            Appointment.status.in_(HOLDING),
            Appointment.starts_at < ends_at,
            Appointment.ends_at > starts_at,
            or_(*who),
        )
        .order_by(Appointment.starts_at)
    )
    exclude = list(exclude_ids)
    if exclude:
        query = query.where(Appointment.id.not_in(exclude))
    return list(await session.scalars(query))


async def resources_of_kind(session: AsyncSession, location_id: uuid.UUID, kind: str) -> list[Resource]:
    """The active resources of ``kind`` at a location, by name."""
    return list(
        await session.scalars(
            select(Resource)
            .where(and_(Resource.location_id == location_id, Resource.kind == kind, Resource.active))
            .order_by(Resource.name)
        )
    )


def free_resource(
    candidates: list[Resource], taken: list[Appointment], prefer: uuid.UUID | None = None
) -> Resource | None:
    """The first candidate no appointment in ``taken`` holds (``prefer`` first if free)."""
    busy = {a.resource_id for a in taken if a.resource_id is not None}
    ordered = sorted(candidates, key=lambda r: (r.id != prefer, r.name))
    return next((r for r in ordered if r.id not in busy), None)


__all__ = ["Calendars", "free_resource", "lock", "overlapping", "resources_of_kind"]
