"""The "Notes to sign" entries of "My work": the signed-in user's own drafts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.audit.record import record
from core.notes.models import DRAFT, ClinicalNote
from core.patients.models import Patient
from core.plugins.types import WorkItem

KIND = "Notes to sign"


async def drafts_to_sign(principal: Any, session: Any, request: Any) -> list[WorkItem]:
    """One entry per draft the user wrote, due from when it was started. The entries name
    the patient, so the listing is audited (the page commits it)."""
    if principal is None or principal.tenant_id is None:
        return []
    templates = request.app.state.note_templates if request is not None else {}
    rows = (
        await session.execute(
            select(ClinicalNote, Patient.given_name, Patient.family_name)
            .join(Patient, Patient.id == ClinicalNote.patient_id)
            .where(ClinicalNote.author_user_id == principal.user_id, ClinicalNote.status == DRAFT)
            .order_by(ClinicalNote.created_at)
        )
    ).all()
    by_patient: dict = {}
    items = []
    for note, given, family in rows:
        template = templates.get((note.template_key, note.template_version))
        title = template.title if template else note.template_key
        items.append(
            WorkItem(
                title=f"{title}: {given} {family}",
                href=f"/patients/{note.patient_id}",
                kind=KIND,
                due=note.created_at,
                detail=f"draft, version {note.version}",
            )
        )
        by_patient.setdefault(note.patient_id, []).append(str(note.id))
    for patient_id, ids in by_patient.items():
        await record(
            session,
            action="read",
            resource_type="core:notes",
            resource_id=ids[0] if len(ids) == 1 else None,
            patient_id=patient_id,
            detail={"note_ids": ids, "via": "worklist"},
        )
    return items
