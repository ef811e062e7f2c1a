"""What a clinic gets when it switches scheduling on: two appointment types to book with
at once (renamed or retired in the setup screens). Idempotent: a clinic that already has
appointment types, from an earlier enabling or its own set-up, gets nothing new."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugins.scheduling.models import AppointmentType

STARTER_TYPES = (
    {
        "name": "New patient visit",
        "duration_minutes": 60,
        "colour": "#2563eb",
        "encounter_type": "evaluation",
    },
    {
        "name": "Follow-up visit",
        "duration_minutes": 30,
        "colour": "#16a34a",
        "encounter_type": "office-visit",
    },
)


async def seed_starter_types(session: AsyncSession) -> int:
    """Add the starter types unless the clinic has any type; returns how many were added."""
    if await session.scalar(select(exists().where(AppointmentType.id.is_not(None)))):
        return 0
    session.add_all(AppointmentType(**values) for values in STARTER_TYPES)
    await session.flush()
    return len(STARTER_TYPES)
