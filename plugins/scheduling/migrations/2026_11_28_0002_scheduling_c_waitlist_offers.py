"""scheduling: the slot a waitlist entry was offered

Revision ID: scheduling_0002_c
Revises: scheduling_0001

A cancelled or moved appointment frees a slot; waiting entries that fit it are marked
``offered`` together with that slot (provider, location, start, end), so the calendar can
say "2 on the waitlist fit this slot" and book it for one of them with one click.
"""

import sqlalchemy as sa
from alembic import op

revision = "scheduling_0002_c"
down_revision = "scheduling_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scheduling_waitlist", sa.Column("offered_provider_id", sa.Uuid(), nullable=True))
    op.add_column("scheduling_waitlist", sa.Column("offered_location_id", sa.Uuid(), nullable=True))
    op.add_column(
        "scheduling_waitlist", sa.Column("offered_starts_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "scheduling_waitlist", sa.Column("offered_ends_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("scheduling_waitlist", sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_scheduling_waitlist_offered_provider"),
        "scheduling_waitlist",
        "providers",
        ["tenant_id", "offered_provider_id"],
        ["tenant_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_scheduling_waitlist_offered_location"),
        "scheduling_waitlist",
        "locations",
        ["tenant_id", "offered_location_id"],
        ["tenant_id", "id"],
    )
    op.create_check_constraint(
        op.f("ck_scheduling_waitlist_offer_complete"),
        "scheduling_waitlist",
        "status <> 'offered' OR (offered_provider_id IS NOT NULL AND offered_location_id IS NOT NULL "
        "AND offered_starts_at IS NOT NULL AND offered_ends_at > offered_starts_at)",
    )
    op.create_index(
        op.f("ix_scheduling_waitlist_offered_slot"),
        "scheduling_waitlist",
        ["tenant_id", "offered_provider_id", "offered_starts_at"],
        postgresql_where=sa.text("status = 'offered'"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_scheduling_waitlist_offered_slot"), table_name="scheduling_waitlist")
    op.drop_constraint(op.f("ck_scheduling_waitlist_offer_complete"), "scheduling_waitlist", type_="check")
    op.drop_constraint(
        op.f("fk_scheduling_waitlist_offered_location"), "scheduling_waitlist", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_scheduling_waitlist_offered_provider"), "scheduling_waitlist", type_="foreignkey"
    )
    for column in (
        "offered_at",
        "offered_ends_at",
        "offered_starts_at",
        "offered_location_id",
        "offered_provider_id",
    ):
        op.drop_column("scheduling_waitlist", column)
