"""core: patients (per-tenant MRN, normalised search columns), contacts, coverages,
allergies, problems, medications

Revision ID: core_0010
Revises: core_0002
"""

import sqlalchemy as sa
from alembic import op

from core.db.rls import protect_tenant_table

revision = "core_0010"
down_revision = "core_0002"
branch_labels = None
depends_on = None

# Clinical rows are never deleted by the app: it may insert, read and update them only.
NO_DELETE = "SELECT, INSERT, UPDATE"


def _tenant_fk(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id_tenants"),
        nullable=False,
    )


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _status(table: str, values: tuple[str, ...]) -> list:
    allowed = ", ".join(f"'{v}'" for v in values)
    return [
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.CheckConstraint(f"status IN ({allowed})", name=f"ck_{table}_status_known"),
    ]


def _child(table: str, *columns, statuses: tuple[str, ...] = ("active", "inactive")) -> None:
    """A table of rows belonging to one patient (composite key to the patient)."""
    op.create_table(
        table,
        _tenant_fk(table),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        *columns,
        *_status(table, statuses),
        *_timestamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name=f"fk_{table}_patient",
        ),
    )
    op.create_index(f"ix_{table}_patient", table, ["tenant_id", "patient_id"])
    protect_tenant_table(table, privileges=NO_DELETE)


def upgrade() -> None:
    op.create_table(
        "patient_mrn_counters",
        _tenant_fk("patient_mrn_counters"),
        sa.Column("last_value", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_patient_mrn_counters"),
    )
    protect_tenant_table("patient_mrn_counters", privileges=NO_DELETE)

    op.create_table(
        "patients",
        _tenant_fk("patients"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mrn", sa.String(32), nullable=False),
        sa.Column("given_name", sa.Text(), nullable=False),
        sa.Column("middle_name", sa.Text()),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("preferred_name", sa.Text()),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex_at_birth", sa.String(8), nullable=False, server_default="unknown"),
        sa.Column("gender_identity", sa.Text()),
        sa.Column("pronouns", sa.Text()),
        sa.Column("phone", sa.String(40)),
        sa.Column("email", sa.String(254)),
        sa.Column("address_line1", sa.Text()),
        sa.Column("address_line2", sa.Text()),
        sa.Column("city", sa.Text()),
        sa.Column("state", sa.Text()),
        sa.Column("postal_code", sa.String(20)),
        sa.Column("country", sa.String(2)),
        sa.Column("preferred_language", sa.String(35)),
        *_status("patients", ("active", "inactive")),
        sa.Column("inactive_reason", sa.Text()),
        sa.Column("merged_into_id", sa.Uuid()),
        sa.Column("family_norm", sa.Text(), nullable=False),
        sa.Column("given_norm", sa.Text(), nullable=False),
        sa.Column("preferred_norm", sa.Text(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_patients"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "merged_into_id"],
            ["patients.tenant_id", "patients.id"],
            name="fk_patients_merged_into",
        ),
        sa.CheckConstraint(
            "sex_at_birth IN ('F', 'M', 'X', 'unknown')", name="ck_patients_sex_at_birth_known"
        ),
        sa.CheckConstraint(
            "merged_into_id IS NULL OR status = 'inactive'", name="ck_patients_merged_is_inactive"
        ),
    )
    op.create_index("uq_patients_mrn", "patients", ["tenant_id", "mrn"], unique=True)
    # Prefix search (LIKE 'abc%') on the normalised names: text_pattern_ops makes it a
    # range scan whatever the database collation.
    op.create_index(
        "ix_patients_family_given",
        "patients",
        ["tenant_id", sa.text("family_norm text_pattern_ops"), sa.text("given_norm text_pattern_ops")],
    )
    op.create_index("ix_patients_given", "patients", ["tenant_id", sa.text("given_norm text_pattern_ops")])
    op.create_index(
        "ix_patients_preferred", "patients", ["tenant_id", sa.text("preferred_norm text_pattern_ops")]
    )
    op.create_index("ix_patients_birth_date", "patients", ["tenant_id", "birth_date"])
    protect_tenant_table("patients", privileges=NO_DELETE)

    _child(
        "patient_contacts",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("relationship", sa.Text()),
        sa.Column("phone", sa.String(40)),
        sa.Column("email", sa.String(254)),
        sa.Column("is_emergency", sa.Boolean(), nullable=False, server_default="true"),
    )
    _child(
        "patient_coverages",
        sa.Column("payer_name", sa.Text(), nullable=False),
        sa.Column("plan_name", sa.Text()),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("group_number", sa.String(64)),
        sa.Column("subscriber_name", sa.Text()),
        sa.Column("subscriber_birth_date", sa.Date()),
        sa.Column("relationship", sa.String(16), nullable=False, server_default="self"),
        sa.Column("priority", sa.String(16), nullable=False, server_default="primary"),
        sa.Column("effective_start", sa.Date()),
        sa.Column("effective_end", sa.Date()),
        sa.CheckConstraint(
            "priority IN ('primary', 'secondary', 'tertiary')", name="ck_patient_coverages_priority_known"
        ),
        sa.CheckConstraint(
            "relationship IN ('self', 'spouse', 'child', 'other')",
            name="ck_patient_coverages_relationship_known",
        ),
        sa.CheckConstraint(
            "effective_end IS NULL OR effective_start IS NULL OR effective_end >= effective_start",
            name="ck_patient_coverages_dates_ordered",
        ),
    )
    op.create_index(
        "uq_patient_coverages_active_priority",
        "patient_coverages",
        ["tenant_id", "patient_id", "priority"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    _child(
        "patient_allergies",
        sa.Column("substance", sa.Text(), nullable=False),
        sa.Column("reaction", sa.Text()),
        sa.Column("severity", sa.String(16)),
        sa.CheckConstraint(
            "severity IS NULL OR severity IN ('mild', 'moderate', 'severe')",
            name="ck_patient_allergies_severity_known",
        ),
        statuses=("active", "inactive", "resolved"),
    )
    _child(
        "patient_problems",
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("onset_date", sa.Date()),
        sa.Column("note", sa.Text()),
        statuses=("active", "inactive", "resolved"),
    )
    _child(
        "patient_medications",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dose", sa.Text()),
        sa.Column("route", sa.Text()),
        sa.Column("frequency", sa.Text()),
        sa.Column("start_date", sa.Date()),
        sa.Column("end_date", sa.Date()),
        sa.CheckConstraint(
            "end_date IS NULL OR start_date IS NULL OR end_date >= start_date",
            name="ck_patient_medications_dates_ordered",
        ),
        statuses=("active", "inactive", "completed"),
    )


def downgrade() -> None:
    for table in (
        "patient_medications",
        "patient_problems",
        "patient_allergies",
        "patient_coverages",
        "patient_contacts",
        "patients",
        "patient_mrn_counters",
    ):
        op.drop_table(table)
