"""core: instrument responses and observations

Revision ID: core_0022
Revises: core_0019

A completed instrument (a standardized questionnaire a plugin contributes) is stored
with its answers and the score the server computed; the score, and any other measured
value, is an observation (code system + code, value, unit, time, source). Both tables
are tenant-owned with row-level security forced, and append-only for the app role.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from core.db.rls import protect_tenant_table

revision = "core_0022"
down_revision = "core_0021"
branch_labels = None
depends_on = None


def _tenant_fk(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id_tenants"),
        nullable=False,
    )


def _user_fk(table: str, column: str) -> sa.Column:
    return sa.Column(column, sa.Uuid(), sa.ForeignKey("users.id", name=f"fk_{table}_{column}_users"))


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "instrument_responses",
        _tenant_fk("instrument_responses"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("instrument_key", sa.String(40), nullable=False),
        sa.Column("instrument_version", sa.String(20), nullable=False),
        sa.Column("answers", JSONB(), nullable=False),
        sa.Column("score", sa.Numeric(12, 4), nullable=False),
        sa.Column("band", sa.String(80)),
        sa.Column("alerts", JSONB(), nullable=False, server_default="[]"),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("instrument_responses", "recorded_by_user_id"),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_instrument_responses"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"],
            ["patients.tenant_id", "patients.id"],
            name="fk_instrument_responses_patient",
        ),
    )
    op.create_index(
        "ix_instrument_responses_patient",
        "instrument_responses",
        ["tenant_id", "patient_id", "instrument_key", "effective_at"],
    )
    protect_tenant_table("instrument_responses", privileges="SELECT, INSERT")

    op.create_table(
        "observations",
        _tenant_fk("observations"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("code_system", sa.String(100), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("display", sa.String(200), nullable=False),
        sa.Column("value", sa.Numeric(12, 4), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_response_id", sa.Uuid()),
        sa.Column("source_note_id", sa.Uuid()),
        _user_fk("observations", "recorded_by_user_id"),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_observations"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], name="fk_observations_patient"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "source_response_id"],
            ["instrument_responses.tenant_id", "instrument_responses.id"],
            name="fk_observations_response",
        ),
        sa.CheckConstraint(
            "source_response_id IS NULL OR source_note_id IS NULL", name="ck_observations_one_source"
        ),
    )
    op.create_index(
        "ix_observations_patient_code",
        "observations",
        ["tenant_id", "patient_id", "code_system", "code", "effective_at"],
    )
    protect_tenant_table("observations", privileges="SELECT, INSERT")


def downgrade() -> None:
    op.drop_table("observations")
    op.drop_table("instrument_responses")
