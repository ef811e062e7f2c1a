"""Notes and their addenda. ``patient_id`` and ``encounter_id`` reference ``patients`` and
``encounters`` by (tenant_id, id); the patient key is declared in the migration only, like
the encounters'. A signed note and every addendum are immutable for the app's database
role (migration core_0021: a trigger and the grants)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import TenantModel, Timestamps, utcnow

DRAFT = "draft"
SIGNED = "signed"
STATUSES = (DRAFT, SIGNED)
#: a note signed longer than this after its visit is a late entry
LATE_AFTER = dt.timedelta(hours=24)


class ClinicalNote(Timestamps, TenantModel):
    """A clinical note (``notes``): a template's content about a patient, normally of a visit."""

    __tablename__ = "notes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "encounter_id"],
            ["encounters.tenant_id", "encounters.id"],
            name="fk_notes_encounter",
        ),
        CheckConstraint("status IN ('draft', 'signed')", name="status_known"),
        CheckConstraint(
            "(status = 'signed') = (signed_at IS NOT NULL AND signed_by_user_id IS NOT NULL "
            "AND content_sha256 IS NOT NULL)",
            name="signed_complete",
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_notes_patient", "tenant_id", "patient_id", "created_at"),
        Index("ix_notes_encounter", "tenant_id", "encounter_id"),
        Index(
            "ix_notes_author_drafts", "tenant_id", "author_user_id", postgresql_where=text("status = 'draft'")
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    encounter_id: Mapped[uuid.UUID | None] = mapped_column()
    template_key: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int] = mapped_column()
    #: ``NoteTemplate.fingerprint`` of the template the note was started with
    template_sha256: Mapped[str] = mapped_column(String(64))
    author_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT, server_default=DRAFT)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    service_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    #: optimistic locking: every saved change adds one; a save naming an older one is a 409
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    signed_at: Mapped[dt.datetime | None] = mapped_column()
    signed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    late_entry: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class NoteAddendum(TenantModel):
    """Text added to a signed note; signed by its author when written, never changed."""

    __tablename__ = "note_addenda"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "note_id"],
            ["notes.tenant_id", "notes.id"],
            name="fk_note_addenda_note",
        ),
        Index("ix_note_addenda_note", "tenant_id", "note_id", "signed_at"),
    )

    note_id: Mapped[uuid.UUID] = mapped_column()
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_sha256: Mapped[str] = mapped_column(String(64))
    signed_by_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


__all__ = ["DRAFT", "LATE_AFTER", "SIGNED", "STATUSES", "ClinicalNote", "NoteAddendum"]
