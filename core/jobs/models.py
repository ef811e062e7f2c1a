"""The outbox: work that must not be lost, written in the transaction that caused it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import TenantModel

#: ``pending`` waits for the dispatcher (and for ``not_before``), ``enqueued`` is in arq,
#: ``done``/``failed`` are final, ``withdrawn`` was called off before it ran.
OUTBOX_STATUSES = ("pending", "enqueued", "done", "failed", "withdrawn")


class OutboxEntry(TenantModel):
    __tablename__ = "core_outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'enqueued', 'done', 'failed', 'withdrawn')", name="status_known"
        ),
        Index(
            "ix_core_outbox_open",
            "status",
            "created_at",
            postgresql_where=text("status IN ('pending', 'enqueued')"),
        ),
        # The dispatcher asks for pending rows that are due: (status, not_before).
        Index(
            "ix_core_outbox_due",
            "status",
            "not_before",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    job: Mapped[str] = mapped_column(String(120))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    enqueued_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    #: not dispatched before this instant (None: at once); a reminder due in two days
    not_before: Mapped[dt.datetime | None] = mapped_column()

    @property
    def arq_job_id(self) -> str:
        return f"outbox:{self.id}"
