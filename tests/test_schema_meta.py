"""Meta-test over the live schema (after every migration of core and the installed plugins):
every tenant table is protected and distributable by tenant."""

from __future__ import annotations

from sqlalchemy import text

TENANT_TABLES = text("""
    SELECT c.oid, c.relname, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
    ORDER BY c.relname
""")


async def _tenant_tables(conn):
    return {row.relname: row for row in (await conn.execute(TENANT_TABLES)).all()}


async def protection_problems(conn) -> list[str]:
    problems = []
    tables = await _tenant_tables(conn)
    for name, row in tables.items():
        if not row.relrowsecurity:
            problems.append(f"{name}: row-level security not enabled")
        if not row.relforcerowsecurity:
            problems.append(f"{name}: row-level security not forced")
        policies = (
            await conn.execute(
                text(
                    "SELECT polname, pg_get_expr(polqual, polrelid) AS qual FROM pg_policy "
                    "WHERE polrelid = :oid"
                ),
                {"oid": row.oid},
            )
        ).all()
        isolation = [p for p in policies if "app.tenant_id" in (p.qual or "")]
        if not isolation:
            problems.append(f"{name}: no policy comparing tenant_id to app.tenant_id")
        pk_cols = (
            (
                await conn.execute(
                    text("""
            SELECT a.attname FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = :oid AND i.indisprimary"""),
                    {"oid": row.oid},
                )
            )
            .scalars()
            .all()
        )
        if "tenant_id" not in pk_cols:
            problems.append(f"{name}: tenant_id is not part of the primary key {pk_cols}")
    return problems


async def fk_problems(conn) -> tuple[int, list[str]]:
    problems = []

    tables = await _tenant_tables(conn)
    fks = (
        await conn.execute(
            text("""
        SELECT con.conname, src.relname AS src, dst.relname AS dst,
               ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = con.conrelid
                     AND attnum = ANY(con.conkey)) AS src_cols,
               ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = con.confrelid
                     AND attnum = ANY(con.confkey)) AS dst_cols
        FROM pg_constraint con
        JOIN pg_class src ON src.oid = con.conrelid
        JOIN pg_class dst ON dst.oid = con.confrelid
        WHERE con.contype = 'f'""")
        )
    ).all()
    checked = 0
    for fk in fks:
        if fk.src in tables and fk.dst in tables:
            checked += 1
            if "tenant_id" not in fk.src_cols or "tenant_id" not in fk.dst_cols:
                problems.append(f"{fk.src} -> {fk.dst} ({fk.conname}) lacks tenant_id: {fk.src_cols}")
    return checked, problems


async def test_every_tenant_table_has_forced_rls_a_policy_and_tenant_id_in_its_key(owner_engine):
    async with owner_engine.connect() as conn:
        assert {"tenant_plugins", "core_outbox", "sample_notes"} <= set(await _tenant_tables(conn))
        problems = await protection_problems(conn)
    assert not problems, "\n".join(problems)


async def test_foreign_keys_between_tenant_tables_include_tenant_id(owner_engine):
    async with owner_engine.connect() as conn:
        checked, problems = await fk_problems(conn)
    assert checked >= 1, "the sample plugin's notes -> notebooks key should be checked"
    assert not problems, "\n".join(problems)


async def test_the_checks_catch_an_unprotected_table(owner_engine):
    """The meta-tests above would flag a careless migration (checked in a rolled-back transaction)."""
    async with owner_engine.connect() as conn:
        trans = await conn.begin()
        try:
            await conn.execute(
                text(
                    "CREATE TABLE careless_items (tenant_id uuid NOT NULL, id uuid PRIMARY KEY, "
                    "note_tenant uuid, note_id uuid)"
                )
            )
            await conn.execute(
                text(
                    "CREATE TABLE careless_children (tenant_id uuid NOT NULL, id uuid, parent uuid "
                    "REFERENCES careless_items (id), PRIMARY KEY (tenant_id, id))"
                )
            )
            problems = "\n".join(await protection_problems(conn))
            _, fk = await fk_problems(conn)
        finally:
            await trans.rollback()
    assert "careless_items: row-level security not enabled" in problems
    assert "careless_items: row-level security not forced" in problems
    assert "careless_items: no policy" in problems
    assert "careless_items: tenant_id is not part of the primary key" in problems
    assert any("careless_children -> careless_items" in p for p in fk)


async def test_the_app_role_cannot_bypass_policies_by_ownership(owner_engine, settings):
    async with owner_engine.connect() as conn:
        owners = (
            (
                await conn.execute(
                    text("""
            SELECT DISTINCT r.rolname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""")
                )
            )
            .scalars()
            .all()
        )
    assert settings.app_db_role not in owners
    assert settings.platform_db_role not in owners
