"""sample: notebooks and notes

Revision ID: sample_0001
"""

import sqlalchemy as sa
from alembic import op

from core.db.rls import protect_tenant_table

revision = "sample_0001"
down_revision = None
branch_labels = ("sample",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "sample_notebooks",
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_sample_notebooks"),
    )
    protect_tenant_table("sample_notebooks")
    op.create_table(
        "sample_notes",
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("notebook_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_sample_notes"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "notebook_id"],
            ["sample_notebooks.tenant_id", "sample_notebooks.id"],
            name="fk_sample_notes_notebook",
        ),
    )
    protect_tenant_table("sample_notes")


def downgrade() -> None:
    op.drop_table("sample_notes")
    op.drop_table("sample_notebooks")
