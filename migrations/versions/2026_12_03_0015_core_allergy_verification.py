"""core: an allergy says who vouches for it (``verification``)

Revision ID: core_0015
Revises: core_0012

Minimum necessary: the front desk no longer writes clinical data, but what a patient
states at intake ("I am allergic to penicillin") must not be lost. The front desk may
*report* an allergy (permission ``core:allergies report``); such a row is stored as
``patient-reported`` until a clinician confirms it. Rows written so far were entered by
roles that could write allergies and stay ``confirmed``.
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0015"
down_revision = "core_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "patient_allergies",
        sa.Column("verification", sa.String(16), nullable=False, server_default="confirmed"),
    )
    op.create_check_constraint(
        "ck_patient_allergies_verification_known",
        "patient_allergies",
        "verification IN ('confirmed', 'patient-reported')",
    )


def downgrade() -> None:
    op.drop_constraint("ck_patient_allergies_verification_known", "patient_allergies", type_="check")
    op.drop_column("patient_allergies", "verification")
