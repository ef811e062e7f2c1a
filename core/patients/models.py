"""Tables of the patient record. Every table is tenant-owned: ``tenant_id`` leads the
primary key and every foreign key (the migration forces row-level security on each).

Clinical rows are never deleted: they carry a ``status`` and are inactivated instead;
a duplicate patient is merged (its rows move to the survivor, it keeps ``merged_into_id``).

``sex_at_birth`` uses a small set modelled on HL7 v2 administrative sex (table 0001) and
FHIR ``AdministrativeGender``: ``F`` female, ``M`` male, ``X`` another sex / intersex
(HL7 ``O``/``A``), ``unknown`` not known or not recorded (HL7 ``U``). Gender identity and
pronouns are separate free-text fields.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from core.db.base import Base, TenantModel, TenantScoped, Timestamps
from core.patients.search import normalize

SEX_AT_BIRTH = ("F", "M", "X", "unknown")
PATIENT_STATUSES = ("active", "inactive")
RECORD_STATUSES = ("active", "inactive")
ALLERGY_STATUSES = ("active", "inactive", "resolved")
#: who vouches for an allergy: a clinician, or only the patient's own report at intake
ALLERGY_VERIFICATIONS = ("confirmed", "patient-reported")
ALLERGY_SEVERITIES = ("mild", "moderate", "severe")
PROBLEM_STATUSES = ("active", "inactive", "resolved")
MEDICATION_STATUSES = ("active", "inactive", "completed")
COVERAGE_PRIORITIES = ("primary", "secondary", "tertiary")
SUBSCRIBER_RELATIONSHIPS = ("self", "spouse", "child", "other")

#: MRNs are the per-tenant counter plus this offset: the first patient is "100001".
MRN_OFFSET = 100000


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _patient_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "patient_id"], ["patients.tenant_id", "patients.id"], name=f"fk_{table}_patient"
    )


class MrnCounter(TenantScoped, Base):
    """One row per tenant: the last MRN number handed out (bumped by an upsert with
    ``RETURNING``; the row lock makes concurrent creates take turns, and a rolled-back
    create gives its number back)."""

    __tablename__ = "patient_mrn_counters"

    last_value: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Patient(Timestamps, TenantModel):
    __tablename__ = "patients"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "merged_into_id"],
            ["patients.tenant_id", "patients.id"],
            name="fk_patients_merged_into",
        ),
        CheckConstraint(_in("sex_at_birth", SEX_AT_BIRTH), name="sex_at_birth_known"),
        CheckConstraint(_in("status", PATIENT_STATUSES), name="status_known"),
        CheckConstraint("merged_into_id IS NULL OR status = 'inactive'", name="merged_is_inactive"),
        Index("uq_patients_mrn", "tenant_id", "mrn", unique=True),
        Index(
            "ix_patients_family_given",
            "tenant_id",
            text("family_norm text_pattern_ops"),
            text("given_norm text_pattern_ops"),
        ),
        Index("ix_patients_given", "tenant_id", text("given_norm text_pattern_ops")),
        Index("ix_patients_preferred", "tenant_id", text("preferred_norm text_pattern_ops")),
        Index("ix_patients_birth_date", "tenant_id", "birth_date"),
    )

    mrn: Mapped[str] = mapped_column(String(32))
    given_name: Mapped[str] = mapped_column(Text)
    middle_name: Mapped[str | None] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    preferred_name: Mapped[str | None] = mapped_column(Text)
    birth_date: Mapped[dt.date] = mapped_column()
    sex_at_birth: Mapped[str] = mapped_column(String(8), default="unknown", server_default="unknown")
    gender_identity: Mapped[str | None] = mapped_column(Text)
    pronouns: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    address_line1: Mapped[str | None] = mapped_column(Text)
    address_line2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    preferred_language: Mapped[str | None] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    inactive_reason: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column()
    # -- search columns, kept by the ORM (``normalize``) -------------------------------------
    family_norm: Mapped[str] = mapped_column(Text, default="")
    given_norm: Mapped[str] = mapped_column(Text, default="")
    preferred_norm: Mapped[str] = mapped_column(Text, default="")

    @validates("family_name", "given_name", "preferred_name")
    def _keep_search_columns(self, key: str, value: str | None) -> str | None:
        setattr(self, key.replace("_name", "_norm"), normalize(value))
        return value


class PatientContact(Timestamps, TenantModel):
    """An emergency (or other) contact of a patient."""

    __tablename__ = "patient_contacts"
    __table_args__ = (
        _patient_fk("patient_contacts"),
        CheckConstraint(_in("status", RECORD_STATUSES), name="status_known"),
        Index("ix_patient_contacts_patient", "tenant_id", "patient_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(Text)
    relationship: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    is_emergency: Mapped[bool] = mapped_column(default=True, server_default="true")
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


class PatientCoverage(Timestamps, TenantModel):
    """An insurance coverage. At most one *active* coverage per priority per patient."""

    __tablename__ = "patient_coverages"
    __table_args__ = (
        _patient_fk("patient_coverages"),
        CheckConstraint(_in("status", RECORD_STATUSES), name="status_known"),
        CheckConstraint(_in("priority", COVERAGE_PRIORITIES), name="priority_known"),
        CheckConstraint(_in("relationship", SUBSCRIBER_RELATIONSHIPS), name="relationship_known"),
        CheckConstraint(
            "effective_end IS NULL OR effective_start IS NULL OR effective_end >= effective_start",
            name="dates_ordered",
        ),
        Index("ix_patient_coverages_patient", "tenant_id", "patient_id"),
        Index(
            "uq_patient_coverages_active_priority",
            "tenant_id",
            "patient_id",
            "priority",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    payer_name: Mapped[str] = mapped_column(Text)
    plan_name: Mapped[str | None] = mapped_column(Text)
    member_id: Mapped[str] = mapped_column(String(64))
    group_number: Mapped[str | None] = mapped_column(String(64))
    subscriber_name: Mapped[str | None] = mapped_column(Text)
    subscriber_birth_date: Mapped[dt.date | None] = mapped_column()
    relationship: Mapped[str] = mapped_column(String(16), default="self", server_default="self")
    priority: Mapped[str] = mapped_column(String(16), default="primary", server_default="primary")
    effective_start: Mapped[dt.date | None] = mapped_column()
    effective_end: Mapped[dt.date | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


class PatientAllergy(Timestamps, TenantModel):
    __tablename__ = "patient_allergies"
    __table_args__ = (
        _patient_fk("patient_allergies"),
        CheckConstraint(_in("status", ALLERGY_STATUSES), name="status_known"),
        CheckConstraint(f"severity IS NULL OR {_in('severity', ALLERGY_SEVERITIES)}", name="severity_known"),
        CheckConstraint(_in("verification", ALLERGY_VERIFICATIONS), name="verification_known"),
        Index("ix_patient_allergies_patient", "tenant_id", "patient_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    substance: Mapped[str] = mapped_column(Text)
    reaction: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    verification: Mapped[str] = mapped_column(String(16), default="confirmed", server_default="confirmed")


class PatientProblem(Timestamps, TenantModel):
    """A problem-list entry coded in ICD-10-CM (a billable code, stored with its dot and
    the code set's description at the time of entry)."""

    __tablename__ = "patient_problems"
    __table_args__ = (
        _patient_fk("patient_problems"),
        CheckConstraint(_in("status", PROBLEM_STATUSES), name="status_known"),
        Index("ix_patient_problems_patient", "tenant_id", "patient_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    code: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text)
    onset_date: Mapped[dt.date | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


class PatientMedication(Timestamps, TenantModel):
    __tablename__ = "patient_medications"
    __table_args__ = (
        _patient_fk("patient_medications"),
        CheckConstraint(_in("status", MEDICATION_STATUSES), name="status_known"),
        CheckConstraint(
            "end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="dates_ordered"
        ),
        Index("ix_patient_medications_patient", "tenant_id", "patient_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(Text)
    dose: Mapped[str | None] = mapped_column(Text)
    route: Mapped[str | None] = mapped_column(Text)
    frequency: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[dt.date | None] = mapped_column()
    end_date: Mapped[dt.date | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


#: Rows that belong to a patient and move with it when duplicates are merged.
CHILD_MODELS = (PatientContact, PatientCoverage, PatientAllergy, PatientProblem, PatientMedication)
