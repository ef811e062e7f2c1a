"""JSON shapes of the patients API (msgspec structs; Litestar validates requests against
them and describes them in the OpenAPI schema at ``/schema``).

Create bodies list required fields without defaults; update (PATCH) bodies default every
field to ``UNSET`` so only what the client sends changes (``null`` clears an optional field).
Rules a type cannot express (dates in the future, end before start, blank names, ICD-10
codes) are checked in ``services`` and answered 422 with the field's name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Name = Annotated[str, Meta(min_length=1, max_length=100)]
ShortText = Annotated[str, Meta(max_length=200)]
LongText = Annotated[str, Meta(max_length=2000)]
Phone = Annotated[str, Meta(max_length=40, pattern=r"^[0-9+()\-. x]*$")]
Email = Annotated[str, Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Country = Annotated[str, Meta(pattern=r"^[A-Za-z]{2}$")]
PostalCode = Annotated[str, Meta(max_length=20)]
Language = Annotated[str, Meta(max_length=35)]
Code = Annotated[str, Meta(min_length=1, max_length=10)]

SexAtBirth = Literal["F", "M", "X", "unknown"]
PatientStatus = Literal["active", "inactive"]
RecordStatus = Literal["active", "inactive"]
AllergyStatus = Literal["active", "inactive", "resolved"]
Severity = Literal["mild", "moderate", "severe"]
#: "patient-reported": recorded at intake from what the patient said, for a clinician to confirm
AllergyVerification = Literal["confirmed", "patient-reported"]
ProblemStatus = Literal["active", "inactive", "resolved"]
MedicationStatus = Literal["active", "inactive", "completed"]
Priority = Literal["primary", "secondary", "tertiary"]
Relationship = Literal["self", "spouse", "child", "other"]


class Forbid(Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not ignored."""


# -- patients ---------------------------------------------------------------------------------


class ContactIn(Forbid):
    name: Name
    relationship: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None
    is_emergency: bool = True


class PatientCreate(Forbid):
    given_name: Name
    family_name: Name
    birth_date: dt.date
    middle_name: Name | None = None
    preferred_name: Name | None = None
    sex_at_birth: SexAtBirth = "unknown"
    gender_identity: ShortText | None = None
    pronouns: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None
    address_line1: ShortText | None = None
    address_line2: ShortText | None = None
    city: ShortText | None = None
    state: ShortText | None = None
    postal_code: PostalCode | None = None
    country: Country | None = None
    preferred_language: Language | None = None
    emergency_contacts: list[ContactIn] = msgspec.field(default_factory=list)
    #: create even though a patient with the same name and birth date exists
    confirm_duplicate: bool = False


class PatientUpdate(Forbid):
    given_name: Name | UnsetType = UNSET
    family_name: Name | UnsetType = UNSET
    birth_date: dt.date | UnsetType = UNSET
    middle_name: Name | UnsetType | None = UNSET
    preferred_name: Name | UnsetType | None = UNSET
    sex_at_birth: SexAtBirth | UnsetType = UNSET
    gender_identity: ShortText | UnsetType | None = UNSET
    pronouns: ShortText | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    email: Email | UnsetType | None = UNSET
    address_line1: ShortText | UnsetType | None = UNSET
    address_line2: ShortText | UnsetType | None = UNSET
    city: ShortText | UnsetType | None = UNSET
    state: ShortText | UnsetType | None = UNSET
    postal_code: PostalCode | UnsetType | None = UNSET
    country: Country | UnsetType | None = UNSET
    preferred_language: Language | UnsetType | None = UNSET
    #: "inactive" retires the record (like /inactivate), "active" brings it back
    status: PatientStatus | UnsetType = UNSET


class InactivateIn(Forbid):
    reason: LongText | None = None


class MergeIn(Forbid):
    #: the surviving patient's id
    into: uuid.UUID


class ContactOut(Struct, kw_only=True):
    id: uuid.UUID
    patient_id: uuid.UUID
    name: str
    relationship: str | None
    phone: str | None
    email: str | None
    is_emergency: bool
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PatientSummary(Struct, kw_only=True):
    id: uuid.UUID
    mrn: str
    given_name: str
    middle_name: str | None
    family_name: str
    preferred_name: str | None
    birth_date: dt.date
    sex_at_birth: str
    status: str
    merged_into_id: uuid.UUID | None


class PatientOut(PatientSummary, kw_only=True):
    gender_identity: str | None
    pronouns: str | None
    phone: str | None
    email: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    preferred_language: str | None
    inactive_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    emergency_contacts: list[ContactOut] = msgspec.field(default_factory=list)


class PatientPage(Struct, kw_only=True):
    items: list[PatientSummary]
    total: int
    limit: int
    offset: int
    has_more: bool


class MergeOut(Struct, kw_only=True):
    survivor: PatientOut
    merged: PatientSummary
    #: rows moved to the survivor, per kind
    moved: dict[str, int]
    #: active coverages of the duplicate whose priority the survivor already held: moved
    #: but inactivated (at most one active coverage per priority)
    coverages_inactivated: list[uuid.UUID]


# -- sub-resources ----------------------------------------------------------------------------


class ContactUpdate(Forbid):
    name: Name | UnsetType = UNSET
    relationship: ShortText | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    email: Email | UnsetType | None = UNSET
    is_emergency: bool | UnsetType = UNSET
    status: RecordStatus | UnsetType = UNSET


class CoverageIn(Forbid):
    payer_name: Name
    member_id: Annotated[str, Meta(min_length=1, max_length=64)]
    plan_name: ShortText | None = None
    group_number: Annotated[str, Meta(max_length=64)] | None = None
    subscriber_name: ShortText | None = None
    subscriber_birth_date: dt.date | None = None
    relationship: Relationship = "self"
    priority: Priority = "primary"
    effective_start: dt.date | None = None
    effective_end: dt.date | None = None


class CoverageUpdate(Forbid):
    payer_name: Name | UnsetType = UNSET
    member_id: Annotated[str, Meta(min_length=1, max_length=64)] | UnsetType = UNSET
    plan_name: ShortText | UnsetType | None = UNSET
    group_number: Annotated[str, Meta(max_length=64)] | UnsetType | None = UNSET
    subscriber_name: ShortText | UnsetType | None = UNSET
    subscriber_birth_date: dt.date | UnsetType | None = UNSET
    relationship: Relationship | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    effective_start: dt.date | UnsetType | None = UNSET
    effective_end: dt.date | UnsetType | None = UNSET
    status: RecordStatus | UnsetType = UNSET


class CoverageOut(Struct, kw_only=True):
    id: uuid.UUID
    patient_id: uuid.UUID
    payer_name: str
    plan_name: str | None
    member_id: str
    group_number: str | None
    subscriber_name: str | None
    subscriber_birth_date: dt.date | None
    relationship: str
    priority: str
    effective_start: dt.date | None
    effective_end: dt.date | None
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class AllergyIn(Forbid):
    substance: Name
    reaction: ShortText | None = None
    severity: Severity | None = None
    status: AllergyStatus = "active"
    #: forced to "patient-reported" when the caller may only report allergies (front desk)
    verification: AllergyVerification = "confirmed"


class AllergyUpdate(Forbid):
    substance: Name | UnsetType = UNSET
    reaction: ShortText | UnsetType | None = UNSET
    severity: Severity | UnsetType | None = UNSET
    status: AllergyStatus | UnsetType = UNSET
    verification: AllergyVerification | UnsetType = UNSET


class AllergyOut(Struct, kw_only=True):
    id: uuid.UUID
    patient_id: uuid.UUID
    substance: str
    reaction: str | None
    severity: str | None
    status: str
    verification: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ProblemIn(Forbid):
    #: a billable ICD-10-CM code, dot optional (``M54.50`` or ``M5450``)
    code: Code
    onset_date: dt.date | None = None
    note: LongText | None = None
    status: ProblemStatus = "active"


class ProblemUpdate(Forbid):
    code: Code | UnsetType = UNSET
    onset_date: dt.date | UnsetType | None = UNSET
    note: LongText | UnsetType | None = UNSET
    status: ProblemStatus | UnsetType = UNSET


class ProblemOut(Struct, kw_only=True):
    id: uuid.UUID
    patient_id: uuid.UUID
    code: str
    description: str
    onset_date: dt.date | None
    note: str | None
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class MedicationIn(Forbid):
    name: Name
    dose: ShortText | None = None
    route: ShortText | None = None
    frequency: ShortText | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    status: MedicationStatus = "active"


class MedicationUpdate(Forbid):
    name: Name | UnsetType = UNSET
    dose: ShortText | UnsetType | None = UNSET
    route: ShortText | UnsetType | None = UNSET
    frequency: ShortText | UnsetType | None = UNSET
    start_date: dt.date | UnsetType | None = UNSET
    end_date: dt.date | UnsetType | None = UNSET
    status: MedicationStatus | UnsetType = UNSET


class MedicationOut(Struct, kw_only=True):
    id: uuid.UUID
    patient_id: uuid.UUID
    name: str
    dose: str | None
    route: str | None
    frequency: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class Icd10Code(Struct, kw_only=True):
    code: str
    description: str


def to_out(out_type: type[Struct], row, **extra) -> Struct:
    """Build an output struct from an ORM row (its fields read by name)."""
    values = {name: getattr(row, name) for name in out_type.__struct_fields__ if name not in extra}
    values.update(extra)
    return out_type(**values)


def changes(update: Struct) -> dict:
    """The fields a PATCH body actually sent."""
    return {name: value for name in update.__struct_fields__ if (value := getattr(update, name)) is not UNSET}
