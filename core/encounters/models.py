"""Encounters and their status history."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import TenantModel, Timestamps, utcnow
from core.encounters.status import INITIAL, STATUSES

#: Core's kinds of visit: the built-in entries of the encounter-type vocabulary (plugins add
#: theirs with ``tessera_encounter_types``; ``app.state.encounter_types`` holds them all).
ENCOUNTER_TYPES: dict[str, str] = {
    "office-visit": "Office visit",
    "evaluation": "Evaluation",
    "re-evaluation": "Re-evaluation",
    "telehealth": "Telehealth visit",
    "group": "Group session",
}


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Encounter(Timestamps, TenantModel):
    """One visit. ``patient_id`` references ``patients`` (tenant_id, id); that key is
    declared in the migration only, so this model does not depend on the patients module."""

    __tablename__ = "encounters"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_encounters_provider",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_encounters_location",
        ),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(f"status IN ({_in(STATUSES)})", name="status_known"),
        # an open vocabulary: the app checks the code against the installed types
        CheckConstraint("type ~ '^[a-z][a-z0-9-]{1,31}$'", name="type_shape"),
        Index("ix_encounters_patient", "tenant_id", "patient_id", "starts_at"),
        Index("ix_encounters_provider", "tenant_id", "provider_id", "starts_at"),
        Index("ix_encounters_location", "tenant_id", "location_id", "starts_at"),
        Index("ix_encounters_starts", "tenant_id", "starts_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    provider_id: Mapped[uuid.UUID] = mapped_column()
    location_id: Mapped[uuid.UUID] = mapped_column()
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    type: Mapped[str] = mapped_column(String(32))
    #: CMS place-of-service code (core.practice.codes); defaults to the location's
    place_of_service: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default=INITIAL, server_default=INITIAL)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class EncounterStatusHistory(TenantModel):
    """Every status an encounter took, who set it and when (append-only for the app)."""

    __tablename__ = "encounter_status_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "encounter_id"],
            ["encounters.tenant_id", "encounters.id"],
            name="fk_encounter_status_history_encounter",
        ),
        Index("ix_encounter_status_history_encounter", "tenant_id", "encounter_id", "changed_at"),
    )

    encounter_id: Mapped[uuid.UUID] = mapped_column()
    #: None for the first row (the encounter was created)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


__all__ = ["ENCOUNTER_TYPES", "Encounter", "EncounterStatusHistory"]
