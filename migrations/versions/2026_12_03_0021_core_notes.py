"""core: clinical notes and their addenda, immutable once signed

Revision ID: core_0021
Revises: core_0019

A signed note and every addendum can never change for the app's database role: a trigger
refuses UPDATE and DELETE of a row whose stored status is ``signed`` unless the current
role owns the table (the schema owner: migrations, tenant purge), and the app role holds
no DELETE on notes and neither UPDATE nor DELETE on note_addenda.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from core.db.rls import protect_tenant_table

revision = "core_0021"
down_revision = "core_0019"
branch_labels = None
depends_on = None


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


REFUSE_SIGNED = """
CREATE FUNCTION notes_refuse_signed_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'signed' AND NOT pg_has_role(
        current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER'
    ) THEN
        RAISE EXCEPTION 'a signed note cannot be changed or deleted; add an addendum'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "notes",
        _tenant_fk("notes"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("encounter_id", sa.Uuid()),
        sa.Column("template_key", sa.String(64), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("template_sha256", sa.String(64), nullable=False),
        _user_fk("notes", "author_user_id", nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("service_lines", JSONB(), nullable=False, server_default="[]"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("signed_at", sa.DateTime(timezone=True)),
        _user_fk("notes", "signed_by_user_id"),
        sa.Column("content_sha256", sa.String(64)),
        sa.Column("late_entry", sa.Boolean(), nullable=False, server_default="false"),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_notes"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], name="fk_notes_patient"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "encounter_id"],
            ["encounters.tenant_id", "encounters.id"],
            name="fk_notes_encounter",
        ),
        sa.CheckConstraint("status IN ('draft', 'signed')", name="ck_notes_status_known"),
        sa.CheckConstraint(
            "(status = 'signed') = (signed_at IS NOT NULL AND signed_by_user_id IS NOT NULL "
            "AND content_sha256 IS NOT NULL)",
            name="ck_notes_signed_complete",
        ),
        sa.CheckConstraint("version >= 1", name="ck_notes_version_positive"),
    )
    op.create_index("ix_notes_patient", "notes", ["tenant_id", "patient_id", "created_at"])
    op.create_index("ix_notes_encounter", "notes", ["tenant_id", "encounter_id"])
    op.create_index(
        "ix_notes_author_drafts",
        "notes",
        ["tenant_id", "author_user_id"],
        postgresql_where=sa.text("status = 'draft'"),
    )
    # Clinical records are never hard-deleted; a signed note is not even updated (trigger).
    protect_tenant_table("notes", privileges="SELECT, INSERT, UPDATE")

    op.create_table(
        "note_addenda",
        _tenant_fk("note_addenda"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("note_id", sa.Uuid(), nullable=False),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        _user_fk("note_addenda", "signed_by_user_id", nullable=False),
        _now("signed_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_note_addenda"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "note_id"], ["notes.tenant_id", "notes.id"], name="fk_note_addenda_note"
        ),
    )
    op.create_index("ix_note_addenda_note", "note_addenda", ["tenant_id", "note_id", "signed_at"])
    # An addendum is signed when written: append-only for the app.
    protect_tenant_table("note_addenda", privileges="SELECT, INSERT")

    op.execute(REFUSE_SIGNED)
    op.execute(
        "CREATE TRIGGER notes_signed_immutable BEFORE UPDATE OR DELETE ON notes "
        "FOR EACH ROW EXECUTE FUNCTION notes_refuse_signed_change()"
    )


def downgrade() -> None:
    op.drop_table("note_addenda")
    op.drop_table("notes")
    op.execute("DROP FUNCTION notes_refuse_signed_change()")
