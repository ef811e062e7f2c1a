"""The tenant registry (global) and per-tenant plugin enabling (tenant-scoped)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, TenantScoped, new_id

SLUG_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
RESERVED_SLUGS = frozenset({"www", "api", "static", "admin", "platform", "mail", "app"})


class Tenant(Base):
    """A clinic. Global table: the platform resolves hosts to tenants before any scope."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(f"slug ~ '{SLUG_PATTERN}'", name="slug_format"),
        CheckConstraint("status IN ('active', 'suspended')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    preset: Mapped[str | None] = mapped_column(String(40))
    time_zone: Mapped[str] = mapped_column(Text, default="UTC", server_default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    #: Bumped whenever the tenant's plugin set or status changes, so every process can
    #: cache the enabled set keyed by it.
    config_version: Mapped[int] = mapped_column(default=1, server_default="1")
    #: automatic logoff after this many idle seconds (HIPAA 164.312(a)(2)(iii))
    session_idle_seconds: Mapped[int] = mapped_column(default=900, server_default="900")
    #: a session ends this long after sign-in, however active
    session_max_seconds: Mapped[int] = mapped_column(default=43200, server_default="43200")
    #: every member must enrol a second factor before using the site
    mfa_required: Mapped[bool] = mapped_column(default=False, server_default="false")

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class TenantPlugin(TenantScoped, Base):
    """One plugin's state for one tenant. Disabling keeps the row (and the plugin's data)."""

    __tablename__ = "tenant_plugins"

    plugin: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    disabled_at: Mapped[dt.datetime | None] = mapped_column()
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None
