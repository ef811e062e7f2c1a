"""JSON API of clinical notes (``core:notes``: read, write, sign). Notes are PHI: every
handler is marked ``opt={"phi": True}`` and audits each read or change, with the patient,
in the same transaction as the access."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, patch, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core.audit.lookup import find_or_404
from core.audit.record import record
from core.authz.guards import may, requires
from core.notes import services
from core.notes.models import ClinicalNote
from core.patients.models import Patient
from core.plugin_api import DbSession
from core.web.accessors import request_principal
from core.web.inputs import parse_uuid

READ = [requires("core:notes", "read")]
WRITE = [requires("core:notes", "write")]
SIGN = [requires("core:notes", "sign")]
PHI = {"phi": True}
RESOURCE = "core:notes"


def _templates(request: Request) -> dict:
    return request.app.state.note_templates


def _may_write(request: Request, template) -> None:
    """A template may ask for a permission of its plugin besides ``core:notes``."""
    if template.permission != RESOURCE and not may(request, template.permission, "write"):
        raise PermissionDeniedException(detail=f"Your role does not allow writing {template.title} notes.")


async def _find(db_session: DbSession, note_id: uuid.UUID, *, for_update: bool = False) -> ClinicalNote:
    return await find_or_404(
        db_session, ClinicalNote, note_id, resource_type=RESOURCE, noun="note", for_update=for_update
    )


@get("/api/notes", name="core:api-notes", guards=READ, opt=PHI)
async def list_notes(
    request: Request, db_session: DbSession, patient_id: FromQuery[str | None] = None
) -> dict:
    """The patient's notes (``patient_id`` required), oldest first, addenda not included."""
    if not patient_id:
        raise services.invalid("patient_id", "required")
    pid = parse_uuid(patient_id)
    if pid is None:
        raise services.invalid("patient_id", "must be an id (a UUID)")
    await find_or_404(db_session, Patient, pid, resource_type="core:patients", noun="patient")
    notes = list(
        await db_session.scalars(
            select(ClinicalNote)
            .where(ClinicalNote.patient_id == pid)
            .order_by(ClinicalNote.created_at, ClinicalNote.id)
        )
    )
    ids = [str(n.id) for n in notes]
    await record(
        db_session,
        action="read",
        resource_type=RESOURCE,
        resource_id=ids[0] if len(ids) == 1 else None,
        patient_id=pid,
        detail={"note_ids": ids, "via": "list"},
    )
    await db_session.commit()
    return {"items": [services.note_json(n, _templates(request)) for n in notes], "total": len(notes)}


@post("/api/notes", name="core:api-create-note", guards=WRITE, opt=PHI)
async def create_note(request: Request, db_session: DbSession, data: JSONBody[Any]) -> dict:
    """A draft note (201): ``patient_id``, ``encounter_id`` (optional), ``template`` (key,
    its newest version unless ``template_version``), ``content``, ``service_lines``."""
    values = services.read_create(data)
    template = services.find_template(_templates(request), values["template"], values["template_version"])
    _may_write(request, template)
    await find_or_404(
        db_session, Patient, values["patient_id"], resource_type="core:patients", noun="patient"
    )
    if values["encounter_id"] is not None:
        await services.check_encounter(db_session, values["patient_id"], values["encounter_id"])
    note = await services.create_note(db_session, template, values, request_principal(request).user_id)
    await record(
        db_session,
        action="create",
        resource_type=RESOURCE,
        resource_id=note.id,
        patient_id=note.patient_id,
        detail={"template": template.key, "template_version": template.version},
    )
    await db_session.commit()
    return services.note_json(note, _templates(request), [])


@get("/api/notes/{note_id:uuid}", name="core:api-note", guards=READ, opt=PHI)
async def show_note(request: Request, db_session: DbSession, note_id: FromPath[uuid.UUID]) -> dict:
    note = await _find(db_session, note_id)
    addenda = await services.addenda_of(db_session, note.id)
    await record(
        db_session, action="read", resource_type=RESOURCE, resource_id=note.id, patient_id=note.patient_id
    )
    await db_session.commit()
    return services.note_json(note, _templates(request), addenda)


@patch("/api/notes/{note_id:uuid}", name="core:api-update-note", guards=WRITE, opt=PHI)
async def update_note(
    request: Request, db_session: DbSession, note_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Save a draft: ``version`` (the one loaded; an older one is a 409) with ``content``
    and/or ``service_lines`` (each replaced whole). A signed note answers 409."""
    values = services.read_update(data)
    note = await _find(db_session, note_id, for_update=True)
    services.check_editable(note, values["version"])
    template = services.installed_template(_templates(request), note)
    _may_write(request, template)
    changed = await services.update_note(db_session, template, note, values)
    await record(
        db_session,
        action="update",
        resource_type=RESOURCE,
        resource_id=note.id,
        patient_id=note.patient_id,
        detail={"fields": changed, "version": note.version},
    )
    await db_session.commit()
    return services.note_json(note, _templates(request), await services.addenda_of(db_session, note.id))


@post("/api/notes/{note_id:uuid}/sign", name="core:api-sign-note", guards=SIGN, opt=PHI, status_code=200)
async def sign_note(
    request: Request, db_session: DbSession, note_id: FromPath[uuid.UUID], data: JSONBody[Any] = None
) -> dict:
    """Sign a draft (its author only); ``{"version": n}`` optionally checks it is the one
    read. Stores the SHA-256 of the canonical content and the signer; publishes
    ``core.note_signed`` (and ``core.services_ready_to_bill``). Signing twice is a 409."""
    reader = services.NoteReader(data if data is not None else {}, allowed={"version"})
    version = reader.integer("version", low=1, high=2**31 - 1)
    reader.raise_if_any()
    note = await _find(db_session, note_id, for_update=True)
    if note.status == "signed":
        raise services.Conflict(detail="This note is already signed; add an addendum instead.")
    services.check_editable(note, version)
    template = services.installed_template(_templates(request), note)
    signer = request_principal(request).user_id
    if note.author_user_id != signer:
        raise PermissionDeniedException(detail="Only the note's author can sign it.")
    await services.sign_note(db_session, template, note, signer)
    await record(
        db_session,
        action="update",
        resource_type=RESOURCE,
        resource_id=note.id,
        patient_id=note.patient_id,
        detail={
            "status": ["draft", "signed"],
            "content_sha256": note.content_sha256,
            "late_entry": note.late_entry,
        },
    )
    await db_session.commit()
    return services.note_json(note, _templates(request), [])


@post("/api/notes/{note_id:uuid}/addenda", name="core:api-note-addenda", guards=SIGN, opt=PHI)
async def add_addendum(
    request: Request, db_session: DbSession, note_id: FromPath[uuid.UUID], data: JSONBody[Any]
) -> dict:
    """Add a signed addendum (``{"text"}``) to a signed note (201); a draft answers 409."""
    note = await _find(db_session, note_id)
    addendum = await services.add_addendum(db_session, note, data, request_principal(request).user_id)
    await record(
        db_session,
        action="create",
        resource_type=RESOURCE,
        resource_id=note.id,
        patient_id=note.patient_id,
        detail={"addendum_id": str(addendum.id), "content_sha256": addendum.content_sha256},
    )
    await db_session.commit()
    return services.addendum_json(addendum)


ROUTES = [list_notes, create_note, show_note, update_note, sign_note, add_addendum]
