"""Row-level security and grants, as SQL that migrations run (layer three of tenancy).

Every tenant table gets RLS *enabled and forced* (so even the table owner is filtered) and
a policy that fails closed: with no ``app.tenant_id`` set in the transaction, the
comparison is against NULL and no row matches, and no row may be written.
"""

from __future__ import annotations

TENANT_PREDICATE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def _settings():
    from alembic import context

    settings = context.config.attributes.get("settings")
    if settings is None:
        from core.settings import Settings

        settings = Settings.from_env()
    return settings


def tenant_table_sql(
    table: str,
    *,
    privileges: str = "SELECT, INSERT, UPDATE, DELETE",
    platform_privileges: str | None = None,
    app_role: str,
    platform_role: str,
) -> list[str]:
    statements = [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'CREATE POLICY tenant_isolation ON "{table}" '
        f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})",
        f'GRANT {privileges} ON "{table}" TO "{app_role}"',
    ]
    if platform_privileges:
        statements += [
            f'CREATE POLICY platform_access ON "{table}" TO "{platform_role}" USING (true) WITH CHECK (true)',
            f'GRANT {platform_privileges} ON "{table}" TO "{platform_role}"',
        ]
    return statements


def protect_tenant_table(
    table: str,
    *,
    privileges: str = "SELECT, INSERT, UPDATE, DELETE",
    platform_privileges: str | None = None,
) -> None:
    """Call from a migration right after ``op.create_table`` of a tenant table.

    ``privileges`` are what the app role may do (inside its tenant); ``platform_privileges``
    opt the table into cross-tenant access by ``unscoped()`` platform code.
    """
    from alembic import op

    settings = _settings()
    for statement in tenant_table_sql(
        table,
        privileges=privileges,
        platform_privileges=platform_privileges,
        app_role=settings.app_db_role,
        platform_role=settings.platform_db_role,
    ):
        op.execute(statement)


def sealer_access(table: str, *, read: str, update_columns: tuple[str, ...]) -> None:
    """Let the audit sealer role read every tenant's rows of ``table`` and update only
    ``update_columns`` (column-level grant: it can never rewrite what it seals)."""
    from alembic import op

    role = _settings().sealer_db_role
    op.execute(f'CREATE POLICY sealer_access ON "{table}" TO "{role}" USING (true) WITH CHECK (true)')
    op.execute(f'GRANT {read} ON "{table}" TO "{role}"')
    cols = ", ".join(f'"{c}"' for c in update_columns)
    op.execute(f'GRANT UPDATE ({cols}) ON "{table}" TO "{role}"')


def grant_global_table(table: str, privileges: str = "SELECT") -> None:
    """Grant the app role access to a global (non-tenant) table, e.g. the tenant registry."""
    from alembic import op

    settings = _settings()
    op.execute(f'GRANT {privileges} ON "{table}" TO "{settings.app_db_role}"')
