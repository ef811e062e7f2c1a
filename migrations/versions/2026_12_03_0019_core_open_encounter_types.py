"""core: encounter types are an open vocabulary (plugins add kinds)

Revision ID: core_0019
Revises: core_0012

``encounters.type`` was checked against core's five kinds; plugins now contribute kinds
through ``tessera_encounter_types``, which the app checks against the installed
vocabulary. The database keeps a shape check (the same pattern the plugin registry
enforces), so nothing but a well-formed code can be stored.
"""

from alembic import op

revision = "core_0019"
down_revision = "core_0018"
branch_labels = None
depends_on = None

BUILT_IN = ("office-visit", "evaluation", "re-evaluation", "telehealth", "group")


def upgrade() -> None:
    op.drop_constraint("ck_encounters_type_known", "encounters", type_="check")
    op.create_check_constraint("ck_encounters_type_shape", "encounters", "type ~ '^[a-z][a-z0-9-]{1,31}$'")


def downgrade() -> None:
    # Fails while a plugin's kind is in use: those visits must be retyped or removed first.
    op.drop_constraint("ck_encounters_type_shape", "encounters", type_="check")
    known = ", ".join(f"'{code}'" for code in BUILT_IN)
    op.create_check_constraint("ck_encounters_type_known", "encounters", f"type IN ({known})")
