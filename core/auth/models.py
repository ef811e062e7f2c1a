"""Identity: users (global), platform operators (global), memberships and API tokens
(per tenant). A user may belong to several tenants; a session is bound to one."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, TenantModel, TenantScoped, new_id

ROLE_NAMES = ("owner", "clinician", "front_desk", "biller", "auditor")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email_lower", func.lower(text("email")), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    password_changed_at: Mapped[dt.datetime | None] = mapped_column()
    #: base32 TOTP secret; set during enrolment, active once ``mfa_enabled_at`` is set
    mfa_secret: Mapped[str | None] = mapped_column(Text)
    mfa_enabled_at: Mapped[dt.datetime | None] = mapped_column()
    #: SHA-256 hex digests of unused recovery codes
    recovery_codes: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")


class PlatformOperator(Base):
    """A user who manages the instance's tenants at the base domain."""

    __tablename__ = "platform_operators"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Membership(TenantScoped, Base):
    """A user's roles in one tenant."""

    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint("status IN ('active', 'deactivated')", name="status_known"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    @property
    def is_active(self) -> bool:
        return self.status == "active"


def token_usable(revoked_at: dt.datetime | None, expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    """A token is usable until it is revoked or expires."""
    return revoked_at is None and (expires_at is None or expires_at > now)


class ApiToken(TenantModel):
    """A personal API token: shown once, stored as a SHA-256 digest, bound to one tenant."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("uq_api_tokens_digest", "token_digest", unique=True),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(Text)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary)
    #: the first characters of the token, to recognise it in lists
    prefix: Mapped[str] = mapped_column(String(16))
    #: permission objects the token is limited to (empty: the user's full rights)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[dt.datetime | None] = mapped_column()
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()

    @property
    def is_usable(self) -> bool:
        return token_usable(self.revoked_at, self.expires_at, dt.datetime.now(dt.UTC))


__all__ = ["ROLE_NAMES", "ApiToken", "Membership", "PlatformOperator", "User", "token_usable"]
