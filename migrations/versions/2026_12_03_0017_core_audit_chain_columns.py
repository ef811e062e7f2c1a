"""core: audit rows are inserted unsealed; only the sealer fills the chain columns

Revision ID: core_0017
Revises: core_0012

Until now the app role held a table-wide INSERT on ``audit_events``, so it could insert a
row with ``seal_seq``/``prev_hash``/``hash``/``sealed_at`` already set — a forged link
that the sealer then chained onto. Two independent guards close that:

* column privileges: the app role may INSERT only the content columns (and ``tenant_id``);
  naming a chain column in an INSERT is refused with "permission denied";
* a trigger refuses any INSERT whose chain columns are not all NULL, whoever runs it
  (the sealer only ever UPDATEs rows that are still unsealed).
"""

from alembic import op

from core.db.rls import _settings

revision = "core_0017"
down_revision = "core_0015"
branch_labels = None
depends_on = None

#: what the app writes when it records an event (core.audit.record); occurred_at has a
#: server default but stays insertable, as before
CONTENT_COLUMNS = (
    "tenant_id", "id", "occurred_at", "actor_type", "actor_user_id", "actor_token_id", "actor_label",
    "action", "resource_type", "resource_id", "patient_id", "outcome", "client_ip", "user_agent",
    "reason", "emergency", "detail",
)  # fmt: skip


def upgrade() -> None:
    app_role = _settings().app_db_role
    columns = ", ".join(f'"{c}"' for c in CONTENT_COLUMNS)
    op.execute(f'REVOKE INSERT ON audit_events FROM "{app_role}"')
    op.execute(f'GRANT INSERT ({columns}) ON audit_events TO "{app_role}"')
    op.execute(
        """
        CREATE FUNCTION audit_events_insert_unsealed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.seal_seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL
             OR NEW.sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'audit events are inserted unsealed: the chain columns '
              '(seal_seq, prev_hash, hash, sealed_at) are written by the sealer only'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_events_insert_unsealed BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_insert_unsealed()"
    )


def downgrade() -> None:
    app_role = _settings().app_db_role
    op.execute("DROP TRIGGER audit_events_insert_unsealed ON audit_events")
    op.execute("DROP FUNCTION audit_events_insert_unsealed()")
    columns = ", ".join(f'"{c}"' for c in CONTENT_COLUMNS)
    op.execute(f'REVOKE INSERT ({columns}) ON audit_events FROM "{app_role}"')
    op.execute(f'GRANT INSERT ON audit_events TO "{app_role}"')
