"""Locations (where a clinic sees patients) and providers (members of the clinic who
see them, with their identifiers and the locations where they work)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, TenantModel, TenantScoped, Timestamps


class Location(Timestamps, TenantModel):
    __tablename__ = "locations"

    name: Mapped[str] = mapped_column(Text)
    address_line1: Mapped[str | None] = mapped_column(Text)
    address_line2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(String(40))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(40))
    #: IANA name; None means the tenant's time zone
    time_zone: Mapped[str | None] = mapped_column(Text)
    #: CMS place-of-service code new encounters here get (see core.practice.codes)
    place_of_service: Mapped[str] = mapped_column(String(2), default="11", server_default="11")
    active: Mapped[bool] = mapped_column(default=True, server_default="true")


class Provider(Timestamps, TenantModel):
    """A member of the clinic who sees patients: a user of the tenant with credentials."""

    __tablename__ = "providers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["memberships.tenant_id", "memberships.user_id"],
            name="fk_providers_membership",
        ),
        UniqueConstraint("tenant_id", "user_id", name="uq_providers_user"),
        Index("uq_providers_npi", "tenant_id", "npi", unique=True, postgresql_where="npi IS NOT NULL"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column()
    #: as the provider signs, e.g. "PT, DPT"
    credentials: Mapped[str | None] = mapped_column(Text)
    npi: Mapped[str | None] = mapped_column(String(10))
    taxonomy_code: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(default=True, server_default="true")


class ProviderLocation(TenantScoped, Base):
    """A location where a provider works."""

    __tablename__ = "provider_locations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_provider_locations_provider",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_provider_locations_location",
        ),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


__all__ = ["Location", "Provider", "ProviderLocation"]
