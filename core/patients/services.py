"""What the patients API does, independent of HTTP (the HTML pages reuse it).

Every PHI read and write records an audit event in the caller's transaction, which the
caller commits with the change. Looking up a patient that does not exist in the current
tenant (another clinic's id, a typo) records a failed read and commits it before raising
:class:`NotFoundError`, so the attempt is kept although the request fails.

Errors are raised as :class:`InputError` (field + what is wrong: 422), :class:`ConflictError`
(409) and :class:`NotFoundError` (404); ``routes`` turns them into responses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import false, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import build_event, event_params, insert_event_per_row, record
from core.db import hot
from core.db.base import utcnow
from core.patients import icd10
from core.patients import schemas as s
from core.patients.models import (
    CHILD_MODELS,
    MRN_OFFSET,
    MrnCounter,
    Patient,
    PatientAllergy,
    PatientContact,
    PatientCoverage,
    PatientMedication,
    PatientProblem,
)
from core.patients.search import name_condition, normalize, parse_query
from core.tenancy.context import require_tenant_id
from core.web.inputs import date_problem

MAX_LIMIT = 100
OLDEST_BIRTH_DATE = dt.date(1900, 1, 1)


class PatientError(Exception):
    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class InputError(PatientError):
    """Input that is well-formed but not acceptable: 422, naming the field."""

    status_code = 422

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}", extra={"field": field_name})
        self.field = field_name


class ConflictError(PatientError):
    status_code = 409


class BadRequestError(PatientError):
    status_code = 400


class NotFoundError(PatientError):
    status_code = 404


# -- helpers --------------------------------------------------------------------------------


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _clean(values: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Strip strings; a blank optional string becomes None, a blank required one is an error."""
    cleaned = {}
    for name, value in values.items():
        if isinstance(value, str):
            value = value.strip()
            if not value:
                if name in required:
                    raise InputError(name, "must not be blank")
                value = None
        cleaned[name] = value
    return cleaned


def _not_future(name: str, value: dt.date | None) -> None:
    if value is not None and value > _today():
        raise InputError(name, f"{value.isoformat()} is in the future")


def _ordered(start_name: str, start, end_name: str, end) -> None:
    if start is not None and end is not None and end < start:
        raise InputError(end_name, f"must be on or after {start_name} ({start.isoformat()})")


def _dates_in_range(values: dict[str, Any]) -> None:
    """Every date of a body lies in the years the API accepts (``core.web.inputs``)."""
    for name, value in values.items():
        if isinstance(value, dt.date) and (problem := date_problem(value)):
            raise InputError(name, f"{value.isoformat()}: {problem}")


def _check_birth_date(value: dt.date | None) -> None:
    _not_future("birth_date", value)
    if value is not None and value < OLDEST_BIRTH_DATE:
        raise InputError("birth_date", f"{value.isoformat()} is before {OLDEST_BIRTH_DATE.isoformat()}")


async def allocate_mrn(session: AsyncSession) -> str:
    """The tenant's next MRN: ``UPDATE ... RETURNING`` on its counter row (created on first
    use). The row stays locked until the transaction ends, so concurrent creates get
    distinct, gapless numbers."""
    table = MrnCounter.__table__
    statement = (
        insert(table)
        .values(tenant_id=require_tenant_id(), last_value=1)
        .on_conflict_do_update(
            index_elements=[table.c.tenant_id], set_={"last_value": table.c.last_value + 1}
        )
        .returning(table.c.last_value)
    )
    value = (await session.execute(statement)).scalar_one()
    return str(MRN_OFFSET + value)


# -- patients -------------------------------------------------------------------------------


async def get_patient(
    session: AsyncSession, patient_id: uuid.UUID, *, attempted: str = "read", for_update: bool = False
) -> Patient:
    """The current tenant's patient, or a recorded failed read and :class:`NotFoundError`."""
    statement = select(Patient).where(Patient.id == patient_id)
    if for_update:
        statement = statement.with_for_update()
    patient = await session.scalar(statement)
    if patient is None:
        await _not_found(session, patient_id, attempted)
    return patient


async def _not_found(session: AsyncSession, patient_id: uuid.UUID, attempted: str) -> None:
    """Record the failed look-up, commit it, raise :class:`NotFoundError`."""
    await record(
        session,
        action="read",
        resource_type="patient",
        resource_id=patient_id,
        patient_id=patient_id,
        outcome="failure",
        reason="no such patient in this clinic",
        detail={"attempted": attempted},
    )
    await session.commit()
    raise NotFoundError("There is no patient with this id in this clinic.")


async def active_contacts(session: AsyncSession, patient_id: uuid.UUID) -> list[PatientContact]:
    rows = await session.scalars(
        select(PatientContact)
        .where(PatientContact.patient_id == patient_id, PatientContact.status == "active")
        .order_by(PatientContact.created_at, PatientContact.id)
    )
    return list(rows)


async def patient_out(
    session: AsyncSession, patient: Patient, contacts: list[PatientContact] | None = None
) -> s.PatientOut:
    """The API form of ``patient``; ``contacts``, when the caller has them (a patient just
    created), saves reading them back."""
    if contacts is None:
        contacts = await active_contacts(session, patient.id)
    return s.to_out(s.PatientOut, patient, emergency_contacts=[s.to_out(s.ContactOut, c) for c in contacts])


# The chart read is the hottest PHI read: the patient and its active contacts in one
# hand-written statement (core.db.hot), one row per contact (or one row without), columns
# taken from the output structs so the two cannot drift apart.
_PATIENT_FIELDS = [f for f in s.PatientOut.__struct_fields__ if f != "emergency_contacts"]
_CONTACT_FIELDS = list(s.ContactOut.__struct_fields__)
_READ_AND_AUDIT = hot.TenantSQL(
    "patient by id with its active contacts; its audit event when found",
    "WITH p AS (SELECT {} FROM patients WHERE tenant_id = $1 AND id = $2), "
    "ev AS ({}) "
    "SELECT p.*, {} FROM p LEFT JOIN patient_contacts c ON c.tenant_id = $1 "
    "AND c.patient_id = p.id AND c.status = 'active' ORDER BY c.created_at, c.id".format(
        ", ".join(_PATIENT_FIELDS),
        insert_event_per_row("p", first=3),
        ", ".join(f"c.{f} AS c_{f}" for f in _CONTACT_FIELDS),
    ),
)


async def read_patient(session: AsyncSession, patient_id: uuid.UUID) -> s.PatientOut:
    """The chart read: the patient with its active contacts, audited, in one statement
    (the audit row is inserted by the same statement, only when the patient is found)."""
    event = build_event(action="read", resource_type="patient", resource_id=patient_id, patient_id=patient_id)
    rows = await hot.fetch(session, _READ_AND_AUDIT, patient_id, *event_params(event))
    if not rows:
        await _not_found(session, patient_id, "read")
    first = rows[0]
    contacts = [
        s.ContactOut(**{f: row[f"c_{f}"] for f in _CONTACT_FIELDS}) for row in rows if row["c_id"] is not None
    ]
    return s.PatientOut(**{f: first[f] for f in _PATIENT_FIELDS}, emergency_contacts=contacts)


async def find_duplicates(
    session: AsyncSession, given: str, family: str, birth_date: dt.date
) -> list[Patient]:
    rows = await session.scalars(
        select(Patient)
        .where(
            Patient.family_norm == normalize(family),
            Patient.given_norm == normalize(given),
            Patient.birth_date == birth_date,
            Patient.merged_into_id.is_(None),
        )
        .order_by(Patient.mrn)
    )
    return list(rows)


PATIENT_REQUIRED = ("given_name", "family_name")


def _check_patient_values(values: dict[str, Any]) -> None:
    if "birth_date" in values:
        _check_birth_date(values["birth_date"])
    _dates_in_range(values)
    if values.get("country"):
        values["country"] = values["country"].upper()


async def create_patient(session: AsyncSession, data: s.PatientCreate) -> Patient:
    """A new patient with the clinic's next MRN (``patient.new_contacts``: the contacts
    created with it, in the order given)."""
    values = {n: getattr(data, n) for n in data.__struct_fields__}
    contacts = values.pop("emergency_contacts")
    confirm = values.pop("confirm_duplicate")
    values = _clean(values, PATIENT_REQUIRED)
    _check_patient_values(values)
    if not confirm:
        duplicates = await find_duplicates(
            session, values["given_name"], values["family_name"], values["birth_date"]
        )
        if duplicates:
            first = duplicates[0]
            for duplicate in duplicates:
                await record(
                    session,
                    action="read",
                    resource_type="patient",
                    resource_id=duplicate.id,
                    patient_id=duplicate.id,
                    detail={"duplicate_warning": True},
                )
            await session.commit()
            raise ConflictError(
                f"A patient with this name and birth date already exists (MRN {first.mrn}). "
                "Open that record, or send confirm_duplicate: true to create another.",
                extra={
                    "existing_id": str(first.id),
                    "existing_mrn": first.mrn,
                    "duplicates": [{"id": str(d.id), "mrn": d.mrn, "status": d.status} for d in duplicates],
                },
            )
    patient = Patient(mrn=await allocate_mrn(session), **values)
    session.add(patient)
    await session.flush()
    patient.new_contacts = [
        PatientContact(
            patient_id=patient.id,
            **_clean({n: getattr(contact, n) for n in contact.__struct_fields__}, ("name",)),
        )
        for contact in contacts
    ]
    session.add_all(patient.new_contacts)
    await session.flush()
    await record(
        session,
        action="create",
        resource_type="patient",
        resource_id=patient.id,
        patient_id=patient.id,
        detail={"confirmed_duplicate": True} if confirm else None,
    )
    return patient


async def update_patient(session: AsyncSession, patient_id: uuid.UUID, data: s.PatientUpdate) -> Patient:
    patient = await get_patient(session, patient_id, attempted="update", for_update=True)
    values = _clean(s.changes(data), PATIENT_REQUIRED)
    for name in ("given_name", "family_name", "birth_date", "sex_at_birth", "status"):
        if name in values and values[name] is None:
            raise InputError(name, "must not be null")
    _check_patient_values(values)
    if patient.merged_into_id is not None:
        raise ConflictError(
            f"This record was merged into another patient ({patient.merged_into_id}); change that one."
        )
    status = values.pop("status", None)
    changed = sorted(n for n, v in values.items() if getattr(patient, n) != v)
    for name, value in values.items():
        setattr(patient, name, value)
    if status is not None and status != patient.status:
        changed.append("status")
        patient.status = status
        patient.inactive_reason = None
    if changed:
        patient.updated_at = utcnow()
    await session.flush()
    await _record_patient_update(session, patient.id, {"fields": changed})
    return patient


async def _record_patient_update(
    session: AsyncSession, patient_id: uuid.UUID, detail: dict[str, Any]
) -> None:
    """The audit event of a change to a patient record (field names, never values)."""
    await record(
        session,
        action="update",
        resource_type="patient",
        resource_id=patient_id,
        patient_id=patient_id,
        detail=detail,
    )


async def inactivate_patient(session: AsyncSession, patient_id: uuid.UUID, reason: str | None) -> Patient:
    patient = await get_patient(session, patient_id, attempted="update", for_update=True)
    if patient.merged_into_id is not None:
        raise ConflictError(f"This record was already merged into patient {patient.merged_into_id}.")
    patient.status = "inactive"
    patient.inactive_reason = (reason or "").strip() or None
    patient.updated_at = utcnow()
    await session.flush()
    await _record_patient_update(session, patient.id, {"fields": ["status"], "inactivated": True})
    return patient


@dataclass
class SearchResult:
    items: list[Patient]
    total: int
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


async def search_patients(
    session: AsyncSession,
    *,
    q: str | None = None,
    birth_date: dt.date | None = None,
    mrn: str | None = None,
    status: str = "active",
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    """Patients matching everything given (see ``core.patients.search`` for ``q``), ordered
    by family and given name; records a ``patient_search`` read with the result count only
    (never the query: it is PHI)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError("limit", f"must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise InputError("offset", "must be 0 or more")
    if status not in ("active", "inactive", "any"):
        raise InputError("status", "must be active, inactive or any")
    if q is not None and len(q) > 200:
        raise InputError("q", "is too long (200 characters at most)")
    parsed = parse_query(q or "")
    if parsed.bad_date:
        raise InputError("q", f"{parsed.bad_date} is not a date; use YYYY-MM-DD")
    conditions = []
    if (q or "").strip() and not (parsed.has_name or parsed.birth_date or parsed.mrn):
        conditions.append(false())  # only punctuation typed: nothing can match
    if parsed.has_name:
        conditions.append(
            name_condition(parsed, Patient.family_norm, Patient.given_norm, Patient.preferred_norm)
        )
    for date in {d for d in (birth_date, parsed.birth_date) if d is not None}:
        conditions.append(Patient.birth_date == date)
    for number in {m.strip() for m in (mrn, parsed.mrn) if m and m.strip()}:
        conditions.append(Patient.mrn == number)
    if status != "any":
        conditions.append(Patient.status == status)
    # The page and the total in one statement (a window count over the matching rows); only
    # a page past the end needs the count on its own.
    rows = (
        await session.execute(
            select(Patient, func.count().over().label("total"))
            .where(*conditions)
            .order_by(Patient.family_norm, Patient.given_norm, Patient.birth_date, Patient.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    if rows:
        total = rows[0].total
    elif offset:
        total = await session.scalar(select(func.count()).select_from(Patient).where(*conditions)) or 0
    else:
        total = 0
    result = SearchResult(items=[row.Patient for row in rows], total=total, limit=limit, offset=offset)
    await record(
        session,
        action="read",
        resource_type="patient_search",
        detail={"results": len(result.items), "total": result.total},
    )
    return result


# -- merge ----------------------------------------------------------------------------------


@dataclass
class MergeResult:
    survivor: Patient
    merged: Patient
    moved: dict[str, int] = field(default_factory=dict)
    coverages_inactivated: list[uuid.UUID] = field(default_factory=list)


async def merge_patients(
    session: AsyncSession, duplicate_id: uuid.UUID, survivor_id: uuid.UUID
) -> MergeResult:
    """Merge the duplicate into the survivor: its contacts, coverages, allergies, problems
    and medications move to the survivor; it becomes inactive with ``merged_into_id``.
    Both records get an ``update`` audit event."""
    if duplicate_id == survivor_id:
        raise BadRequestError(
            "into: a patient cannot be merged into itself; give the id of the record to keep"
        )
    # Lock both rows in a fixed order, so two opposite merges cannot deadlock.
    for patient_id in sorted((duplicate_id, survivor_id)):
        await get_patient(session, patient_id, attempted="update", for_update=True)
    duplicate = await get_patient(session, duplicate_id)
    survivor = await get_patient(session, survivor_id)
    if duplicate.merged_into_id is not None:
        raise ConflictError(f"This record was already merged into patient {duplicate.merged_into_id}.")
    if survivor.status != "active":
        raise ConflictError(
            "into: the record to keep is inactive"
            + (" (it was merged into another)" if survivor.merged_into_id else "")
            + "; reactivate it or merge into an active record"
        )
    result = MergeResult(survivor=survivor, merged=duplicate)
    held = set(
        await session.scalars(
            select(PatientCoverage.priority).where(
                PatientCoverage.patient_id == survivor.id, PatientCoverage.status == "active"
            )
        )
    )
    clashing = await session.scalars(
        select(PatientCoverage).where(
            PatientCoverage.patient_id == duplicate.id,
            PatientCoverage.status == "active",
            PatientCoverage.priority.in_(held),
        )
    )
    for coverage in clashing:
        coverage.status = "inactive"
        coverage.updated_at = utcnow()
        result.coverages_inactivated.append(coverage.id)
    await session.flush()
    now = utcnow()
    for model in CHILD_MODELS:
        moved = await session.execute(
            update(model)
            .where(model.patient_id == duplicate.id)
            .values(patient_id=survivor.id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        result.moved[KIND_BY_MODEL[model]] = moved.rowcount
    duplicate.status = "inactive"
    duplicate.merged_into_id = survivor.id
    duplicate.inactive_reason = f"merged into MRN {survivor.mrn}"
    duplicate.updated_at = now
    survivor.updated_at = now
    await session.flush()
    # The bulk moves bypassed the identity map: reload what the answer shows.
    session.expire_all()
    await _record_patient_update(session, duplicate_id, {"merge": "merged_into", "into": str(survivor_id)})
    await _record_patient_update(
        session, survivor_id, {"merge": "survivor", "from": str(duplicate_id), "moved": result.moved}
    )
    result.survivor = await get_patient(session, survivor_id)
    result.merged = await get_patient(session, duplicate_id)
    return result


# -- sub-resources --------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of row that belongs to a patient (``/api/patients/{id}/<name>``)."""

    name: str
    model: type
    out: type
    resource_type: str
    required: tuple[str, ...]
    #: the permission object guarding these rows (minimum necessary: docs/security.md)
    permission: str
    #: the action that adds a row ("report" for allergies: the front desk's intake entry)
    add_action: str = "write"


KINDS = {
    k.name: k
    for k in (
        Kind("contacts", PatientContact, s.ContactOut, "patient_contact", ("name",), "core:patients"),
        Kind(
            "coverages",
            PatientCoverage,
            s.CoverageOut,
            "patient_coverage",
            ("payer_name", "member_id"),
            "core:coverage",
        ),
        Kind(
            "allergies",
            PatientAllergy,
            s.AllergyOut,
            "patient_allergy",
            ("substance",),
            "core:allergies",
            add_action="report",
        ),
        Kind("problems", PatientProblem, s.ProblemOut, "patient_problem", ("code",), "core:problems"),
        Kind(
            "medications",
            PatientMedication,
            s.MedicationOut,
            "patient_medication",
            ("name",),
            "core:medications",
        ),
    )
}
KIND_BY_MODEL = {k.model: k.name for k in KINDS.values()}


async def list_records(
    session: AsyncSession,
    kind: Kind,
    patient_id: uuid.UUID,
    status: str | None = None,
    *,
    patient_known: bool = False,
) -> list:
    """The patient's rows of ``kind``, audited. ``patient_known``: the caller has read the
    patient in this transaction already (the chart page), so its existence is not checked
    again."""
    if not patient_known:
        await get_patient(session, patient_id)
    statement = select(kind.model).where(kind.model.patient_id == patient_id)
    if status:
        statement = statement.where(kind.model.status == status)
    rows = list(
        await session.scalars(
            statement.order_by((kind.model.status != "active"), kind.model.created_at, kind.model.id)
        )
    )
    await record(
        session,
        action="read",
        resource_type=kind.resource_type,
        resource_id=patient_id,
        patient_id=patient_id,
        detail={"list": kind.name, "results": len(rows)},
    )
    return rows


async def _validate(session: AsyncSession, kind: Kind, row, values: dict[str, Any]) -> dict[str, Any]:
    """Checks beyond types, on the row's values after the change (``row`` None: a new one)."""

    def after(name):
        return values[name] if name in values else getattr(row, name, None)

    if kind.name == "coverages":
        _not_future("subscriber_birth_date", after("subscriber_birth_date"))
        _ordered("effective_start", after("effective_start"), "effective_end", after("effective_end"))
    elif kind.name == "medications":
        _ordered("start_date", after("start_date"), "end_date", after("end_date"))
    elif kind.name == "problems":
        _not_future("onset_date", after("onset_date"))
        if "code" in values:
            values.update(await validated_code(values["code"]))
    _dates_in_range(values)
    return values


async def validated_code(raw: str) -> dict[str, str]:
    """``{"code", "description"}`` for a billable ICD-10-CM code, else :class:`InputError`."""
    found = await icd10.lookup(raw)
    if found is not None:
        return {"code": found.code, "description": found.description}
    shown = raw.strip()[:10]
    children = await icd10.search(shown) if shown else []
    if children:
        sample = ", ".join(c.code for c in children[:5])
        raise InputError(
            "code",
            f"{shown} is not a billable ICD-10-CM code (it is a category with subcodes); "
            f"choose a complete code such as {sample}",
        )
    raise InputError("code", f"{shown} is not an ICD-10-CM code; search codes at /api/icd10?q=")


def _writable(patient: Patient) -> None:
    if patient.merged_into_id is not None:
        raise ConflictError(
            f"This record was merged into patient {patient.merged_into_id}; add to that record instead."
        )


async def _priority_free(session: AsyncSession, patient_id: uuid.UUID, priority: str, except_id=None) -> None:
    statement = select(PatientCoverage).where(
        PatientCoverage.patient_id == patient_id,
        PatientCoverage.status == "active",
        PatientCoverage.priority == priority,
    )
    if except_id is not None:
        statement = statement.where(PatientCoverage.id != except_id)
    existing = await session.scalar(statement)
    if existing is not None:
        raise ConflictError(
            f"priority: this patient already has an active {priority} coverage ({existing.payer_name}); "
            "inactivate it first or choose another priority",
            extra={"field": "priority", "existing_id": str(existing.id)},
        )


async def add_record(
    session: AsyncSession, kind: Kind, patient_id: uuid.UUID, data, *, reported_only: bool = False
) -> Any:
    """Add a row of ``kind``. ``reported_only``: the caller may only *report* (an allergy
    the patient states at intake); the row is stored as patient-reported, whatever was sent."""
    patient = await get_patient(session, patient_id, attempted="update", for_update=True)
    _writable(patient)
    values = _clean({n: getattr(data, n) for n in data.__struct_fields__}, kind.required)
    if reported_only:
        values["verification"] = "patient-reported"
    values = await _validate(session, kind, None, values)
    if kind.name == "coverages":
        await _priority_free(session, patient.id, values["priority"])
    row = kind.model(patient_id=patient.id, **values)
    session.add(row)
    await _flush_or_conflict(session)
    await record(
        session, action="create", resource_type=kind.resource_type, resource_id=row.id, patient_id=patient.id
    )
    return row


async def update_record(
    session: AsyncSession, kind: Kind, patient_id: uuid.UUID, record_id: uuid.UUID, data
) -> Any:
    patient = await get_patient(session, patient_id, attempted="update", for_update=True)
    _writable(patient)
    row = await session.scalar(
        select(kind.model)
        .where(kind.model.id == record_id, kind.model.patient_id == patient.id)
        .with_for_update()
    )
    if row is None:
        raise NotFoundError(f"This patient has no such {kind.resource_type.removeprefix('patient_')} record.")
    values = _clean(s.changes(data), kind.required)
    for name in (*kind.required, "status", "priority", "relationship", "is_emergency"):
        if name in values and values[name] is None:
            raise InputError(name, "must not be null")
    values = await _validate(session, kind, row, values)
    if kind.name == "coverages":
        status = values.get("status", row.status)
        priority = values.get("priority", row.priority)
        if status == "active" and (status != row.status or priority != row.priority):
            await _priority_free(session, patient.id, priority, except_id=row.id)
    changed = sorted(n for n, v in values.items() if getattr(row, n) != v)
    for name, value in values.items():
        setattr(row, name, value)
    if changed:
        row.updated_at = utcnow()
    await _flush_or_conflict(session)
    await record(
        session,
        action="update",
        resource_type=kind.resource_type,
        resource_id=row.id,
        patient_id=patient.id,
        detail={"fields": changed},
    )
    return row


async def _flush_or_conflict(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        # The partial unique index on active coverage priority, hit by a concurrent request.
        if "uq_patient_coverages_active_priority" in str(exc.orig):
            raise ConflictError(
                "priority: this patient already has an active coverage with this priority",
                extra={"field": "priority"},
            ) from None
        raise
