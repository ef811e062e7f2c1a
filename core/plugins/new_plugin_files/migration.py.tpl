"""{{name}}: items

Revision ID: {{name}}_0001
"""

import sqlalchemy as sa
from alembic import op

from core.plugin_api import protect_tenant_table

revision = "{{name}}_0001"
down_revision = None
branch_labels = ("{{name}}",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "{{name}}_items",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_{{name}}_items"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_{{name}}_items_tenant_id_tenants"),
        sa.CheckConstraint("char_length(text) BETWEEN 1 AND 200", name="ck_{{name}}_items_text_length"),
    )
    protect_tenant_table("{{name}}_items")


def downgrade() -> None:
    op.drop_table("{{name}}_items")
