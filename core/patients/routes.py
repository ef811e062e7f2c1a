"""The patients JSON API (HTML pages come separately and reuse ``services``).

Every handler that touches a patient is marked ``opt={"phi": True}`` and records an audit
event (see ``services``). Demographics and contacts need ``core:patients`` read / write;
each other kind of row has its own permission (``services.Kind.permission``: coverage,
problems, allergies, medications), so a role sees only the parts of the chart it needs.
An allergy is added with ``core:allergies report``; a caller without ``write`` gets it
stored as ``patient-reported`` (the front desk's intake entry).

    GET    /api/patients?q=&birth_date=&mrn=&status=&limit=&offset=   search (paginated)
    POST   /api/patients                                            create (409 on a likely duplicate)
    GET    /api/patients/{id}                                       one patient
    PATCH  /api/patients/{id}                                       change fields
    POST   /api/patients/{id}/inactivate                            {reason?}
    POST   /api/patients/{id}/merge                                 {into: survivor id}
    GET    /api/patients/{id}/<kind>?status=                        kind: contacts, coverages,
    POST   /api/patients/{id}/<kind>                                allergies, problems,
    PATCH  /api/patients/{id}/<kind>/{record_id}                    medications
    GET    /api/icd10?q=                                            billable ICD-10-CM codes

Nothing is ever deleted: PATCH ``{"status": "inactive"}`` retires a row.
"""

import datetime as dt
import uuid
from typing import Annotated

from litestar import Request, Response, Router, get, patch, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from core.authz.guards import may, requires
from core.patients import icd10, services
from core.patients import schemas as s
from core.patients.services import PatientError
from core.plugin_api import DbSession
from core.web.errors import http_exception_handler
from core.web.inputs import MAX_OFFSET

READ = [requires("core:patients", "read")]
WRITE = [requires("core:patients", "write")]
PHI = {"phi": True}
TAGS = ["patients"]


def _patient_error(request: Request, exc: PatientError) -> Response:
    payload = {"status_code": exc.status_code, "detail": exc.message}
    if exc.extra:
        payload = {**exc.extra, **payload, "extra": exc.extra}
    return Response(content=payload, status_code=exc.status_code, media_type="application/json")


def _validation_error(request: Request, exc: ValidationException) -> Response:
    """Say which field is wrong and how, e.g. ``birth_date: Invalid date``."""
    problems = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("message"):
            key = item.get("key")
            problems.append(f"{key}: {item['message']}" if key else str(item["message"]))
    if problems:
        exc.detail = "Please correct: " + "; ".join(problems)
    return http_exception_handler(request, exc)


def _page(result: services.SearchResult) -> s.PatientPage:
    return s.PatientPage(
        items=[s.to_out(s.PatientSummary, p) for p in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
        has_more=result.has_more,
    )


@get("/patients", name="patients:search", guards=READ, opt=PHI, tags=TAGS)
async def search_patients(
    db_session: DbSession,
    q: Annotated[
        str | None, QueryParameter(description="name ('family, given' or 'given family'), date or MRN")
    ] = None,
    birth_date: Annotated[dt.date | None, QueryParameter(description="YYYY-MM-DD")] = None,
    mrn: FromQuery[str | None] = None,
    status: Annotated[str, QueryParameter(description="active, inactive or any")] = "active",
    limit: Annotated[int, QueryParameter(ge=1, le=services.MAX_LIMIT)] = 20,
    offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
) -> s.PatientPage:
    """Search patients by name (case- and accent-insensitive prefixes), birth date or MRN."""
    result = await services.search_patients(
        db_session, q=q, birth_date=birth_date, mrn=mrn, status=status, limit=limit, offset=offset
    )
    await db_session.commit()
    return _page(result)


@post("/patients", name="patients:create", guards=WRITE, opt=PHI, tags=TAGS)
async def create_patient(data: JSONBody[s.PatientCreate], db_session: DbSession) -> s.PatientOut:
    """Create a patient with the clinic's next MRN. A patient with the same name and birth
    date answers 409 with its id and MRN unless ``confirm_duplicate`` is true."""
    patient = await services.create_patient(db_session, data)
    out = await services.patient_out(db_session, patient, contacts=patient.new_contacts)
    await db_session.commit()
    return out


@get("/patients/{patient_id:uuid}", name="patients:read", guards=READ, opt=PHI, tags=TAGS)
async def read_patient(patient_id: FromPath[uuid.UUID], db_session: DbSession) -> s.PatientOut:
    out = await services.read_patient(db_session, patient_id)
    await db_session.commit()
    return out


@patch("/patients/{patient_id:uuid}", name="patients:update", guards=WRITE, opt=PHI, tags=TAGS)
async def update_patient(
    patient_id: FromPath[uuid.UUID], data: JSONBody[s.PatientUpdate], db_session: DbSession
) -> s.PatientOut:
    patient = await services.update_patient(db_session, patient_id, data)
    out = await services.patient_out(db_session, patient)
    await db_session.commit()
    return out


@post(
    "/patients/{patient_id:uuid}/inactivate",
    name="patients:inactivate",
    guards=WRITE,
    opt=PHI,
    tags=TAGS,
    status_code=200,
)
async def inactivate_patient(
    patient_id: FromPath[uuid.UUID], db_session: DbSession, data: JSONBody[s.InactivateIn | None] = None
) -> s.PatientOut:
    patient = await services.inactivate_patient(db_session, patient_id, data.reason if data else None)
    out = await services.patient_out(db_session, patient)
    await db_session.commit()
    return out


@post(
    "/patients/{patient_id:uuid}/merge",
    name="patients:merge",
    guards=WRITE,
    opt=PHI,
    tags=TAGS,
    status_code=200,
)
async def merge_patient(
    patient_id: FromPath[uuid.UUID], data: JSONBody[s.MergeIn], db_session: DbSession
) -> s.MergeOut:
    """Merge this (duplicate) patient into ``into``, the record to keep."""
    result = await services.merge_patients(db_session, patient_id, data.into)
    out = s.MergeOut(
        survivor=await services.patient_out(db_session, result.survivor),
        merged=s.to_out(s.PatientSummary, result.merged),
        moved=result.moved,
        coverages_inactivated=result.coverages_inactivated,
    )
    await db_session.commit()
    return out


def _record_routes(kind: services.Kind, create_type: type, update_type: type) -> list:
    path = f"/patients/{{patient_id:uuid}}/{kind.name}"
    out_type = kind.out
    read_guard = [requires(kind.permission, "read")]
    add_guard = [requires(kind.permission, kind.add_action)]
    write_guard = [requires(kind.permission, "write")]

    @get(path, name=f"patients:{kind.name}:list", guards=read_guard, opt=PHI, tags=TAGS)
    async def list_records(
        patient_id: FromPath[uuid.UUID], db_session: DbSession, status: FromQuery[str | None] = None
    ) -> list[out_type]:
        rows = await services.list_records(db_session, kind, patient_id, status)
        await db_session.commit()
        return [s.to_out(out_type, row) for row in rows]

    @post(path, name=f"patients:{kind.name}:create", guards=add_guard, opt=PHI, tags=TAGS)
    async def add_record(
        request: Request, patient_id: FromPath[uuid.UUID], data: JSONBody[create_type], db_session: DbSession
    ) -> out_type:
        reported_only = kind.add_action != "write" and not may(request, kind.permission, "write")
        row = await services.add_record(db_session, kind, patient_id, data, reported_only=reported_only)
        out = s.to_out(out_type, row)
        await db_session.commit()
        return out

    @patch(
        path + "/{record_id:uuid}",
        name=f"patients:{kind.name}:update",
        guards=write_guard,
        opt=PHI,
        tags=TAGS,
    )
    async def update_record(
        patient_id: FromPath[uuid.UUID],
        record_id: FromPath[uuid.UUID],
        data: JSONBody[update_type],
        db_session: DbSession,
    ) -> out_type:
        row = await services.update_record(db_session, kind, patient_id, record_id, data)
        out = s.to_out(out_type, row)
        await db_session.commit()
        return out

    return [list_records, add_record, update_record]


@get("/icd10", name="patients:icd10", guards=READ, tags=["icd10"])
async def search_icd10(
    q: Annotated[
        str,
        QueryParameter(min_length=1, max_length=100, description="code prefix (M54.5) or words (low back)"),
    ],
) -> list[s.Icd10Code]:
    """Up to 20 billable ICD-10-CM codes by code prefix or by words of the description."""
    return [s.Icd10Code(code=c.code, description=c.description) for c in await icd10.search(q)]


router = Router(
    path="/api",
    route_handlers=[
        search_patients,
        create_patient,
        read_patient,
        update_patient,
        inactivate_patient,
        merge_patient,
        *_record_routes(services.KINDS["contacts"], s.ContactIn, s.ContactUpdate),
        *_record_routes(services.KINDS["coverages"], s.CoverageIn, s.CoverageUpdate),
        *_record_routes(services.KINDS["allergies"], s.AllergyIn, s.AllergyUpdate),
        *_record_routes(services.KINDS["problems"], s.ProblemIn, s.ProblemUpdate),
        *_record_routes(services.KINDS["medications"], s.MedicationIn, s.MedicationUpdate),
        search_icd10,
    ],
    exception_handlers={PatientError: _patient_error, ValidationException: _validation_error},
)

ROUTES: list = [router]
