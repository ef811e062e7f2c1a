"""``tessera tenants export``: all of one tenant's data as one JSON bundle (docs/export.md).

The tables are discovered from the live schema: every table of the ``public`` schema with
a ``tenant_id`` column, so the tables of every installed plugin are included without the
plugin doing anything. Everything is read as the schema owner inside one REPEATABLE READ
transaction, so the counts in the header and the rows below them are one consistent
snapshot. The export is recorded (action ``export``) in the tenant's audit log in that same
transaction, before the snapshot is read, so the bundle contains its own audit event and a
later ``tenants purge`` can compare row counts exactly.

The file is written to a temporary file next to the target (mode 0600), flushed to disk
and renamed into place: a crash leaves either no export or a complete one.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import getpass
import ipaddress
import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from core import __version__
from core.lifecycle.errors import TenantError
from core.settings import Settings

FORMAT = "tessera.tenant-export"
FORMAT_VERSION = 1


class ExportError(TenantError):
    """The export cannot be written or read; the message says why."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass
class TenantTable:
    name: str
    columns: list[Column]
    primary_key: list[str]
    #: tenant tables this one references (by foreign key), itself excluded
    references: set[str] = field(default_factory=set)


_TABLES = text("""
    SELECT c.oid, c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute t ON t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    ORDER BY c.relname
""")
_COLUMNS = text("""
    SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_attribute a
    WHERE a.attrelid = ANY(:oids) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum
""")
_PRIMARY_KEYS = text("""
    SELECT i.indrelid, a.attname
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = ANY(:oids) AND i.indisprimary
    ORDER BY i.indrelid, k.position
""")
_FOREIGN_KEYS = text("""
    SELECT con.conrelid, con.confrelid
    FROM pg_constraint con
    WHERE con.contype = 'f' AND con.conrelid = ANY(:oids) AND con.confrelid = ANY(:oids)
""")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def tenant_tables(conn: AsyncConnection) -> list[TenantTable]:
    """Every table with a ``tenant_id`` column, from the live schema (plugins' included)."""
    found = {row.oid: row.relname for row in await conn.execute(_TABLES)}
    oids = list(found)
    tables = {oid: TenantTable(name, [], []) for oid, name in found.items()}
    for row in await conn.execute(_COLUMNS, {"oids": oids}):
        tables[row.attrelid].columns.append(Column(row.attname, row.type))
    for row in await conn.execute(_PRIMARY_KEYS, {"oids": oids}):
        tables[row.indrelid].primary_key.append(row.attname)
    for row in await conn.execute(_FOREIGN_KEYS, {"oids": oids}):
        if row.conrelid != row.confrelid:
            tables[row.conrelid].references.add(found[row.confrelid])
    return sorted(tables.values(), key=lambda t: t.name)


async def tenant_row_counts(
    conn: AsyncConnection, tables: list[TenantTable], tenant_id: uuid.UUID
) -> dict[str, int]:
    counts = {}
    for table in tables:
        counts[table.name] = await conn.scalar(
            text(f"SELECT count(*) FROM {quote_ident(table.name)} WHERE tenant_id = :t"), {"t": tenant_id}
        )
    return counts


async def begin_as_tenant(conn: AsyncConnection, tenant_id: uuid.UUID) -> None:
    """Make the tenant's rows visible to an owner that row-level security applies to (a
    non-superuser owner: the policies are forced) for the rest of the transaction."""
    await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})


def json_value(value: Any, pg_type: str = "") -> Any:
    """A database value as JSON: UUIDs, dates, times, decimals and addresses as strings,
    bytes as base64, intervals as seconds, json/jsonb columns as the JSON they hold."""
    if value is None or (isinstance(value, bool | int | str) and not pg_type.startswith("json")):
        return value
    if isinstance(value, str):  # json / jsonb arrive as their text
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        inner = pg_type[:-2] if pg_type.endswith("[]") else ""
        return [json_value(v, inner) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return str(value)


def _row_json(table: TenantTable, row: Any) -> dict[str, Any]:
    return {c.name: json_value(value, c.type) for c, value in zip(table.columns, row, strict=True)}


@dataclass
class ExportReport:
    path: Path
    tenant_id: uuid.UUID
    slug: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def owner_engine(settings: Settings):
    return create_async_engine(settings.owner_url(), pool_size=1)


async def find_tenant_row(conn: AsyncConnection, slug: str):
    row = (await conn.execute(text("SELECT * FROM tenants WHERE slug = :s"), {"s": slug})).first()
    if row is None:
        raise ExportError(f"no tenant with slug {slug!r}; `tessera tenants list` shows them")
    return row


async def _record_export(conn: AsyncConnection, tenant_id: uuid.UUID, out: Path) -> None:
    from core.audit.models import AuditEvent
    from core.audit.record import build_event
    from core.tenancy.context import tenant_scope

    with tenant_scope(tenant_id):
        event = build_event(
            action="export",
            resource_type="tenant",
            resource_id=tenant_id,
            actor_label=f"tessera tenants export (run by {getpass.getuser()})",
            detail={"file": out.name, "format_version": FORMAT_VERSION},
        )
    values = {
        column.key: getattr(event, column.key)
        for column in AuditEvent.__table__.columns
        if getattr(event, column.key, None) is not None
    }
    await conn.execute(insert(AuditEvent.__table__).values(**values))


async def export_tenant(settings: Settings, slug: str, out: Path | str) -> ExportReport:
    """Write every row of tenant ``slug`` to ``out`` (see docs/export.md)."""
    out = Path(out)
    if out.exists():
        raise ExportError(f"{out} already exists; choose another file name (an export is never overwritten)")
    if not out.parent.is_dir():
        raise ExportError(f"folder {out.parent} does not exist")
    engine = owner_engine(settings)
    tmp_name = None
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                tenant = await find_tenant_row(conn, slug)
                await begin_as_tenant(conn, tenant.id)
                await _record_export(conn, tenant.id, out)
                tables = await tenant_tables(conn)
                counts = await tenant_row_counts(conn, tables, tenant.id)
                header = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "tessera_version": __version__,
                    "exported_at": dt.datetime.now(dt.UTC).isoformat(),
                    "tenant_id": str(tenant.id),
                    "tenant_slug": tenant.slug,
                    "tables": [
                        {
                            "name": t.name,
                            "row_count": counts[t.name],
                            "primary_key": t.primary_key,
                            "columns": [{"name": c.name, "type": c.type} for c in t.columns],
                        }
                        for t in tables
                    ],
                }
                tenant_json = {key: json_value(value) for key, value in tenant._mapping.items()}
                fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write('{"header": ' + json.dumps(header, indent=1))
                    fh.write(',\n"tenant": ' + json.dumps(tenant_json))
                    fh.write(',\n"data": {')
                    for index, table in enumerate(tables):
                        fh.write(("," if index else "") + "\n" + json.dumps(table.name) + ": [")
                        order = ", ".join(quote_ident(c) for c in table.primary_key) or "1"
                        result = await conn.stream(
                            text(
                                f"SELECT {', '.join(quote_ident(c.name) for c in table.columns)} "
                                f"FROM {quote_ident(table.name)} WHERE tenant_id = :t ORDER BY {order}"
                            ),
                            {"t": tenant.id},
                        )
                        written = 0
                        async for row in result:
                            fh.write(("," if written else "") + "\n " + json.dumps(_row_json(table, row)))
                            written += 1
                        if written != counts[table.name]:
                            raise ExportError(
                                f"{table.name}: read {written} rows, counted {counts[table.name]}"
                            )
                        fh.write("]")
                    fh.write("\n}}\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                # in place before the commit: if the commit fails the file goes again below
                os.replace(tmp_name, out)
                tmp_name = str(out)
            tmp_name = None  # committed: the export stays
    finally:
        await engine.dispose()
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
    return ExportReport(out, tenant.id, tenant.slug, counts)


# -- reading an export back -------------------------------------------------------------


@dataclass
class ExportFile:
    path: Path
    tenant_id: uuid.UUID
    slug: str
    exported_at: str
    counts: dict[str, int]


def read_export(path: Path | str) -> ExportFile:
    """Load and check an export file: complete JSON, our format, row counts consistent."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as fh:
            bundle = json.load(fh)
    except FileNotFoundError:
        raise ExportError(f"export file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path} is not a complete export file ({exc})") from None
    header = bundle.get("header") if isinstance(bundle, dict) else None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ExportError(f"{path} is not a Tessera tenant export")
    if header.get("format_version") != FORMAT_VERSION:
        raise ExportError(
            f"{path} has export format version {header.get('format_version')}; expected {FORMAT_VERSION}"
        )
    try:
        counts = {t["name"]: int(t["row_count"]) for t in header["tables"]}
        data = bundle["data"]
        tenant_id = uuid.UUID(header["tenant_id"])
        if bundle["tenant"]["id"] != str(tenant_id):
            raise ExportError(f"{path}: the tenant row does not match the header")
    except (KeyError, TypeError, ValueError):
        raise ExportError(f"{path} is not a complete export file (header or data missing)") from None
    for name, count in counts.items():
        rows = data.get(name)
        if not isinstance(rows, list) or len(rows) != count:
            raise ExportError(f"{path}: table {name} holds {len(rows or [])} rows, the header says {count}")
        if any(row.get("tenant_id") != str(tenant_id) for row in rows):
            raise ExportError(f"{path}: table {name} holds rows of another tenant")
    return ExportFile(path, tenant_id, header.get("tenant_slug", ""), header.get("exported_at", ""), counts)
