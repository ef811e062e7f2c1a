"""HTTP routes of core.audit (HTML and JSON), collected by core's builtin plugin.

Reading the log needs ``core:audit read`` (owners and auditors); the CSV export needs
``core:audit export`` and is itself audited. "Who accessed this record" is PHI (it names a
patient) and records a read of the audit log for that patient.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.actions import all_actions
from core.audit.models import AuditEvent
from core.audit.phi import phi_route
from core.audit.record import record
from core.audit.report import (
    CSV_COLUMNS,
    SORTS,
    AuditFilters,
    FilterError,
    as_json,
    csv_lines,
    csv_row,
    filtered,
    local_time,
    ordered,
    page_of,
    parse_filters,
    parse_uuid,
)
from core.authz.guards import requires
from core.web.context import site_of
from core.web.htmx import wants_fragment
from core.web.render import page

READ = requires("core:audit", "read")
EXPORT = requires("core:audit", "export")
CSV_CHUNK = 500


def _time_zone(request: Request) -> str:
    site = site_of(request)
    return site.tenant.time_zone if site.tenant else "UTC"


async def provide_filters(
    request: Request,
    user: Annotated[
        str | None, QueryParameter(description="the actor: an e-mail address or a user id")
    ] = None,
    patient: Annotated[str | None, QueryParameter(description="a patient id")] = None,
    action: Annotated[
        str | None,
        QueryParameter(
            description="core's actions (read, create, update, delete, export, login...) or a plugin's '<plugin>.<action>'"
        ),
    ] = None,
    date_from: Annotated[
        str | None, QueryParameter(name="from", description="first day (YYYY-MM-DD, the clinic's time zone)")
    ] = None,
    date_to: Annotated[
        str | None,
        QueryParameter(name="to", description="last day, inclusive (YYYY-MM-DD, the clinic's time zone)"),
    ] = None,
    sort: Annotated[
        str | None, QueryParameter(description=f"one of: {', '.join(SORTS)} (default time)")
    ] = None,
    direction: Annotated[
        str | None, QueryParameter(name="dir", description="asc or desc (default desc)")
    ] = None,
    page_number: Annotated[str | None, QueryParameter(name="page", description="page, from 1")] = None,
    per_page: Annotated[str | None, QueryParameter(description="events per page (1-200, default 50)")] = None,
) -> AuditFilters:
    params = {
        "user": user,
        "patient": patient,
        "action": action,
        "from": date_from,
        "to": date_to,
        "sort": sort,
        "dir": direction,
        "page": page_number,
        "per_page": per_page,
    }
    try:
        return parse_filters(params, _time_zone(request))
    except FilterError as exc:
        raise ClientException(detail=str(exc)) from None


FILTERS = {"filters": Provide(provide_filters)}
DbSession = NamedDependency[AsyncSession]
Filters = NamedDependency[AuditFilters]


def _patient_id(value: str):
    try:
        return parse_uuid(value, "patient id")
    except FilterError as exc:
        raise ClientException(detail=str(exc)) from None


def _listing(events: list[AuditEvent], total: int, filters: AuditFilters) -> dict[str, Any]:
    pages = max(1, -(-total // filters.per_page))
    return {
        "items": [as_json(e) for e in events],
        "total": total,
        "page": filters.page,
        "per_page": filters.per_page,
        "pages": pages,
    }


def _rows(events: list[AuditEvent], time_zone: str) -> list[dict[str, Any]]:
    return [
        {"event": e, "local": local_time(e.occurred_at, time_zone).strftime("%Y-%m-%d %H:%M:%S")}
        for e in events
    ]


@get("/audit", name="core:audit", guards=[READ], dependencies=FILTERS, include_in_schema=False)
async def audit_page(request: Request, db_session: DbSession, filters: Filters) -> Template:
    events, total = await page_of(db_session, filters)
    time_zone = _time_zone(request)

    def link(**changes: Any) -> str:
        return "?" + urlencode(filters.query_args(**changes))

    def sort_link(column: str) -> str:
        flip = "asc" if filters.sort == column and filters.dir == "desc" else "desc"
        return link(sort=column, dir=flip, page=1)

    context = {
        "rows": _rows(events, time_zone),
        "total": total,
        "filters": filters,
        "pages": max(1, -(-total // filters.per_page)),
        "link": link,
        "sort_link": sort_link,
        "time_zone": time_zone,
        "export_href": "/audit.csv?"
        + urlencode({k: v for k, v in filters.query_args().items() if k not in ("page", "per_page")}),
    }
    if wants_fragment(request, target="audit-table"):
        return Template(template_name="core/audit/_table.html", context=context)
    return await page(
        request, "core/audit/index.html", page_title="Audit log", actions=all_actions(), **context
    )


@get("/api/audit", name="core:api-audit", guards=[READ], dependencies=FILTERS)
async def audit_api(db_session: DbSession, filters: Filters) -> dict[str, Any]:
    """Audit events of the clinic, newest first unless sorted otherwise; filterable."""
    events, total = await page_of(db_session, filters)
    return _listing(events, total, filters)


@get(
    "/api/audit.csv",
    name="core:audit-export",
    guards=[EXPORT],
    dependencies=FILTERS,
    media_type="text/csv",  # Litestar adds "; charset=utf-8" (the OpenAPI document says text/csv)
)
async def audit_export(request: Request, db_session: DbSession, filters: Filters) -> Stream:
    """Every event matching the filters (no paging) as CSV, streamed. The export is audited."""
    return await _export(request, db_session, filters)


@get(
    "/audit.csv",
    name="core:audit-export-download",
    guards=[EXPORT],
    dependencies=FILTERS,
    media_type="text/csv",
    include_in_schema=False,  # the screen's download link; errors answer as pages, not JSON
)
async def audit_export_download(request: Request, db_session: DbSession, filters: Filters) -> Stream:
    return await _export(request, db_session, filters)


async def _export(request: Request, db_session: DbSession, filters: Filters) -> Stream:
    _, total = await page_of(db_session, dataclasses.replace(filters, page=1, per_page=1))
    await record(
        db_session,
        action="export",
        resource_type="audit_log",
        detail={"format": "csv", "rows": total, "filters": filters.describe()},
    )
    await db_session.commit()
    time_zone = _time_zone(request)
    db = request.app.state.db
    query = ordered(filtered(filters), filters).execution_options(yield_per=CSV_CHUNK)

    async def body():
        yield csv_lines([list(CSV_COLUMNS)])
        async with db.session() as session:
            chunk: list[list[str]] = []
            async for event in await session.stream_scalars(query):
                chunk.append(csv_row(event, time_zone))
                if len(chunk) >= CSV_CHUNK:
                    yield csv_lines(chunk)
                    chunk = []
            if chunk:
                yield csv_lines(chunk)

    slug = site_of(request).tenant.slug
    filename = f"audit-{slug}-{dt.date.today().isoformat()}.csv"
    return Stream(
        body(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _patient_access(request: Request, db_session: AsyncSession, patient_id: str, filters: AuditFilters):
    from sqlalchemy import select

    from core.patients.models import Patient

    pid = _patient_id(patient_id)
    # "who accessed this record" is about a record of this clinic: another clinic's (or no)
    # patient is 404 like everywhere else (the audit page's patient filter still finds
    # attempts on ids that are not this clinic's)
    if await db_session.scalar(select(Patient.id).where(Patient.id == pid)) is None:
        raise NotFoundException(detail="No such patient in this clinic.")
    filters = dataclasses.replace(filters, patient=str(pid), patient_id=pid)
    events, total = await page_of(db_session, filters)
    await record(
        db_session,
        action="read",
        resource_type="audit_log",
        resource_id=f"patient:{pid}",
        patient_id=pid,
        detail={"view": "who accessed this record"},
    )
    await db_session.commit()
    return pid, events, total, filters


@phi_route
@get(
    "/api/audit/patients/{patient_id:str}", name="core:api-audit-patient", guards=[READ], dependencies=FILTERS
)
async def patient_access_api(
    request: Request, db_session: DbSession, patient_id: Annotated[str, PathParameter()], filters: Filters
) -> dict[str, Any]:
    """Who read or changed this patient's record, and when (emergency accesses flagged)."""
    pid, events, total, filters = await _patient_access(request, db_session, patient_id, filters)
    return {"patient_id": str(pid), **_listing(events, total, filters)}


@phi_route
@get(
    "/audit/patients/{patient_id:str}",
    name="core:audit-patient",
    guards=[READ],
    dependencies=FILTERS,
    include_in_schema=False,
)
async def patient_access_fragment(
    request: Request, db_session: DbSession, patient_id: Annotated[str, PathParameter()], filters: Filters
) -> Template:
    """HTML fragment for a patient's chart: "who accessed this record"."""
    pid, events, total, filters = await _patient_access(request, db_session, patient_id, filters)
    context = {
        "patient_id": pid,
        "rows": _rows(events, _time_zone(request)),
        "total": total,
        "filters": filters,
        "time_zone": _time_zone(request),
    }
    return Template(template_name="core/audit/_patient_access.html", context=context)


@get("/api/audit/emergency", name="core:api-audit-emergency", guards=[READ], dependencies=FILTERS)
async def emergency_api(db_session: DbSession, filters: Filters) -> dict[str, Any]:
    """Emergency ("break the glass") accesses: action break_glass or flagged emergency."""
    events, total = await page_of(db_session, dataclasses.replace(filters, emergency=True))
    return _listing(events, total, filters)


ROUTES: list = [
    audit_page,
    audit_api,
    audit_export,
    audit_export_download,
    patient_access_api,
    patient_access_fragment,
    emergency_api,
]
