"""scheduling: appointment types, resources, availability and exceptions, series,
appointments, waitlist, reminders, iCalendar feeds, used patient links

Revision ID: scheduling_0001
Depends on: core_0011 (patients, providers, locations, encounters)

Nothing is ever hard-deleted from appointments, series, waitlist or reminders (the app
role has no DELETE there): cancelling is a status. Weekly availability blocks and
exceptions may be deleted (they are set-up, not history).
"""

import sqlalchemy as sa
from alembic import op

from core.plugin_api import protect_tenant_table

revision = "scheduling_0001"
down_revision = None
branch_labels = ("scheduling",)
depends_on = "core_0011"

TABLES_AND_PRIVILEGES = {
    "scheduling_appointment_types": "SELECT, INSERT, UPDATE",
    "scheduling_resources": "SELECT, INSERT, UPDATE",
    "scheduling_availability": "SELECT, INSERT, UPDATE, DELETE",
    "scheduling_availability_exceptions": "SELECT, INSERT, UPDATE, DELETE",
    "scheduling_series": "SELECT, INSERT, UPDATE",
    "scheduling_appointments": "SELECT, INSERT, UPDATE",
    "scheduling_waitlist": "SELECT, INSERT, UPDATE",
    "scheduling_reminders": "SELECT, INSERT, UPDATE",
    "scheduling_ics_feeds": "SELECT, INSERT, UPDATE",
    "scheduling_link_uses": "SELECT, INSERT",
}


def upgrade() -> None:
    op.create_table(
        "scheduling_appointment_types",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("duration_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("colour", sa.String(length=7), server_default="#3b82f6", nullable=False),
        sa.Column("telehealth", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("encounter_type", sa.String(length=32), server_default="office-visit", nullable=False),
        sa.Column("resource_kind", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "colour ~ '^#[0-9a-f]{6}$'", name=op.f("ck_scheduling_appointment_types_colour_hex")
        ),
        sa.CheckConstraint(
            "char_length(name) BETWEEN 1 AND 80", name=op.f("ck_scheduling_appointment_types_name_length")
        ),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 480", name=op.f("ck_scheduling_appointment_types_duration_range")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_appointment_types_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_appointment_types")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_scheduling_appointment_types_name"),
    )
    op.create_table(
        "scheduling_resources",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "char_length(kind) BETWEEN 1 AND 40", name=op.f("ck_scheduling_resources_kind_length")
        ),
        sa.CheckConstraint(
            "char_length(name) BETWEEN 1 AND 80", name=op.f("ck_scheduling_resources_name_length")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_scheduling_resources_location",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_resources_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_resources")),
        sa.UniqueConstraint("tenant_id", "location_id", "name", name="uq_scheduling_resources_name"),
    )
    op.create_table(
        "scheduling_availability",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("end_time > start_time", name=op.f("ck_scheduling_availability_ends_after_start")),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from",
            name=op.f("ck_scheduling_availability_valid_range"),
        ),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_scheduling_availability_weekday_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_scheduling_availability_location",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_scheduling_availability_provider",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_availability_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_availability")),
    )
    op.create_index(
        "ix_scheduling_availability_provider",
        "scheduling_availability",
        ["tenant_id", "provider_id", "weekday"],
        unique=False,
    )
    op.create_table(
        "scheduling_availability_exceptions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind = 'time-off' OR location_id IS NOT NULL",
            name=op.f("ck_scheduling_availability_exceptions_extra_hours_located"),
        ),
        sa.CheckConstraint(
            "kind IN ('time-off', 'extra-hours')",
            name=op.f("ck_scheduling_availability_exceptions_kind_known"),
        ),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_scheduling_availability_exceptions_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_scheduling_availability_exceptions_location",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_scheduling_availability_exceptions_provider",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_scheduling_availability_exceptions_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_availability_exceptions")),
    )
    op.create_index(
        "ix_scheduling_availability_exceptions_provider",
        "scheduling_availability_exceptions",
        ["tenant_id", "provider_id", "starts_at"],
        unique=False,
    )
    op.create_table(
        "scheduling_ics_feeds",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("show_names", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_scheduling_ics_feeds_created_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_scheduling_ics_feeds_provider",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_ics_feeds_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_ics_feeds")),
        sa.UniqueConstraint("tenant_id", "token_digest", name="uq_scheduling_ics_feeds_token"),
    )
    op.create_table(
        "scheduling_series",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("type_id", sa.Uuid(), nullable=False),
        sa.Column("rrule", sa.Text(), nullable=False),
        sa.Column("first_start_local", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_scheduling_series_created_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_scheduling_series_location",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name="fk_scheduling_series_patient",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_scheduling_series_provider",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "type_id"],
            ["scheduling_appointment_types.tenant_id", "scheduling_appointment_types.id"],
            name="fk_scheduling_series_type",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_series_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_series")),
    )
    op.create_index(
        "ix_scheduling_series_patient", "scheduling_series", ["tenant_id", "patient_id"], unique=False
    )
    op.create_table(
        "scheduling_appointments",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("type_id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="booked", nullable=False),
        sa.Column("telehealth", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column(
            "status_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("series_id", sa.Uuid(), nullable=True),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("encounter_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status <> 'cancelled' OR cancel_reason IS NOT NULL",
            name=op.f("ck_scheduling_appointments_cancel_has_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('booked', 'confirmed', 'arrived', 'completed', 'cancelled', 'no-show')",
            name=op.f("ck_scheduling_appointments_status_known"),
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_scheduling_appointments_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_scheduling_appointments_created_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "encounter_id"],
            ["encounters.tenant_id", "encounters.id"],
            name="fk_scheduling_appointments_encounter",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_scheduling_appointments_location",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name="fk_scheduling_appointments_patient",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_scheduling_appointments_provider",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "resource_id"],
            ["scheduling_resources.tenant_id", "scheduling_resources.id"],
            name="fk_scheduling_appointments_resource",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "series_id"],
            ["scheduling_series.tenant_id", "scheduling_series.id"],
            name="fk_scheduling_appointments_series",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "type_id"],
            ["scheduling_appointment_types.tenant_id", "scheduling_appointment_types.id"],
            name="fk_scheduling_appointments_type",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_appointments_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_appointments")),
    )
    op.create_index(
        "ix_scheduling_appointments_location",
        "scheduling_appointments",
        ["tenant_id", "location_id", "starts_at"],
        unique=False,
    )
    op.create_index(
        "ix_scheduling_appointments_patient",
        "scheduling_appointments",
        ["tenant_id", "patient_id", "starts_at"],
        unique=False,
    )
    op.create_index(
        "ix_scheduling_appointments_provider",
        "scheduling_appointments",
        ["tenant_id", "provider_id", "starts_at"],
        unique=False,
    )
    op.create_index(
        "ix_scheduling_appointments_resource",
        "scheduling_appointments",
        ["tenant_id", "resource_id", "starts_at"],
        unique=False,
        postgresql_where="resource_id IS NOT NULL",
    )
    op.create_index(
        "uq_scheduling_appointments_encounter",
        "scheduling_appointments",
        ["tenant_id", "encounter_id"],
        unique=True,
        postgresql_where="encounter_id IS NOT NULL",
    )
    op.create_index(
        "uq_scheduling_appointments_occurrence",
        "scheduling_appointments",
        ["tenant_id", "series_id", "occurrence_start"],
        unique=True,
        postgresql_where="series_id IS NOT NULL",
    )
    op.create_table(
        "scheduling_link_uses",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "appointment_id"],
            ["scheduling_appointments.tenant_id", "scheduling_appointments.id"],
            name="fk_scheduling_link_uses_appointment",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_link_uses_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_link_uses")),
        sa.UniqueConstraint("tenant_id", "nonce", name="uq_scheduling_link_uses_nonce"),
    )
    op.create_table(
        "scheduling_reminders",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_version", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transport_id", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_scheduling_reminders_channel_known")),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'withdrawn', 'failed')",
            name=op.f("ck_scheduling_reminders_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "appointment_id"],
            ["scheduling_appointments.tenant_id", "scheduling_appointments.id"],
            name="fk_scheduling_reminders_appointment",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_reminders_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_reminders")),
        sa.UniqueConstraint(
            "tenant_id", "appointment_id", "rule", "appointment_version", name="uq_scheduling_reminders_once"
        ),
    )
    op.create_index(
        "ix_scheduling_reminders_due", "scheduling_reminders", ["tenant_id", "status", "due_at"], unique=False
    )
    op.create_table(
        "scheduling_waitlist",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("type_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("earliest_date", sa.Date(), nullable=False),
        sa.Column("latest_date", sa.Date(), nullable=True),
        sa.Column("weekdays", sa.String(length=13), server_default="", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="waiting", nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('waiting', 'offered', 'booked', 'removed')",
            name=op.f("ck_scheduling_waitlist_status_known"),
        ),
        sa.CheckConstraint(
            "latest_date IS NULL OR latest_date >= earliest_date",
            name=op.f("ck_scheduling_waitlist_date_range"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "appointment_id"],
            ["scheduling_appointments.tenant_id", "scheduling_appointments.id"],
            name="fk_scheduling_waitlist_appointment",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_scheduling_waitlist_location",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name="fk_scheduling_waitlist_patient",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_scheduling_waitlist_provider",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "type_id"],
            ["scheduling_appointment_types.tenant_id", "scheduling_appointment_types.id"],
            name="fk_scheduling_waitlist_type",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduling_waitlist_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_scheduling_waitlist")),
    )
    op.create_index(
        "ix_scheduling_waitlist_status",
        "scheduling_waitlist",
        ["tenant_id", "status", "created_at"],
        unique=False,
    )
    for table, privileges in TABLES_AND_PRIVILEGES.items():
        protect_tenant_table(table, privileges=privileges)


def downgrade() -> None:
    op.drop_table("scheduling_waitlist")
    op.drop_table("scheduling_reminders")
    op.drop_table("scheduling_link_uses")
    op.drop_table("scheduling_appointments")
    op.drop_table("scheduling_series")
    op.drop_table("scheduling_ics_feeds")
    op.drop_table("scheduling_availability_exceptions")
    op.drop_table("scheduling_availability")
    op.drop_table("scheduling_resources")
    op.drop_table("scheduling_appointment_types")
