"""The scheduling plugin's tables. Every name starts with ``scheduling_``; every table is
tenant-owned (primary key ``(tenant_id, id)``, every foreign key carries ``tenant_id``).

Times: an appointment's ``starts_at``/``ends_at`` are instants (timestamptz, UTC). Weekly
availability is wall-clock time at the location (``time`` + the location's, else the
clinic's, IANA zone), so "Mondays 08:00-12:00" stays 08:00 local across DST changes.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.plugin_api import TenantModel, Timestamps, utcnow

#: Appointment statuses. ``booked`` and ``confirmed`` hold the slot until the visit;
#: ``arrived`` is set at check-in (the encounter exists from then on); ``completed``
#: follows the encounter being finished; ``cancelled`` and ``no-show`` free the slot.
STATUSES = ("booked", "confirmed", "arrived", "completed", "cancelled", "no-show")
#: Statuses whose time is taken: the conflict check only looks at these.
HOLDING = ("booked", "confirmed", "arrived", "completed")

EXCEPTION_KINDS = ("time-off", "extra-hours")
WAITLIST_STATUSES = ("waiting", "offered", "booked", "removed")
REMINDER_CHANNELS = ("email", "sms")
REMINDER_STATUSES = ("pending", "sending", "sent", "withdrawn", "failed")


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _fk(column: str, target: str, name: str, **kw) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"], name=name, **kw
    )


class Resource(Timestamps, TenantModel):
    """A room or piece of equipment at a location that some visits need: the gym, a
    treatment table. ``kind`` groups interchangeable ones ("table": Table 1, Table 2)."""

    __tablename__ = "scheduling_resources"
    __table_args__ = (
        _fk("location_id", "locations", "fk_scheduling_resources_location"),
        UniqueConstraint("tenant_id", "location_id", "name", name="uq_scheduling_resources_name"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 80", name="name_length"),
        CheckConstraint("char_length(kind) BETWEEN 1 AND 40", name="kind_length"),
    )

    location_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True, server_default="true")


class AppointmentType(Timestamps, TenantModel):
    """What is booked: "Initial evaluation, 60 min". ``encounter_type`` is the core
    encounter type check-in creates; ``resource_kind`` names the kind of resource at the
    location the visit needs (any free one of that kind is assigned)."""

    __tablename__ = "scheduling_appointment_types"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_scheduling_appointment_types_name"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration_range"),
        CheckConstraint("colour ~ '^#[0-9a-f]{6}$'", name="colour_hex"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 80", name="name_length"),
    )

    name: Mapped[str] = mapped_column(Text)
    duration_minutes: Mapped[int] = mapped_column(SmallInteger)
    colour: Mapped[str] = mapped_column(String(7), default="#3b82f6", server_default="#3b82f6")
    telehealth: Mapped[bool] = mapped_column(default=False, server_default="false")
    encounter_type: Mapped[str] = mapped_column(
        String(32), default="office-visit", server_default="office-visit"
    )
    resource_kind: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True, server_default="true")


class AvailabilityTemplate(Timestamps, TenantModel):
    """One weekly block a provider works at a location: weekday 0 = Monday, wall-clock
    ``start_time``-``end_time`` in the location's zone, between ``valid_from`` and
    ``valid_until`` (inclusive; open-ended when None)."""

    __tablename__ = "scheduling_availability"
    __table_args__ = (
        _fk("provider_id", "providers", "fk_scheduling_availability_provider"),
        _fk("location_id", "locations", "fk_scheduling_availability_location"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("end_time > start_time", name="ends_after_start"),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="valid_range"),
        Index("ix_scheduling_availability_provider", "tenant_id", "provider_id", "weekday"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column()
    location_id: Mapped[uuid.UUID] = mapped_column()
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    valid_from: Mapped[dt.date] = mapped_column()
    valid_until: Mapped[dt.date | None] = mapped_column()


class AvailabilityException(Timestamps, TenantModel):
    """Time off (``location_id`` None = everywhere) or extra hours at a location, as an
    interval of instants."""

    __tablename__ = "scheduling_availability_exceptions"
    __table_args__ = (
        _fk("provider_id", "providers", "fk_scheduling_availability_exceptions_provider"),
        _fk("location_id", "locations", "fk_scheduling_availability_exceptions_location"),
        CheckConstraint(f"kind IN ({_in(EXCEPTION_KINDS)})", name="kind_known"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("kind = 'time-off' OR location_id IS NOT NULL", name="extra_hours_located"),
        Index("ix_scheduling_availability_exceptions_provider", "tenant_id", "provider_id", "starts_at"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column()
    location_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)


class Series(Timestamps, TenantModel):
    """A recurring appointment: RFC 5545 ``rrule`` (without DTSTART) expanded from
    ``first_start_local`` (wall clock) in ``time_zone``, so every occurrence keeps its
    local time across DST changes. Occurrences are rows in ``scheduling_appointments``."""

    __tablename__ = "scheduling_series"
    __table_args__ = (
        _fk("patient_id", "patients", "fk_scheduling_series_patient"),
        _fk("provider_id", "providers", "fk_scheduling_series_provider"),
        _fk("location_id", "locations", "fk_scheduling_series_location"),
        _fk("type_id", "scheduling_appointment_types", "fk_scheduling_series_type"),
        Index("ix_scheduling_series_patient", "tenant_id", "patient_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    provider_id: Mapped[uuid.UUID] = mapped_column()
    location_id: Mapped[uuid.UUID] = mapped_column()
    type_id: Mapped[uuid.UUID] = mapped_column()
    rrule: Mapped[str] = mapped_column(Text)
    first_start_local: Mapped[dt.datetime] = mapped_column()  # naive wall-clock time
    time_zone: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class Appointment(Timestamps, TenantModel):
    """A booked visit. A series occurrence keeps ``series_id`` and ``occurrence_start``
    (its RECURRENCE-ID: the start the rule gave it, even after it was moved)."""

    __tablename__ = "scheduling_appointments"
    __table_args__ = (
        _fk("patient_id", "patients", "fk_scheduling_appointments_patient"),
        _fk("provider_id", "providers", "fk_scheduling_appointments_provider"),
        _fk("location_id", "locations", "fk_scheduling_appointments_location"),
        _fk("type_id", "scheduling_appointment_types", "fk_scheduling_appointments_type"),
        _fk("resource_id", "scheduling_resources", "fk_scheduling_appointments_resource"),
        _fk("series_id", "scheduling_series", "fk_scheduling_appointments_series"),
        _fk("encounter_id", "encounters", "fk_scheduling_appointments_encounter"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(f"status IN ({_in(STATUSES)})", name="status_known"),
        CheckConstraint("status <> 'cancelled' OR cancel_reason IS NOT NULL", name="cancel_has_reason"),
        Index("ix_scheduling_appointments_provider", "tenant_id", "provider_id", "starts_at"),
        Index("ix_scheduling_appointments_patient", "tenant_id", "patient_id", "starts_at"),
        Index("ix_scheduling_appointments_location", "tenant_id", "location_id", "starts_at"),
        Index(
            "ix_scheduling_appointments_resource",
            "tenant_id",
            "resource_id",
            "starts_at",
            postgresql_where="resource_id IS NOT NULL",
        ),
        Index(
            "uq_scheduling_appointments_occurrence",
            "tenant_id",
            "series_id",
            "occurrence_start",
            unique=True,
            postgresql_where="series_id IS NOT NULL",
        ),
        Index(
            "uq_scheduling_appointments_encounter",
            "tenant_id",
            "encounter_id",
            unique=True,
            postgresql_where="encounter_id IS NOT NULL",
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    provider_id: Mapped[uuid.UUID] = mapped_column()
    location_id: Mapped[uuid.UUID] = mapped_column()
    type_id: Mapped[uuid.UUID] = mapped_column()
    resource_id: Mapped[uuid.UUID | None] = mapped_column()
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="booked", server_default="booked")
    telehealth: Mapped[bool] = mapped_column(default=False, server_default="false")
    note: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    series_id: Mapped[uuid.UUID | None] = mapped_column()
    occurrence_start: Mapped[dt.datetime | None] = mapped_column()
    encounter_id: Mapped[uuid.UUID | None] = mapped_column()
    #: bumped on every reschedule; reminders and signed links name the version they are for
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class WaitlistEntry(Timestamps, TenantModel):
    """A patient who wants an earlier or any slot, with what would suit them."""

    __tablename__ = "scheduling_waitlist"
    __table_args__ = (
        _fk("patient_id", "patients", "fk_scheduling_waitlist_patient"),
        _fk("provider_id", "providers", "fk_scheduling_waitlist_provider"),
        _fk("location_id", "locations", "fk_scheduling_waitlist_location"),
        _fk("type_id", "scheduling_appointment_types", "fk_scheduling_waitlist_type"),
        _fk("appointment_id", "scheduling_appointments", "fk_scheduling_waitlist_appointment"),
        _fk("offered_provider_id", "providers", "fk_scheduling_waitlist_offered_provider"),
        _fk("offered_location_id", "locations", "fk_scheduling_waitlist_offered_location"),
        CheckConstraint(f"status IN ({_in(WAITLIST_STATUSES)})", name="status_known"),
        CheckConstraint("latest_date IS NULL OR latest_date >= earliest_date", name="date_range"),
        CheckConstraint(
            "status <> 'offered' OR (offered_provider_id IS NOT NULL AND offered_location_id IS NOT NULL "
            "AND offered_starts_at IS NOT NULL AND offered_ends_at > offered_starts_at)",
            name="offer_complete",
        ),
        Index("ix_scheduling_waitlist_status", "tenant_id", "status", "created_at"),
        Index(
            "ix_scheduling_waitlist_offered_slot",
            "tenant_id",
            "offered_provider_id",
            "offered_starts_at",
            postgresql_where="status = 'offered'",
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    type_id: Mapped[uuid.UUID] = mapped_column()
    #: None = any provider / any location
    provider_id: Mapped[uuid.UUID | None] = mapped_column()
    location_id: Mapped[uuid.UUID | None] = mapped_column()
    earliest_date: Mapped[dt.date] = mapped_column()
    latest_date: Mapped[dt.date | None] = mapped_column()
    #: weekdays that suit (0 = Monday); empty = any
    weekdays: Mapped[str] = mapped_column(String(13), default="", server_default="")
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="waiting", server_default="waiting")
    #: the appointment booked from this entry
    appointment_id: Mapped[uuid.UUID | None] = mapped_column()
    #: while ``offered``: the freed slot offered (migration scheduling_0002_c)
    offered_provider_id: Mapped[uuid.UUID | None] = mapped_column()
    offered_location_id: Mapped[uuid.UUID | None] = mapped_column()
    offered_starts_at: Mapped[dt.datetime | None] = mapped_column()
    offered_ends_at: Mapped[dt.datetime | None] = mapped_column()
    offered_at: Mapped[dt.datetime | None] = mapped_column()


class Reminder(Timestamps, TenantModel):
    """One reminder of one appointment by one rule (e.g. "email 48 h before") for one
    appointment time (``appointment_version``). The unique key is what makes a reminder
    go out exactly once, whatever the worker or the queue does."""

    __tablename__ = "scheduling_reminders"
    __table_args__ = (
        _fk("appointment_id", "scheduling_appointments", "fk_scheduling_reminders_appointment"),
        UniqueConstraint(
            "tenant_id", "appointment_id", "rule", "appointment_version", name="uq_scheduling_reminders_once"
        ),
        CheckConstraint(f"channel IN ({_in(REMINDER_CHANNELS)})", name="channel_known"),
        CheckConstraint(f"status IN ({_in(REMINDER_STATUSES)})", name="status_known"),
        CheckConstraint("status <> 'sending' OR claimed_at IS NOT NULL", name="sending_claimed"),
        Index("ix_scheduling_reminders_due", "tenant_id", "status", "due_at"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column()
    appointment_version: Mapped[int] = mapped_column()
    #: e.g. "email-48h"
    rule: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    #: the transport's id for the message (SMTP Message-ID, the SMS provider's id)
    transport_id: Mapped[str | None] = mapped_column(Text)
    #: why it failed or was withdrawn; never the message text (it holds PHI)
    detail: Mapped[str | None] = mapped_column(Text)
    #: the delayed outbox entry that sends it (migration scheduling_0002_d)
    outbox_id: Mapped[uuid.UUID | None] = mapped_column()
    #: when a worker marked it ``sending`` (committed before talking to the transport)
    claimed_at: Mapped[dt.datetime | None] = mapped_column()


class IcsFeed(Timestamps, TenantModel):
    """A provider's calendar feed behind a secret URL. Only the token's SHA-256 is
    stored; revoking sets ``revoked_at``. ``show_names`` puts full names in events
    instead of initials."""

    __tablename__ = "scheduling_ics_feeds"
    __table_args__ = (
        _fk("provider_id", "providers", "fk_scheduling_ics_feeds_provider"),
        UniqueConstraint("tenant_id", "token_digest", name="uq_scheduling_ics_feeds_token"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column()
    token_digest: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(Text)
    show_names: Mapped[bool] = mapped_column(default=False, server_default="false")
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column()


class LinkUse(TenantModel):
    """A signed patient link (confirm / cancel) that has been used: links are single-use,
    so the second click is told it was already used."""

    __tablename__ = "scheduling_link_uses"
    __table_args__ = (
        _fk("appointment_id", "scheduling_appointments", "fk_scheduling_link_uses_appointment"),
        UniqueConstraint("tenant_id", "nonce", name="uq_scheduling_link_uses_nonce"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column()
    nonce: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    used_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


__all__ = [
    "HOLDING",
    "STATUSES",
    "Appointment",
    "AppointmentType",
    "AvailabilityException",
    "AvailabilityTemplate",
    "IcsFeed",
    "LinkUse",
    "Reminder",
    "Resource",
    "Series",
    "WaitlistEntry",
]
