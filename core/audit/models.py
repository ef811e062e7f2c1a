"""The audit log: one row per access or change, sealed into a per-tenant SHA-256 chain.

The app's role may INSERT and SELECT rows, never UPDATE or DELETE them. The sealer (a
separate database role) fills only the chain columns, in the order it seals.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import TenantModel

ACTIONS = (
    "read",
    "create",
    "update",
    "delete",
    "export",
    "login",
    "login_failed",
    "logout",
    "signin_unlocked",
    "denied",
    "break_glass",
    "mfa_enrolled",
    "mfa_failed",
    "mfa_changed",
    "password_changed",
    "session_revoked",
    "token_created",
    "token_revoked",
    "token_rejected",
    "csrf_rejected",
    "session_rejected",
    "role_changed",
    "user_invited",
    "user_deactivated",
    "locked_out",
)
OUTCOMES = ("success", "denied", "failure")

#: Columns whose values the chain hash covers, in a fixed order.
CHAINED_FIELDS = (
    "id",
    "tenant_id",
    "occurred_at",
    "actor_type",
    "actor_user_id",
    "actor_token_id",
    "actor_label",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "outcome",
    "client_ip",
    "user_agent",
    "reason",
    "emergency",
    "detail",
)


class AuditEvent(TenantModel):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_time", "tenant_id", text("occurred_at DESC")),
        Index(
            "ix_audit_events_patient",
            "tenant_id",
            "patient_id",
            text("occurred_at DESC"),
            postgresql_where=text("patient_id IS NOT NULL"),
        ),
        Index("ix_audit_events_actor", "tenant_id", "actor_user_id", text("occurred_at DESC")),
        Index("uq_audit_events_seal", "tenant_id", "seal_seq", unique=True),
        Index("ix_audit_events_unsealed", "tenant_id", postgresql_where=text("seal_seq IS NULL")),
    )

    occurred_at: Mapped[dt.datetime] = mapped_column(server_default=func.clock_timestamp())
    #: "user", "token", "system" or "anonymous"
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_token_id: Mapped[uuid.UUID | None] = mapped_column()
    #: the actor's e-mail (or job name) at the time, so the log reads without joins
    actor_label: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(Text)
    patient_id: Mapped[uuid.UUID | None] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    #: why: the emergency-access reason, or what was denied
    reason: Mapped[str | None] = mapped_column(Text)
    emergency: Mapped[bool] = mapped_column(default=False, server_default="false")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # -- the chain, written by the sealer only ---------------------------------------------
    seal_seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_at: Mapped[dt.datetime | None] = mapped_column()
