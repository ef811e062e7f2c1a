"""Tables of instrument responses and observations (tenant-owned: ``tenant_id`` leads
the primary key and every foreign key; migration core_0022 forces row-level security).

Both are append-only for the app: a value measured is never changed; a correction is a
new response or observation."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, Numeric, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import TenantModel, utcnow


class InstrumentResponse(TenantModel):
    """One completed instrument: the answers as given and the score the server computed."""

    __tablename__ = "instrument_responses"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name="fk_instrument_responses_patient",
        ),
        Index("ix_instrument_responses_patient", "tenant_id", "patient_id", "instrument_key", "effective_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    instrument_key: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    score: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 4))
    band: Mapped[str | None] = mapped_column(String(80))
    alerts: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    effective_at: Mapped[dt.datetime] = mapped_column()
    recorded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class Observation(TenantModel):
    """One measured value of a patient (a score, a pain rating, a range of motion).

    ``source_response_id`` is the instrument response it came from; ``source_note_id``
    a clinical note's id (no key: notes are another part's table)."""

    __tablename__ = "observations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], name="fk_observations_patient"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "source_response_id"],
            ["instrument_responses.tenant_id", "instrument_responses.id"],
            name="fk_observations_response",
        ),
        CheckConstraint("source_response_id IS NULL OR source_note_id IS NULL", name="one_source"),
        Index(
            "ix_observations_patient_code", "tenant_id", "patient_id", "code_system", "code", "effective_at"
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    code_system: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(40))
    display: Mapped[str] = mapped_column(String(200))
    value: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 4))
    unit: Mapped[str] = mapped_column(String(40))
    effective_at: Mapped[dt.datetime] = mapped_column()
    source_response_id: Mapped[uuid.UUID | None] = mapped_column()
    source_note_id: Mapped[uuid.UUID | None] = mapped_column()
    recorded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
