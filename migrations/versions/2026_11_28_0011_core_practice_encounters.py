"""core: locations, providers and the locations where they work, encounters and their
status history

Revision ID: core_0011
Revises: core_0010 (patients: encounters reference them)
"""

import sqlalchemy as sa
from alembic import op

from core.db.rls import protect_tenant_table

revision = "core_0011"
down_revision = "core_0010"
branch_labels = None
depends_on = None

STATUSES = ("planned", "arrived", "in-progress", "finished", "cancelled", "no-show")
ENCOUNTER_TYPES = ("office-visit", "evaluation", "re-evaluation", "telehealth", "group")


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _tenant_fk(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id_tenants"),
        nullable=False,
    )


def _user_fk(table: str, column: str, **kw) -> sa.Column:
    return sa.Column(column, sa.Uuid(), sa.ForeignKey("users.id", name=f"fk_{table}_{column}_users"), **kw)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "locations",
        _tenant_fk("locations"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address_line1", sa.Text()),
        sa.Column("address_line2", sa.Text()),
        sa.Column("city", sa.Text()),
        sa.Column("state", sa.String(40)),
        sa.Column("postal_code", sa.String(20)),
        sa.Column("phone", sa.String(40)),
        sa.Column("time_zone", sa.Text()),
        sa.Column("place_of_service", sa.String(2), nullable=False, server_default="11"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_locations"),
    )
    # Locations are inactivated, never deleted (encounters keep pointing at them).
    protect_tenant_table("locations", privileges="SELECT, INSERT, UPDATE")

    op.create_table(
        "providers",
        _tenant_fk("providers"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credentials", sa.Text()),
        sa.Column("npi", sa.String(10)),
        sa.Column("taxonomy_code", sa.String(10)),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_providers"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["memberships.tenant_id", "memberships.user_id"],
            name="fk_providers_membership",
        ),
        sa.UniqueConstraint("tenant_id", "user_id", name="uq_providers_user"),
        sa.CheckConstraint("npi ~ '^[0-9]{10}$'", name="ck_providers_npi_digits"),
        sa.CheckConstraint("taxonomy_code ~ '^[0-9A-Z]{9}X$'", name="ck_providers_taxonomy_format"),
    )
    op.create_index(
        "uq_providers_npi",
        "providers",
        ["tenant_id", "npi"],
        unique=True,
        postgresql_where=sa.text("npi IS NOT NULL"),
    )
    protect_tenant_table("providers", privileges="SELECT, INSERT, UPDATE")

    op.create_table(
        "provider_locations",
        _tenant_fk("provider_locations"),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "provider_id", "location_id", name="pk_provider_locations"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_provider_locations_provider",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_provider_locations_location",
        ),
    )
    op.create_index("ix_provider_locations_location", "provider_locations", ["tenant_id", "location_id"])
    protect_tenant_table("provider_locations", privileges="SELECT, INSERT, DELETE")

    op.create_table(
        "encounters",
        _tenant_fk("encounters"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("place_of_service", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="planned"),
        sa.Column("status_reason", sa.Text()),
        _now("status_changed_at"),
        _user_fk("encounters", "created_by_user_id"),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_encounters"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], name="fk_encounters_patient"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["providers.tenant_id", "providers.id"],
            name="fk_encounters_provider",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "location_id"],
            ["locations.tenant_id", "locations.id"],
            name="fk_encounters_location",
        ),
        sa.CheckConstraint("ends_at > starts_at", name="ck_encounters_ends_after_start"),
        sa.CheckConstraint(f"status IN ({_in(STATUSES)})", name="ck_encounters_status_known"),
        sa.CheckConstraint(f"type IN ({_in(ENCOUNTER_TYPES)})", name="ck_encounters_type_known"),
    )
    for name, column in (("patient", "patient_id"), ("provider", "provider_id"), ("location", "location_id")):
        op.create_index(f"ix_encounters_{name}", "encounters", ["tenant_id", column, "starts_at"])
    op.create_index("ix_encounters_starts", "encounters", ["tenant_id", "starts_at"])
    # Clinical records are never hard-deleted: cancelled is a status.
    protect_tenant_table("encounters", privileges="SELECT, INSERT, UPDATE")

    op.create_table(
        "encounter_status_history",
        _tenant_fk("encounter_status_history"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("encounter_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        _user_fk("encounter_status_history", "changed_by_user_id"),
        _now("changed_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_encounter_status_history"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "encounter_id"],
            ["encounters.tenant_id", "encounters.id"],
            name="fk_encounter_status_history_encounter",
        ),
    )
    op.create_index(
        "ix_encounter_status_history_encounter",
        "encounter_status_history",
        ["tenant_id", "encounter_id", "changed_at"],
    )
    # Append-only for the app: the history is the record of who changed what.
    protect_tenant_table("encounter_status_history", privileges="SELECT, INSERT")


def downgrade() -> None:
    for table in ("encounter_status_history", "encounters", "provider_locations", "providers", "locations"):
        op.drop_table(table)
