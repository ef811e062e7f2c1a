"""Declarative base and the TenantScoped mixin.

A tenant-owned table has ``tenant_id`` as the first column of its primary key and of every
foreign key to another tenant table, so the schema can be distributed by tenant (Citus).
"""

from __future__ import annotations

import datetime as dt
import uuid

import uuid_utils
from sqlalchemy import ForeignKey, MetaData, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from core.db.types import SafeDate, SafeDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so new rows land at the right edge of the primary-key index."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # dates and instants read back tolerantly (core.db.types): a stored extreme never breaks a page
    type_annotation_map = {dt.datetime: SafeDateTime(), dt.date: SafeDate(), uuid.UUID: Uuid}


class TenantScoped:
    """Mixin for every tenant-owned model: adds ``tenant_id`` as the leading key column.

    The ORM guard (``core.db.session``) refuses to query these models outside a tenant
    scope, filters them to the current tenant inside one, and stamps new rows.
    """

    __tenant_scoped__ = True

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(Uuid, ForeignKey("tenants.id"), primary_key=True, sort_order=-100)


class TenantModel(TenantScoped, Base):
    """Abstract base for the usual tenant entity: primary key ``(tenant_id, id)``."""

    __abstract__ = True

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-99)


class Timestamps:
    """Mixin: ``created_at`` and ``updated_at``, set by the app when a row is written (the
    server's ``now()`` is the default for rows written by SQL) and ``updated_at`` again on
    every ORM update."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=func.now(), onupdate=utcnow
    )


def is_tenant_scoped(cls: type) -> bool:
    return bool(getattr(cls, "__tenant_scoped__", False))
